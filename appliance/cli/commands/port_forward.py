"""``coder port-forward``: local TCP ports to ports inside a workspace, through coderd."""
from __future__ import annotations

import argparse
import signal
import socket
import threading

from appliance import streams
from appliance.sdk import relay

from .. import connect, regions
from ..base import USAGE, CommandError


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Forward local TCP ports to ports inside a workspace. Each connection is "
                     "one stream relayed through coderd, or the workspace proxy --region picks.")
    p.add_argument("workspace", metavar="[OWNER/]WORKSPACE[.AGENT]")
    p.add_argument("--tcp", "-p", action="append", default=[], metavar="[LOCAL:]REMOTE",
                   help="Forward local port LOCAL (default: REMOTE) to REMOTE (repeatable).")
    regions.add_option(p)
    connect.add_global_options(p, leaf=True)


def parse_spec(spec: str) -> tuple[int, int]:
    local, _, remote = spec.rpartition(":")
    try:
        pair = (int(local or remote), int(remote))
    except ValueError:
        raise CommandError(f"invalid --tcp {spec!r}", hint="Use LOCAL:REMOTE, e.g. 8080:80.",
                           code=USAGE) from None
    if not all(0 < p < 65536 for p in pair):
        raise CommandError(f"invalid --tcp {spec!r}: ports are 1 to 65535", code=USAGE)
    return pair


def run(args: argparse.Namespace) -> int:
    if not args.tcp:
        raise CommandError("nothing to forward", hint="Give --tcp LOCAL:REMOTE.", code=USAGE)
    pairs = [parse_spec(s) for s in args.tcp]
    client = connect.client(args)
    _, agent = relay.resolve_agent(client, args.workspace)
    region_url = regions.choose(args, client.url, client.token).proxy_url
    listeners = []
    for local, remote in pairs:
        try:
            listener = socket.create_server(("127.0.0.1", local))
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{local}: {exc.strerror}") from exc
        listeners.append(listener)
        threading.Thread(target=_accept, args=(listener, client, agent.id, remote, region_url), daemon=True).start()
        print(f"Forwarding 127.0.0.1:{local} to port {remote} in the workspace", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    return 0


def _accept(listener: socket.socket, client, agent_id, remote: int, region_url: str) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_forward, args=(conn, client, agent_id, remote, region_url), daemon=True).start()


def _forward(conn: socket.socket, client, agent_id, remote: int, region_url: str) -> None:
    try:
        stream = relay.dial(client, agent_id, f"tcp:{remote}", region_url)
    except Exception as exc:  # one failed connection must not stop the others
        print(f"port-forward: connection to port {remote} failed: {exc}", flush=True)
        conn.close()
        return
    streams.pump(conn, stream)
