"""Pseudo-terminals: spawning shells on them, and Coder's reconnecting PTY.

A reconnecting PTY (the web terminal) outlives the websocket that opened it:
the shell keeps running while the browser reconnects, and a reconnect with the
same ID gets the same shell plus the output it missed, kept in a ring buffer.
Input arrives as Coder's JSON messages ``{"data", "height", "width"}``
concatenated on the stream; output leaves as raw bytes. As Coder's decoder
does, input that is not such messages (not an object, a size outside 0-65535,
``data`` not a string, more than MAX_INPUT bytes that never become one) ends
the stream rather than being kept or guessed at; the terminal stays for a
reconnect.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import subprocess
import termios
import threading
import time

from appliance.mux import Stream, StreamError, write_fd

from .env import user_shell

log = logging.getLogger(__name__)

RING_BYTES = 64 * 1024
IDLE_TIMEOUT = 300.0  # a reconnecting PTY nobody is attached to lives this long
MAX_INPUT = 4 * 1024 * 1024  # one message, as a websocket message to coderd may hold


class BadInput(ValueError):
    """Terminal input that is not Coder's messages."""


def _cut_short(exc: json.JSONDecodeError) -> bool:
    """Whether JSON that failed to parse may only be cut short (the rest of a message still
    on its way): it failed in an unterminated string, or within a literal's, number's or
    escape's length of the end. Anything else will never parse, whatever follows."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(exc.doc) - 6


def valid_size(n: object) -> bool:
    """A terminal's width or height as Coder's types hold it: 0-65535 (0: unchanged)."""
    return type(n) is int and 0 <= n < 1 << 16


def resize(fd: int, width: int, height: int) -> None:
    if width > 0 and height > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def spawn(argv: list[str], env: dict[str, str], cwd: str | None, width: int,
          height: int) -> tuple[subprocess.Popen, int]:
    """Start ``argv`` as the session leader of a new terminal; returns it and the master fd."""
    master, slave = os.openpty()
    resize(master, width, height)

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                cwd=cwd if cwd and os.path.isdir(cwd) else None,
                                start_new_session=True, preexec_fn=controlling_tty)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return proc, master


def read_master(fd: int) -> bytes:
    """The next output; b"" once the terminal is gone (Linux answers EIO)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


class ReconnectingPty:
    """One shell, its output ring and the streams currently attached to it."""

    def __init__(self, registry: "PtyRegistry", key: str, argv: list[str], env: dict[str, str],
                 cwd: str | None, width: int, height: int):
        self.registry = registry
        self.key = key
        self.proc, self.fd = spawn(argv, env, cwd, width, height)
        self.ring = bytearray()
        self.streams: set[Stream] = set()
        self.lock = threading.Lock()
        self.idle_since = time.monotonic()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while data := read_master(self.fd):
            with self.lock:
                self.ring += data
                del self.ring[:-RING_BYTES]
                streams = list(self.streams)
            for s in streams:
                try:
                    s.sendall(data)
                except (StreamError, OSError):
                    self.detach(s)
        self.proc.wait()
        os.close(self.fd)
        with self.lock:
            streams, self.streams = list(self.streams), set()
        for s in streams:
            s.shutdown_write()
            s.close()
        self.registry.forget(self)

    def attach(self, stream: Stream) -> None:
        """Replay what the terminal showed, then follow it, feeding the stream's input."""
        with self.lock:
            stream.sendall(bytes(self.ring))
            self.streams.add(stream)
        decoder = json.JSONDecoder()
        pending = ""
        try:
            while chunk := stream.recv():
                pending += chunk.decode(errors="replace")
                while pending := pending.lstrip():
                    if not pending.startswith("{"):
                        raise BadInput("terminal input must be JSON objects")
                    try:
                        msg, end = decoder.raw_decode(pending)
                    except json.JSONDecodeError as exc:
                        if not _cut_short(exc) or len(pending) > MAX_INPUT:
                            raise BadInput(f"terminal input is not JSON: {exc}") from None
                        break  # the rest of the message is still on its way
                    pending = pending[end:]
                    self._input(msg)
        except BadInput as exc:
            log.info("pty %s: input refused: %s", self.key, exc)
        except StreamError:
            pass
        finally:
            self.detach(stream)

    def _input(self, msg: object) -> None:
        if not isinstance(msg, dict):
            raise BadInput("terminal input must be JSON objects")
        data, width, height = msg.get("data"), msg.get("width"), msg.get("height")
        if data is not None and not isinstance(data, str):
            raise BadInput("data must be a string")
        if not all(n is None or valid_size(n) for n in (width, height)):
            raise BadInput(f"invalid terminal size {width!r}x{height!r}")
        if data:
            write_fd(self.fd, data.encode())
        if width and height:
            resize(self.fd, width, height)

    def detach(self, stream: Stream) -> None:
        with self.lock:
            self.streams.discard(stream)
            if not self.streams:
                self.idle_since = time.monotonic()
        stream.close()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass


class PtyRegistry:
    """Reconnecting PTYs by ID; idle ones are killed after ``IDLE_TIMEOUT``."""

    def __init__(self, env: dict[str, str], cwd: str | None, idle_timeout: float = IDLE_TIMEOUT):
        self.env = env
        self.cwd = cwd
        self.idle_timeout = idle_timeout
        self.ptys: dict[str, ReconnectingPty] = {}
        self.lock = threading.Lock()

    def serve(self, stream: Stream, key: str, width: int, height: int, command: str = "") -> None:
        if not (valid_size(width) and valid_size(height)):
            stream.reject(f"invalid terminal size {width}x{height}")
            return
        with self.lock:
            self._reap()
            pty = self.ptys.get(key)
            if pty is None:
                argv = [user_shell(), "-c", command] if command else [user_shell(), "-l"]
                pty = ReconnectingPty(self, key, argv, {**self.env, "TERM": "xterm-256color"},
                                      self.cwd, width, height)
                self.ptys[key] = pty
        stream.accept()
        resize(pty.fd, width, height)
        pty.attach(stream)

    def forget(self, pty: ReconnectingPty) -> None:
        with self.lock:
            if self.ptys.get(pty.key) is pty:
                del self.ptys[pty.key]

    def _reap(self) -> None:
        now = time.monotonic()
        for pty in list(self.ptys.values()):
            if not pty.streams and now - pty.idle_since > self.idle_timeout:
                pty.kill()
                del self.ptys[pty.key]

    def close(self) -> None:
        with self.lock:
            for pty in self.ptys.values():
                pty.kill()
            self.ptys.clear()
