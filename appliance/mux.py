"""Many byte streams over one websocket: how coderd reaches an agent.

The agent keeps one websocket to coderd; every client stream (an SSH session,
a port forward, an app request, a terminal) is a stream multiplexed on it.
Each websocket message carries exactly one frame::

    type (1 byte) | stream id (4 bytes, big endian) | payload (<= MAX_PAYLOAD)

Senders put at most ``CHUNK`` bytes in a frame, except a stream's ``corked``
sends (the agent's SSH packets of one read of a command's output), which go
out together in frames of up to ``MAX_PAYLOAD``: every frame costs each hop
its own work. Receivers accept ``MAX_PAYLOAD``; agents from before it was
raised to 256 KiB accept only 64 KiB, which is why coderd sends ``CHUNK``s.

``OPEN`` names a target (``ssh``, ``tcp:PORT``, ``pty:ID:W:H``...), answered by
``ACCEPT`` or ``RESET`` (with the reason). ``DATA`` carries bytes, ``FIN``
ends one direction, ``RESET`` aborts the stream. Flow control is per stream:
a sender may have at most ``WINDOW`` unacknowledged bytes in flight and the
receiver returns credit with ``WINDOW_UPDATE`` each time its reader has
consumed a quarter of the window, so one slow reader neither stalls the other
streams nor grows memory. A peer
that breaks a stream's rules (oversized frame, more than its credit, data
after FIN) gets that stream reset; only a frame that cannot be parsed at all
ends the connection.

The websocket is an ``appliance.streams.MessageStream`` (coderd's side from
``server.relay.websocket``, the agent's ``wsframes.client_stream``).

The code only uses ``threading``: the agent runs it on threads, coderd under
gevent's monkey-patching, where the same locks and threads are greenlets.
"""
from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import socket
import struct
import threading
import time
from typing import Callable

from .streams import MessageStream, ended

log = logging.getLogger(__name__)

OPEN, ACCEPT, DATA, FIN, RESET, WINDOW_UPDATE, PING, PONG = range(1, 9)
HEADER = struct.Struct("!BI")
CREDIT = struct.Struct("!I")
MAX_PAYLOAD = 256 * 1024
CHUNK = 64 * 1024
WINDOW = 1024 * 1024
MAX_TARGET = 256


class StreamError(ConnectionError):
    """The stream was refused or reset by the other side (or its session ended).

    Shaped like a socket error (errno, message): paramiko formats them so."""

    def __init__(self, message: str):
        super().__init__(errno.ECONNRESET, message)

    def __str__(self) -> str:
        return self.strerror


def _spawn(fn: Callable, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


class Stream:
    """One multiplexed byte stream: an ``appliance.streams.Stream``."""

    def __init__(self, session: "Session", stream_id: int, target: str):
        self.session = session
        self.id = stream_id
        self.target = target
        self._cond = threading.Condition(threading.Lock())
        self._buf: collections.deque[bytes] = collections.deque()
        self._head = 0  # bytes of _buf[0] already taken
        self._buffered = 0
        self._unacked = 0  # consumed, credit not yet returned
        self._credit = WINDOW  # what we may still send
        self._eof = False  # the peer sent FIN
        self._fin_sent = False
        self._error: str | None = None  # reset reason
        self._accepted = False
        self.timeout: float | None = None
        self._corked_by: int | None = None  # the thread whose sends are held back
        self._corked = bytearray()

    # -- socket-like API -------------------------------------------------
    def recv(self, n: int = MAX_PAYLOAD) -> bytes:
        """Up to ``n`` bytes; b"" at the peer's FIN; StreamError once reset."""
        give = 0
        with self._cond:
            if not self._wait(lambda: self._buf or self._eof or self._error):
                raise socket.timeout("timed out")
            if self._buf:
                chunk = self._take(n)
                self._buffered -= len(chunk)
                self._unacked += len(chunk)
                if self._unacked >= WINDOW // 4:
                    give, self._unacked = self._unacked, 0
            elif self._error is not None:
                raise StreamError(self._error)
            else:
                chunk = b""
        if give and not self._eof:
            self.session._send(WINDOW_UPDATE, self.id, CREDIT.pack(give), quiet=True)
        if not chunk:
            self._maybe_done()
        return chunk

    def _take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front of the buffer: whole chunks joined while they fit.
        A chunk read in part stays whole with an offset: paramiko reads a packet's 16-byte
        header before the rest, and re-slicing the remainder would copy it each time."""
        chunk, start = self._buf[0], self._head
        if len(chunk) - start > n:
            self._head += n
            return chunk[start:start + n]
        self._buf.popleft()
        self._head = 0
        if start:
            chunk = chunk[start:]
        if not self._buf or len(chunk) + len(self._buf[0]) > n:
            return chunk
        parts, size = [chunk], len(chunk)
        while self._buf and size + len(self._buf[0]) <= n:
            size += len(self._buf[0])
            parts.append(self._buf.popleft())
        return b"".join(parts)

    def sendall(self, data: bytes, chunk: int = CHUNK) -> None:
        view = memoryview(data)
        while view:
            view = view[self._send_chunk(view, chunk):]

    def send(self, data: bytes) -> int:
        """Like ``socket.send``: as much as the credit allows now, waiting (up to the
        timeout) only for the first byte. paramiko retries a send that timed out with the
        same bytes, so a send must never time out after having sent some."""
        if self._corked_by is not None and self._hold(data):
            return len(data)
        view = memoryview(data)
        sent = self._send_chunk(view)
        while sent < len(view) and self._credit > 0:  # only this side lowers the credit
            sent += self._send_chunk(view[sent:])
        return sent

    @contextlib.contextmanager
    def corked(self):
        """Hold back this thread's sends in the block and send them together when it ends.

        Another thread's send in between first sends what is held, so the bytes keep
        their order (paramiko writes each SSH packet under its own lock, and a rekey's
        packets come from its transport thread). Only for sends that cannot wait on the
        peer, which might need the held bytes first: the agent corks a channel's
        packets only when its window takes them all."""
        with self._cond:
            self._corked_by = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._corked_by = None
                held, self._corked = self._corked, bytearray()
            if held:
                self.sendall(held, MAX_PAYLOAD)

    def _hold(self, data: bytes) -> bool:
        """Keep ``data`` back if this thread corked the stream; if another did, send what it
        holds first. False when ``data`` is to be sent now."""
        with self._cond:
            if self._corked_by is None:
                return False
            if self._corked_by == threading.get_ident():
                self._corked += data
                return True
            held, self._corked = self._corked, bytearray()
        if held:
            self.sendall(held, MAX_PAYLOAD)
        return False

    def _send_chunk(self, view: memoryview, chunk: int = CHUNK) -> int:
        """One DATA frame of what the credit allows, waiting for credit if there is none."""
        with self._cond:
            if not self._wait(lambda: self._credit > 0 or self._error):
                raise socket.timeout("timed out")
            if self._error is not None:
                raise StreamError(self._error)
            if self._fin_sent:
                raise StreamError("stream closed for writing")
            n = min(len(view), self._credit, chunk)
            self._credit -= n
        if self.session.traffic is not None:
            self.session.traffic(0, n)
        self.session._send(DATA, self.id, view[:n])
        return n

    def shutdown_write(self) -> None:
        """Send FIN: no more data from this side; the peer's reads end."""
        with self._cond:
            if self._fin_sent or self._error:
                return
            self._fin_sent = True
        self.session._send(FIN, self.id)
        self._maybe_done()

    def shutdown(self, how: int) -> None:
        """As a socket's: ``SHUT_WR`` sends FIN; reading shut down aborts (``close``)."""
        if how == socket.SHUT_WR:
            self.shutdown_write()
        else:
            self.close()

    def close(self) -> None:
        """Done with the stream: reset it unless both directions already ended."""
        with self._cond:
            finished = self._error is not None or (self._fin_sent and self._eof)
            if self._error is None:
                self._error = "closed"
            self._cond.notify_all()
        if not finished:
            self.session._send(RESET, self.id, b"closed", quiet=True)
        self.session._forget(self)

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def gettimeout(self) -> float | None:
        return self.timeout

    @property
    def closed(self) -> bool:
        return self._error is not None

    # -- accepting side ----------------------------------------------------
    def accept(self) -> None:
        self._accepted = True
        self.session._send(ACCEPT, self.id)

    def reject(self, reason: str) -> None:
        self._fail(reason)
        self.session._send(RESET, self.id, reason.encode()[:1024], quiet=True)
        self.session._forget(self)

    # -- called by the session's reader ----------------------------------
    def _wait(self, ready: Callable[[], object]) -> bool:
        if self.timeout is None:
            while not ready():
                self._cond.wait()
            return True
        deadline = time.monotonic() + self.timeout
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._cond.wait(left)
        return True

    def _data(self, payload: bytes) -> str | None:
        """Queue received bytes; a reason when the peer broke the rules."""
        with self._cond:
            if self._eof:
                return "data after FIN"
            if self._buffered + len(payload) > WINDOW:
                return "flow control window exceeded"
            if payload:
                self._buf.append(payload)
                self._buffered += len(payload)
                self._cond.notify_all()
        return None

    def _fin(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()
        self._maybe_done()

    def _fail(self, reason: str) -> None:
        with self._cond:
            if self._error is None:
                self._error = reason
            self._cond.notify_all()

    def _grant(self, n: int) -> None:
        with self._cond:
            self._credit += n
            self._cond.notify_all()

    def _accepted_by_peer(self) -> None:
        with self._cond:
            self._accepted = True
            self._cond.notify_all()

    def _maybe_done(self) -> None:
        if self._fin_sent and self._eof and not self._buf:
            self.session._forget(self)


class Session:
    """Both ends of the multiplexed connection.

    coderd opens streams (``open``); the agent passes ``accept``, called on a
    new thread for each stream the other side opens, which must call
    ``stream.accept()`` or ``stream.reject(reason)``. ``traffic(rx, tx)``, if
    given, is told the payload bytes of every DATA frame received and sent (the
    agent's stats count them).
    """

    def __init__(self, transport: MessageStream, *, accept: Callable[[Stream], None] | None = None,
                 name: str = "mux", keepalive: float = 15.0,
                 traffic: Callable[[int, int], None] | None = None):
        self.transport = transport
        self.traffic = traffic
        self.name = name
        self._accept = accept
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._closed = threading.Event()
        self.keepalive = keepalive
        self.last_seen = time.monotonic()

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def open(self, target: str, timeout: float = 15.0) -> Stream:
        """Open a stream to ``target`` and wait for the other side to accept it."""
        data = target.encode()
        if len(data) > MAX_TARGET:
            raise ValueError("stream target too long")
        with self._lock:
            if self.closed:
                raise StreamError("connection closed")
            stream_id = self._next_id
            self._next_id += 2
            stream = Stream(self, stream_id, target)
            self._streams[stream_id] = stream
        self._send(OPEN, stream_id, data)
        with stream._cond:
            deadline = time.monotonic() + timeout
            while not (stream._accepted or stream._error):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                stream._cond.wait(left)
            accepted, error = stream._accepted, stream._error
        if not accepted:
            stream.close()
            raise StreamError(error or f"{target}: no answer in {timeout:g}s")
        return stream

    def serve(self) -> None:
        """Read frames until the connection ends; then every stream is reset."""
        if self.keepalive:
            _spawn(self._keepalive)
        try:
            while not self.closed:
                message = self.transport.recv(0)
                if ended(message):
                    break
                self.last_seen = time.monotonic()
                if len(message) < HEADER.size:
                    log.warning("%s: malformed frame of %d bytes: closing the connection",
                                self.name, len(message))
                    break
                kind, stream_id = HEADER.unpack_from(message)
                # bytes, whatever the transport gives (a bytearray under gevent-websocket):
                # readers such as websocket-client insist on bytes.
                self._dispatch(kind, stream_id, bytes(memoryview(message)[HEADER.size:]))
        except (OSError, ValueError) as exc:
            if not self.closed:
                log.info("%s: connection lost: %s", self.name, exc)
        finally:
            self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for s in streams:
            s._fail("connection closed")
        try:
            self.transport.close()
        except OSError:
            pass

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    # -- internals ---------------------------------------------------------
    def _dispatch(self, kind: int, stream_id: int, payload: bytes) -> None:
        if kind == PING:
            self._send(PONG, 0, payload, quiet=True)
            return
        if kind == PONG:
            return
        if kind == OPEN:
            self._incoming(stream_id, payload)
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if kind not in (RESET, FIN, WINDOW_UPDATE):
                self._send(RESET, stream_id, b"unknown stream", quiet=True)
            return
        if len(payload) > MAX_PAYLOAD:
            self._reset(stream, f"frame of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        elif kind == DATA:
            if self.traffic is not None:
                self.traffic(len(payload), 0)
            problem = stream._data(payload)
            if problem:
                self._reset(stream, problem)
        elif kind == FIN:
            stream._fin()
        elif kind == WINDOW_UPDATE and len(payload) == CREDIT.size:
            stream._grant(CREDIT.unpack(payload)[0])
        elif kind == ACCEPT:
            stream._accepted_by_peer()
        elif kind == RESET:
            stream._fail(payload.decode(errors="replace") or "reset by peer")
            self._forget(stream)
        else:
            self._reset(stream, f"unexpected frame type {kind}")

    def _incoming(self, stream_id: int, payload: bytes) -> None:
        target = payload.decode(errors="replace")
        with self._lock:
            known = stream_id in self._streams
        if self._accept is None or known or len(payload) > MAX_TARGET:
            self._send(RESET, stream_id, b"stream refused", quiet=True)
            return
        stream = Stream(self, stream_id, target)
        with self._lock:
            self._streams[stream_id] = stream
        _spawn(self._run_accept, stream)

    def _run_accept(self, stream: Stream) -> None:
        try:
            self._accept(stream)
        except StreamError as exc:  # the other side went away: nothing to report
            log.debug("%s: stream %s (%s) ended: %s", self.name, stream.id, stream.target, exc)
            stream.close()
        except Exception as exc:  # one broken stream handler must not end the session
            log.exception("%s: stream %s (%s) failed", self.name, stream.id, stream.target)
            if not stream._accepted:
                stream.reject(f"{stream.target}: {exc}")
            else:
                stream.close()

    def _reset(self, stream: Stream, reason: str) -> None:
        log.warning("%s: stream %d (%s) reset: %s", self.name, stream.id, stream.target, reason)
        stream._fail(reason)
        self._send(RESET, stream.id, reason.encode(), quiet=True)
        self._forget(stream)

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            if self._streams.get(stream.id) is stream:
                del self._streams[stream.id]

    def _send(self, kind: int, stream_id: int, payload: bytes = b"", *, quiet: bool = False) -> None:
        frame = HEADER.pack(kind, stream_id) + payload  # one copy, even of a memoryview
        try:
            with self._send_lock:
                self.transport.sendall(frame)
        except (OSError, ValueError) as exc:
            self.close()
            if not quiet:
                raise StreamError(f"connection closed: {exc}") from exc

    def _keepalive(self) -> None:
        """Ping the peer; a connection silent for three intervals is dead."""
        while not self._closed.wait(self.keepalive):
            if time.monotonic() - self.last_seen > 3 * self.keepalive:
                log.info("%s: no frame in %.0fs: closing", self.name, 3 * self.keepalive)
                self.close()
                return
            self._send(PING, 0, b"", quiet=True)


def write_fd(fd: int, data: bytes) -> None:
    """All of ``data`` to a file descriptor (a pipe or terminal may take only part per write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
