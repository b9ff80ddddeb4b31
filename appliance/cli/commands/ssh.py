"""``coder ssh``: a shell or a command in a workspace, relayed through coderd.

With ``--stdio`` it is an OpenSSH ProxyCommand: the relayed SSH stream on
stdin and stdout; with ``--fdpass`` as well (what ``coder config-ssh``
writes, with ``ProxyUseFdpass``) it hands the connection itself to ssh and
exits, so no process of ours stays between ssh and coderd. Otherwise it is
an SSH client itself (paramiko): a PTY shell when stdin is a terminal, the
command's exit status as its own.

The stream is coderd's ``Upgrade: tcp`` connection to the workspace named on
the command line (one request; ``sdk.rawstream``), or a workspace proxy's to its agent
when ``--region`` picks one (``cli.regions``). ``--stdio`` runs for
every ``ssh``, so its path imports only the standard library and that, except
for the agent lookup ``--wait`` (``auto`` by default, as Coder's) makes first.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import functools
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time

from appliance.sdk import rawstream

from .. import connect, headers, regions
from ..base import CommandError

log = logging.getLogger(__name__)

WAIT_CHOICES = ("yes", "no", "auto")
STARTING = ("created", "starting")
USAGE_APPS = ("vscode", "jetbrains", "reconnecting-pty", "ssh")
USAGE_SECONDS = 60.0  # Coder's: the workspace's use is reported each minute while connected


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Start a shell or run a command in a workspace. The connection relays "
                     "through coderd, or through the workspace proxy --region picks; nothing "
                     "connects to the workspace directly.")
    p.add_argument("workspace", metavar="[OWNER/]WORKSPACE[.AGENT]")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="Command to run (after --): its words are joined with spaces and run by "
                        "the workspace's shell, as OpenSSH does; quote a command with its own "
                        "arguments as one word (-- 'sh -c \"exit 7\"').")
    p.add_argument("--stdio", action="store_true",
                   help="Carry the SSH connection on stdin and stdout (for OpenSSH's ProxyCommand).")
    p.add_argument("--ssh-host-prefix", default="", metavar="PREFIX",
                   help="Strip this prefix from the workspace name (what 'coder config-ssh' "
                        "writes: coder.).")
    p.add_argument("--hostname-suffix", default="", metavar="SUFFIX",
                   help="Strip .SUFFIX from the workspace name (config-ssh --hostname-suffix).")
    p.add_argument("--wait", choices=WAIT_CHOICES, default=os.environ.get("CODER_SSH_WAIT", "auto"),
                   help="yes: wait for the workspace's startup scripts to finish before "
                        "connecting; no: do not; auto (default): wait when one of the agent's "
                        "scripts blocks login (start_blocks_login), as Coder.")
    p.add_argument("--fdpass", action="store_true",
                   help="With --stdio, for OpenSSH's 'ProxyUseFdpass yes': pass the connection to "
                        "ssh and exit (over HTTPS a background process relays it).")
    regions.add_option(p)
    p.add_argument("--usage-app", default=os.environ.get("CODER_SSH_USAGE_APP", ""),
                   help=argparse.SUPPRESS)  # hidden, as Coder's: "disable", or an app name
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    if args.fdpass and not args.stdio:
        raise CommandError("--fdpass goes with --stdio (as a ProxyCommand).", code=2)
    url, token = connect.credentials(args)
    spec = rawstream.workspace_spec(args.workspace, args.ssh_host_prefix, args.hostname_suffix)
    if args.wait == "yes" or (args.wait == "auto" and _startup_blocks_login(args, url, token,
                                                                            spec)):
        _start_if_stopped(args, spec)
        _wait_for_startup(args, url, token, spec)
    region = regions.choose(args, url, token)

    def on_wait() -> None:
        _start_if_stopped(args, spec)
        _say_waiting()

    def connect_to_agent() -> socket.socket:
        base, path, query, extra = _stream_address(args, url, token, spec, region)
        return rawstream.connect_to_agent(base, path, {**query, "target": "ssh"}, token,
                                          verify=connect.ca_bundle(args), on_wait=on_wait,
                                          headers=extra)

    # A stopped workspace is started and waited for, as Coder's ssh does: looked at only when
    # there is no agent to reach (404), or it is not connected (the wait begins).
    try:
        sock = connect_to_agent()
    except rawstream.APIError as exc:
        if exc.status != 404 or not _start_if_stopped(args, spec):
            raise
        sock = connect_to_agent()
    usage = UsageReporter(args, url, token, spec)
    try:
        if args.fdpass:  # this process ends at once: one report
            return _pass_to_ssh(sock)
        if args.stdio:
            return relay_fds(sock, 0, 1)
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        return _session(sock, connect_to_agent, " ".join(command))
    finally:
        usage.stop.set()
        usage.reported.wait(10)  # a session shorter than the first report still makes it


def _stream_address(args: argparse.Namespace, url: str, token: str, spec: str,
                    region: regions.Region) -> tuple[str, str, dict, dict]:
    """Where the stream is asked for: coderd's connect-by-name path (with ``--header``'s
    headers, meant for coderd), or, through a workspace proxy, its by-agent path."""
    if not region.proxy_url:
        return (url, *rawstream.workspace_path(spec), headers.from_flags(args, url))
    from appliance.sdk import relay

    agent = relay.resolve_agent(connect.new_client(args, url, token), spec)[1]
    return region.proxy_url, f"/api/v2/workspaceagents/{agent.id}/connect", {}, {}


class UsageReporter:
    """Coder's ssh usage tracking (``UpdateWorkspaceUsageWithBodyContext``): the workspace is
    reported used now and each minute until the session ends, from a background thread so
    the connection does not wait for it (the session's end waits for the first report); a
    failed report is dropped, as Coder logs it."""

    def __init__(self, args: argparse.Namespace, url: str, token: str, spec: str):
        self.stop, self.reported = threading.Event(), threading.Event()
        app = "" if args.usage_app == "disable" else \
            args.usage_app if args.usage_app in USAGE_APPS else "ssh"
        if not app:
            self.reported.set()
            return
        threading.Thread(target=self._report, args=(args, url, token, spec, app),
                         daemon=True).start()

    def _report(self, args: argparse.Namespace, url: str, token: str, spec: str,
                app: str) -> None:
        from appliance.sdk import relay, types

        try:
            client = connect.new_client(args, url, token)
            ws, agent = relay.resolve_agent(client, spec)
            request = types.PostWorkspaceUsageRequest(agent_id=agent.id, app_name=app)
            while True:
                client.post_workspace_usage(ws.id, request)
                self.reported.set()
                if self.stop.wait(USAGE_SECONDS):
                    return
        except (rawstream.APIError, OSError):  # requests' errors are OSErrors
            self.reported.set()


def _start_if_stopped(args: argparse.Namespace, spec: str) -> bool:
    """Start the workspace when it is stopped, and follow a build not finished (its log on
    stderr: with --stdio, stdout is the SSH stream). True when there is something to retry;
    Coder's refusals otherwise. Here, off the fast path, the SDK may be imported."""
    from .workspaces import follow_build, start_request, workspace_by_name

    client = connect.client(args)
    name = spec.partition(".")[0]
    try:
        ws = workspace_by_name(client, name)
    except rawstream.APIError as exc:
        if exc.status == 404:
            raise CommandError(f"no such workspace: {name!r}",
                               hint="'coder list' shows your workspaces.") from None
        raise
    build = ws.latest_build
    if build.transition != "start":
        if build.transition == "delete":
            raise CommandError(f'workspace "{ws.name}" is deleted')
        if build.job.status == "failed":
            raise CommandError(f'workspace "{ws.name}" is in failed state, unable to autostart '
                               "the workspace")
        if build.status != "stopped":
            raise CommandError("workspace must be started; was unable to autostart as the last "
                               f'build job is "{build.status}", expected "stopped"')
        print(f'Workspace was stopped, starting workspace to allow connecting to "{ws.name}"...',
              file=sys.stderr, flush=True)
        build = client.create_workspace_build(ws.id, start_request(ws))
    elif build.job.completed_at is not None:
        return False  # started, and still no agent: the original answer says why
    follow_build(client, build, "Start", out=sys.stderr)
    return True


def _startup_blocks_login(args: argparse.Namespace, url: str, token: str, spec: str) -> bool:
    """``--wait=auto``, as Coder's: wait when a script of the agent says login waits for it.
    A workspace with no agent to look at yet (stopped) is left to the connection's start."""
    from appliance.sdk import relay

    try:
        agent = relay.resolve_agent(connect.new_client(args, url, token), spec)[1]
    except rawstream.APIError:
        return False
    return any(script.start_blocks_login for script in agent.scripts)


def _wait_for_startup(args: argparse.Namespace, url: str, token: str, spec: str) -> None:
    """Until the agent's startup scripts have run (lifecycle past ``starting``), as Coder's
    ``ssh --wait=yes``; a failed or timed-out start is said, then connected to anyway."""
    from appliance.sdk import relay

    client = connect.new_client(args, url, token)
    said = False
    while (state := relay.resolve_agent(client, spec)[1].lifecycle_state) in STARTING:
        if not said:
            print("Waiting for the workspace's startup scripts (Ctrl-C to give up)...",
                  file=sys.stderr, flush=True)
            said = True
        time.sleep(1)
    if state in ("start_error", "start_timeout"):
        print(f"warning: the workspace's startup scripts ended in {state}", file=sys.stderr)


def _say_waiting() -> None:
    print("Waiting for the workspace agent to connect (Ctrl-C to give up)...", file=sys.stderr, flush=True)


def _pass_to_ssh(sock: socket.socket) -> int:
    """Send the connection to ssh over stdout (a socket pair with ProxyUseFdpass). TLS lives
    in this process, so over HTTPS a forked child relays between it and a socket pair."""
    try:
        out = socket.socket(fileno=os.dup(1))
    except OSError:
        raise CommandError("--fdpass needs 'ProxyUseFdpass yes' in the ssh configuration "
                           "(stdout is not a socket).", code=2) from None
    if isinstance(sock, ssl.SSLSocket):
        ours, theirs = socket.socketpair()
        if os.fork() == 0:
            try:
                theirs.close()
                out.close()
                os.setsid()  # outlives the parent, which ssh waits for
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                relay_fds(sock, ours.fileno(), ours.fileno())
            finally:
                os._exit(0)
        ours.close()
        sock.close()
        sock = theirs
    socket.send_fds(out, [b"\0"], [sock.fileno()])
    return 0


def relay_fds(sock: socket.socket, in_fd: int, out_fd: int) -> int:
    """Carry bytes between the connection and two file descriptors until coderd ends the
    stream. The end of input is passed on as a half-close; over TLS, which Python cannot
    half-close, it ends the connection (ssh closes its side only when it is done)."""
    tls = isinstance(sock, ssl.SSLSocket)
    for fd in (in_fd, out_fd):
        _grow_pipe(fd)

    def upload() -> None:
        try:
            if tls:
                _copy(functools.partial(os.read, in_fd, 65536), sock.sendall)
            else:
                _splice_or_copy(in_fd, sock.fileno())
            sock.shutdown(socket.SHUT_RDWR if tls else socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upload, daemon=True).start()
    try:
        if tls:
            _copy(functools.partial(sock.recv, 65536), _writer(out_fd))
        else:
            _splice_or_copy(sock.fileno(), out_fd)
    except OSError:
        pass
    return 0


def _grow_pipe(fd: int) -> None:
    """Let a pipe hold 1 MiB, not 64 KiB: ssh and this process then take turns on it 16
    times less often (what it gave plain ``--stdio`` uploads: docs/benchmarks.md, "Relay:
    SSH throughput, port-forward latency, idle agents", run 14)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:  # not a pipe, or over the system's limit: it works as it is
        pass


def _splice_or_copy(src: int, dst: int) -> None:
    """``src`` to ``dst`` until end of file: moved in the kernel (``splice``) when one of
    them is a pipe, as stdin and stdout of a ProxyCommand are; copied otherwise.

    Each splice waits for ``src`` with poll first and does not wait for ``dst``: a splice
    blocked on an empty socket holds the pipe's lock, so ssh's read of bytes already in
    that pipe would wait for the socket's next bytes."""
    ready = select.poll()
    try:
        while True:
            _wait(ready, src, select.POLLIN)
            try:
                if not os.splice(src, dst, 1 << 20, flags=os.SPLICE_F_NONBLOCK):
                    return
            except BlockingIOError:
                _wait(ready, dst, select.POLLOUT)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
    _copy(functools.partial(os.read, src, 65536), _writer(dst))


def _wait(poll: select.poll, fd: int, event: int) -> None:
    poll.register(fd, event)
    poll.poll()
    poll.unregister(fd)


def _writer(fd: int):
    """Writes all of each chunk to ``fd`` (imported here: ``--stdio`` over plain HTTP,
    the common case, needs none of ``mux``)."""
    from appliance.mux import write_fd

    return functools.partial(write_fd, fd)


def _session(sock: socket.socket, reconnect, command: str) -> int:
    transport = _ssh_transport(sock, reconnect)
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


def _ssh_transport(sock: socket.socket, reconnect, attempts: int = 3, banner_timeout: float = 15.0):
    """SSH begun over ``sock``; a stream that ends before SSH has begun (the agent's relay
    connection replaced meanwhile, as when coderd restarts) is opened again by
    ``reconnect()``, which waits for the agent, a few times. An agent that holds the stream
    open without beginning SSH for ``banner_timeout`` (paramiko's wait) is said at once:
    trying again would only wait as long again."""
    import paramiko

    from appliance.sdk.relay import SSH_CIPHERS

    attempt = 1
    while True:
        transport = paramiko.Transport(sock)
        transport.banner_timeout = banner_timeout
        transport.get_security_options().ciphers = SSH_CIPHERS
        try:
            transport.start_client(timeout=30)
            transport.auth_none(os.environ.get("USER", "coder"))
            return transport
        except (EOFError, paramiko.SSHException) as exc:
            transport.close()
            # paramiko's words for a stream that closed (EOFError) or went silent (a
            # timeout) before its banner, with the cause as the context; an end in the key
            # exchange is an EOFError. Anything else (no common cipher...) is no better
            # tried again.
            banner = str(exc).startswith("Error reading SSH protocol banner")
            if banner and isinstance(exc.__context__, TimeoutError):
                raise CommandError(f"SSH to the workspace failed: the agent did not begin SSH "
                                   f"within {banner_timeout:g} s.") from None
            if not (isinstance(exc, EOFError) or banner):
                raise CommandError(f"SSH to the workspace failed: {exc}") from exc
            if attempt == attempts:
                raise CommandError(f"SSH to the workspace failed: the agent closed the "
                                   f"connection before SSH began ({attempts} tries).") from None
        log.debug("the stream to the agent ended before SSH began; opening another")
        time.sleep(0.5 * attempt)
        attempt += 1
        sock = reconnect()


def _piped(channel) -> int:
    def upload() -> None:
        try:
            while data := os.read(0, 65536):
                channel.sendall(data)
        except OSError:
            pass
        channel.shutdown_write()

    threading.Thread(target=upload, daemon=True).start()
    err = threading.Thread(target=_copy, args=(functools.partial(channel.recv_stderr, 65536),
                                                 _writer(2)), daemon=True)
    err.start()
    _copy(functools.partial(channel.recv, 65536), _writer(1))
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


def _copy(read, write) -> None:
    while data := read():
        write(data)


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
        _copy(functools.partial(channel.recv, 65536), _writer(1))
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
    return _exit_status(channel)
