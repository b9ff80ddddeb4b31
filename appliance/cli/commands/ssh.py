"""``coder ssh``: a shell or a command in a workspace, relayed through coderd.

With ``--stdio`` it is an OpenSSH ProxyCommand: the relayed SSH stream on
stdin and stdout (what ``coder config-ssh`` writes). Otherwise it is an SSH
client itself (paramiko): a PTY shell when stdin is a terminal, the command's
exit status as its own.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading

from appliance import mux
from appliance.sdk import relay

from .. import connect
from ..base import CommandError


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Start a shell or run a command in a workspace. The connection relays "
                     "through coderd; nothing connects to the workspace directly.")
    p.add_argument("workspace", metavar="[OWNER/]WORKSPACE[.AGENT]")
    p.add_argument("command", nargs=argparse.REMAINDER, help="Command to run (after --).")
    p.add_argument("--stdio", action="store_true",
                   help="Carry the SSH connection on stdin and stdout (for OpenSSH's ProxyCommand).")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    client = connect.client(args)
    _, agent = relay.resolve_agent(client, args.workspace)
    stream = relay.dial(client, agent.id, "ssh")
    if args.stdio:
        return _stdio(stream)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return _session(stream, " ".join(command))


def _stdio(stream: relay.WebSocketStream) -> int:
    def upload() -> None:
        try:
            while data := os.read(0, 65536):
                stream.sendall(data)
        except OSError:
            pass
        stream.close()

    threading.Thread(target=upload, daemon=True).start()
    while data := stream.recv():
        mux.write_fd(1, data)
    return 0


def socket_for(stream: relay.WebSocketStream) -> socket.socket:
    """A real socket whose other end is pumped to the stream (paramiko wants a socket)."""
    ours, theirs = socket.socketpair()

    def pump(read, write) -> None:
        try:
            while data := read():
                write(data)
        except OSError:
            pass
        # shutdown, not only close: it wakes the other pump's recv and gives paramiko EOF.
        for end in (theirs, stream):
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass

    threading.Thread(target=pump, args=(lambda: theirs.recv(65536), stream.sendall), daemon=True).start()
    threading.Thread(target=pump, args=(stream.recv, theirs.sendall), daemon=True).start()
    return ours


def _session(stream: relay.WebSocketStream, command: str) -> int:
    import paramiko

    transport = paramiko.Transport(socket_for(stream))
    transport.get_security_options().ciphers = relay.SSH_CIPHERS
    try:
        transport.start_client(timeout=30)
        transport.auth_none(os.environ.get("USER", "coder"))
    except paramiko.SSHException as exc:
        raise CommandError(f"SSH to the workspace failed: {exc}") from exc
    channel = transport.open_session()
    tty = sys.stdin.isatty() and not command
    if tty or (sys.stdin.isatty() and sys.stdout.isatty()):
        size = os.get_terminal_size(sys.stdout.fileno()) if sys.stdout.isatty() else os.terminal_size((80, 24))
        channel.get_pty(os.environ.get("TERM", "xterm-256color"), size.columns, size.lines)
        tty = True
    if command:
        channel.exec_command(command)
    else:
        channel.invoke_shell()
    if tty:
        return _interactive(channel)
    return _piped(channel)


def _piped(channel) -> int:
    def upload() -> None:
        try:
            while data := os.read(0, 65536):
                channel.sendall(data)
        except OSError:
            pass
        channel.shutdown_write()

    threading.Thread(target=upload, daemon=True).start()
    err = threading.Thread(target=_copy, args=(channel.recv_stderr, 2), daemon=True)
    err.start()
    _copy(channel.recv, 1)
    err.join()
    return _exit_status(channel)


def _exit_status(channel) -> int:
    """The command's exit status; a connection lost before it came (coderd restarted, the
    agent went away) is an error, not a wait for ever."""
    while not channel.status_event.wait(0.1):
        if channel.closed or not channel.get_transport().is_active():
            if channel.exit_status_ready():
                break
            raise CommandError("The connection to the workspace was lost (coderd restarted or the "
                               "workspace agent disconnected): run the command again.")
    return channel.recv_exit_status()


def _copy(recv, fd: int) -> None:
    while data := recv(65536):
        mux.write_fd(fd, data)


def _interactive(channel) -> int:
    import termios
    import tty

    def resize(*_):
        size = os.get_terminal_size(sys.stdout.fileno())
        channel.resize_pty(size.columns, size.lines)

    saved = termios.tcgetattr(0)
    signal.signal(signal.SIGWINCH, resize)
    tty.setraw(0)
    try:
        def upload() -> None:
            try:
                while data := os.read(0, 1024):
                    channel.sendall(data)
            except OSError:
                pass

        threading.Thread(target=upload, daemon=True).start()
        _copy(channel.recv, 1)
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
    return _exit_status(channel)
