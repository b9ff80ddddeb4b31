"""The agent's SSH server (paramiko), serving one relayed stream per SSH connection.

No SSH authentication happens here: coderd authorized the stream as the
workspace's owner before it reached the agent, so the server accepts the
``none`` method. It offers exec (exit status, 128+signal for signalled
exits, stderr), shells on a PTY with window changes, environment requests,
the ``sftp`` subsystem on the real file system and ``direct-tcpip`` (what
``ssh -L`` and VS Code Remote-SSH use); agent forwarding, X11 and remote
forwards are refused. A PTY session does not end when the client sends EOF:
it ends when the shell exits, after all of its output has been sent.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import paramiko

from appliance.mux import write_fd
from appliance.streams import pump

from . import pty
from .env import user_shell

log = logging.getLogger(__name__)
# paramiko logs a stream that ends during the handshake (a client gone, a relay reset) as
# an ERROR with its traceback, a line per frame; serve() says it in one line instead.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
# When a connection's keys are renewed: OpenSSH's own limits (packet.c) for ciphers with
# 16-byte blocks, which are all the agent offers (not paramiko's 3des-cbc, which OpenSSH
# no longer offers either): 2**32 blocks (64 GiB) or 2**31 packets, whichever comes first.
# paramiko's (512 MiB) would renew keys mid-copy of a large file.
REKEY_BYTES = 2**32 * 16
REKEY_PACKETS = 2**31
# What OpenSSH's server no longer offers either: CBC ciphers, MD5 and truncated MACs.
DISABLED_ALGORITHMS = {
    "ciphers": ["3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc"],
    "macs": ["hmac-md5", "hmac-md5-96", "hmac-sha1-96"],
}


def load_host_key(path: Path) -> paramiko.PKey:
    """The agent's host key, generated on first use and kept (owner-only) in ``path``."""
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def exit_code(returncode: int) -> int:
    """What an SSH client reports: 128+N for a process killed by signal N, as OpenSSH's shells do."""
    return 128 - returncode if returncode < 0 else returncode


class SSHServer:
    """Serves SSH connections over any socket-like object (a relayed stream, a TCP socket)."""

    def __init__(self, host_key: paramiko.PKey, env: dict[str, str], directory: str | None):
        self.host_key = host_key
        self.env = env
        self.directory = os.path.expanduser(directory) if directory else os.path.expanduser("~")

    def serve(self, sock) -> None:
        transport = paramiko.Transport(sock, disabled_algorithms=DISABLED_ALGORITHMS)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", _SFTPServer, _SFTPRoot)
        # A relayed stream has its own flow control: large windows keep bulk copies fast.
        transport.default_window_size = 8 * 1024 * 1024
        transport.packetizer.REKEY_BYTES = REKEY_BYTES
        transport.packetizer.REKEY_PACKETS = REKEY_PACKETS
        handler = _Connection(self)
        try:
            transport.start_server(server=handler)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.info("ssh handshake failed: %s", exc)
            transport.close()
            return
        while transport.is_active():
            channel = transport.accept(timeout=1)
            if channel is None:
                continue
            if channel.chanid in handler.tcp_targets:
                host, port = handler.tcp_targets.pop(channel.chanid)
                threading.Thread(target=_direct_tcpip, args=(channel, host, port), daemon=True).start()
        transport.close()


class _Connection(paramiko.ServerInterface):
    """paramiko's callbacks for one SSH connection; one Session per session channel."""

    def __init__(self, server: SSHServer):
        self.server = server
        self.sessions: dict[int, _Session] = {}
        self.tcp_targets: dict[int, tuple[str, int]] = {}

    def get_allowed_auths(self, username):
        return "none"

    def check_auth_none(self, username):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            self.sessions[chanid] = _Session(self.server)
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        self.tcp_targets[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_env_request(self, channel, name, value):
        self.sessions[channel.chanid].env[_text(name)] = _text(value)
        return True

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes):
        session = self.sessions[channel.chanid]
        session.term, session.size = _text(term), (width, height)
        return True

    def check_channel_window_change_request(self, channel, width, height, pixelwidth, pixelheight):
        return self.sessions[channel.chanid].resize(width, height)

    def check_channel_shell_request(self, channel):
        return self.sessions[channel.chanid].start(channel, None)

    def check_channel_exec_request(self, channel, command):
        return self.sessions[channel.chanid].start(channel, _text(command))

    def check_channel_forward_agent_request(self, channel):
        return False

    def check_channel_x11_request(self, channel, single_connection, auth_protocol, auth_cookie,
                                  screen_number):
        return False

    def check_port_forward_request(self, address, port):
        return False


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# paramiko's channel buffer gives up what a read takes by shifting the rest down (``del
# array[:n]``), so a read smaller than what is buffered copies all the rest: a 64 KiB read
# from a full 2 MiB window moved 2 MiB, and an upload cost the agent 2.5 times the CPU.
# Reads ask for more than a window can hold, and so take the whole buffer at once.
WHOLE_BUFFER = 16 * 1024 * 1024


def whole_packets(channel, most: int = 128 * 1024) -> int:
    """How much to read at a time from a command's output: whole packets' worth. paramiko
    sends at most ``out_max_packet_size - 64`` bytes of data per packet (32704 to
    OpenSSH), so 64 KiB reads went out as two full packets and a 128-byte one, and
    a third of the packets, each a relayed frame, carried almost nothing."""
    per_packet = max(channel.out_max_packet_size - 64, 1024)
    return per_packet * max(1, most // per_packet)


def output_sender(channel) -> Callable[[Callable[[bytes], None], bytes], None]:
    """``send(write, data)``: one read of a command's output (stdout or stderr) onto the
    channel, its SSH packets in one relayed frame where that is safe.

    Relayed, each packet paramiko writes is a send on the mux stream, and every send is
    a frame for the agent, coderd and the client's connection to handle; a read is four
    packets. The stream holds them back and sends them together (``Stream.corked``),
    but only when the channel's window takes the whole read: paramiko waiting for window
    with packets held back would wait for ever, the client's window adjust needing
    them. stdout and stderr share the window, so they take turns."""
    corked = getattr(channel.get_transport().sock, "corked", None)
    if corked is None:  # a plain socket (the direct SSH port): nothing to merge
        return lambda write, data: write(data)
    turn = threading.Lock()

    def send(write: Callable[[bytes], None], data: bytes) -> None:
        with turn:
            if channel.out_window_size >= len(data):
                with corked():
                    write(data)
            else:
                write(data)
    return send


class _Session:
    """One session channel: a command or a shell, with or without a PTY."""

    def __init__(self, server: SSHServer):
        self.server = server
        self.env: dict[str, str] = {}
        self.term: str | None = None
        self.size = (80, 24)
        self.master: int | None = None

    def resize(self, width: int, height: int) -> bool:
        self.size = (width, height)
        if self.master is not None:
            pty.resize(self.master, width, height)
        return True

    def start(self, channel: paramiko.Channel, command: str | None) -> bool:
        shell = user_shell()
        argv = [shell, "-c", command] if command else [shell, "-l"]
        env = {**os.environ, **self.server.env, **self.env, "CODER": "true"}
        env["SSH_CONNECTION"] = env.get("SSH_CONNECTION", "0.0.0.0 0 0.0.0.0 0")
        if self.term is not None:
            env["TERM"] = self.term
        run = self._run_pty if self.term is not None else self._run_pipes
        try:
            started = run(channel, argv, env)
        except OSError as exc:
            log.warning("ssh: cannot start %s: %s", argv[0], exc)
            return False
        threading.Thread(target=started, daemon=True).start()
        return True

    def _run_pipes(self, channel, argv, env):
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=self._cwd(),
                                start_new_session=True)

        def feed_stdin() -> None:
            try:
                while data := channel.recv(WHOLE_BUFFER):
                    proc.stdin.write(data)
                    proc.stdin.flush()
            except (OSError, ValueError):
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        size = whole_packets(channel)
        send = output_sender(channel)

        def copy(src, write) -> None:
            try:
                while data := src.read1(size):
                    send(write, data)
            except OSError:
                pass

        def wait() -> None:
            threading.Thread(target=_end_with_channel, args=(channel, proc), daemon=True).start()
            threading.Thread(target=feed_stdin, daemon=True).start()
            err = threading.Thread(target=copy, args=(proc.stderr, channel.sendall_stderr), daemon=True)
            err.start()
            copy(proc.stdout, channel.sendall)
            err.join()
            self._finish(channel, proc.wait())
        return wait

    def _run_pty(self, channel, argv, env):
        proc, master = pty.spawn(argv, env, self._cwd(), *self.size)
        self.master = master

        def feed() -> None:
            # EOF from the client does not end the session: the shell decides.
            try:
                while data := channel.recv(WHOLE_BUFFER):
                    write_fd(master, data)
            except OSError:
                pass

        def wait() -> None:
            threading.Thread(target=_end_with_channel, args=(channel, proc), daemon=True).start()
            threading.Thread(target=feed, daemon=True).start()
            try:
                while data := pty.read_master(master):
                    channel.sendall(data)
            except OSError:
                pass
            code = proc.wait()
            self.master = None
            os.close(master)
            self._finish(channel, code)
        return wait

    def _cwd(self) -> str | None:
        return self.server.directory if os.path.isdir(self.server.directory) else None

    @staticmethod
    def _finish(channel: paramiko.Channel, returncode: int) -> None:
        """The exit status, EOF and close, once the request that started the command has
        been answered: paramiko's transport answers it after ``start`` returns, so a
        command that ends at once could close the channel first, which paramiko's client
        (``coder ssh``'s) reads as "Channel closed". A global request's answer is read by
        the same transport loop after that: once it is in, the answer has gone out."""
        try:
            channel.get_transport().global_request("keepalive@openssh.com", wait=True)
            channel.send_exit_status(exit_code(returncode))
            channel.shutdown_write()
            channel.close()
        except (OSError, EOFError):
            pass


def _end_with_channel(channel: paramiko.Channel, proc: subprocess.Popen, grace: float = 5.0) -> None:
    """A command ends with its session, as in Coder: when the channel closes or the
    connection drops (client gone, coderd restarted) while it runs, its process group gets
    SIGHUP, and SIGKILL if it is still there after ``grace`` seconds."""
    transport = channel.get_transport()
    while proc.poll() is None:
        if channel.closed or not transport.is_active():
            for sig, wait in ((signal.SIGHUP, grace), (signal.SIGKILL, None)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(wait)
                    return
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
            return
        time.sleep(0.5)


def _direct_tcpip(channel: paramiko.Channel, host: str, port: int) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError:
        channel.close()
        return
    sock.settimeout(None)
    pump(_ChannelStream(channel), sock)


class _ChannelStream:
    """A paramiko channel as an ``appliance.streams.Stream`` that reads all it holds."""

    def __init__(self, channel: paramiko.Channel):
        self.channel = channel

    def recv(self, n: int) -> bytes:
        """All that is buffered, whatever ``n`` (see WHOLE_BUFFER)."""
        return self.channel.recv(WHOLE_BUFFER)

    def sendall(self, data: bytes) -> None:
        self.channel.sendall(data)

    def shutdown(self, how: int) -> None:
        self.channel.shutdown(how)

    def close(self) -> None:
        self.channel.close()


def set_attr(path: str, attr: paramiko.SFTPAttributes) -> None:
    """What SETSTAT asks for (paramiko's helper truncates the file before resizing it): the
    attributes the client sent, which paramiko leaves None otherwise."""
    if attr.st_mode is not None:
        os.chmod(path, attr.st_mode)
    if attr.st_uid is not None:
        os.chown(path, attr.st_uid, attr.st_gid)
    if attr.st_mtime is not None:
        os.utime(path, (attr.st_atime, attr.st_mtime))
    if attr.st_size is not None:
        os.truncate(path, attr.st_size)


class _SFTPServer(paramiko.SFTPServer):
    """paramiko's SFTP server, ending with an exit status as sftp-server does (scp checks it)."""

    def finish_subsystem(self):
        try:
            self.sock.send_exit_status(0)
        except (OSError, EOFError):
            pass
        super().finish_subsystem()


class _FileHandle(paramiko.SFTPHandle):
    """An open file; fstat and fsetstat (which scp and sftp use) act on the real file."""

    def stat(self):
        return _SFTPRoot._call(lambda: paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno())))

    def chattr(self, attr):
        self.writefile.flush()
        return _SFTPRoot._call(lambda: set_attr(self.filename, attr))


class _SFTPRoot(paramiko.SFTPServerInterface):
    """SFTP on the real file system, with the agent's permissions; paths are absolute or home-relative."""

    def __init__(self, server, *args, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.home = os.path.expanduser("~")

    def _path(self, path: str) -> str:
        return os.path.join(self.home, path) if not path.startswith("/") else path

    def canonicalize(self, path):
        return os.path.normpath(self._path(path))

    def list_folder(self, path):
        path = self._path(path)
        try:
            out = []
            for name in os.listdir(path):
                attr = paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(path, name)))
                attr.filename = name
                out.append(attr)
            return out
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path):
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.stat(self._path(path))))

    def lstat(self, path):
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.lstat(self._path(path))))

    def open(self, path, flags, attr):
        path = self._path(path)
        try:
            fd = os.open(path, flags | getattr(os, "O_BINARY", 0), getattr(attr, "st_mode", None) or 0o666)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        if flags & os.O_CREAT and attr is not None:
            attr.st_mode = None  # os.open gave the file its mode, less the umask
            set_attr(path, attr)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        handle = _FileHandle(flags)
        handle.filename = path
        handle.readfile = handle.writefile = os.fdopen(fd, mode)
        return handle

    def remove(self, path):
        return self._call(lambda: os.remove(self._path(path)))

    def rename(self, oldpath, newpath):
        return self._call(lambda: os.rename(self._path(oldpath), self._path(newpath)))

    def posix_rename(self, oldpath, newpath):
        return self.rename(oldpath, newpath)

    def mkdir(self, path, attr):
        return self._call(lambda: os.mkdir(self._path(path), getattr(attr, "st_mode", None) or 0o777))

    def rmdir(self, path):
        return self._call(lambda: os.rmdir(self._path(path)))

    def chattr(self, path, attr):
        return self._call(lambda: set_attr(self._path(path), attr))

    def symlink(self, target_path, path):
        return self._call(lambda: os.symlink(target_path, self._path(path)))

    def readlink(self, path):
        return self._call(lambda: os.readlink(self._path(path)))

    @staticmethod
    def _call(fn):
        try:
            result = fn()
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK if result is None else result
