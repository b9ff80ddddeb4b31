"""``coder ping WS``: round trips to the workspace's agent, as Coder's ping.

Coder pings over its tailnet (a direct path, or its DERP relays); here every
connection goes through coderd's relay, so each ping is one round trip from
this CLI through coderd to the agent and back (the agent's listening-ports
answer: the smallest request the agent serves), timed. The lines keep Coder's
shape: ``pong from WS proxied via coderd relay in 12.3ms``.

Through a workspace proxy (``--region``, as ``coder ssh`` picks it), which serves
streams and not the API, a ping is a stream opened through it to the agent's SSH
server, timed to the server's first bytes; the first line names the region and its
measured latency.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time


from appliance.sdk.client import APIError
from appliance.sdk.relay import dial, listening_ports, resolve_agent

from .. import connect, regions
from ..base import CommandError


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Ping a workspace."
    p.add_argument("workspace", metavar="[OWNER/]WORKSPACE[.AGENT]")
    p.add_argument("-n", "--num", type=int, default=10,
                   help="Specifies the number of pings to perform (default: 10).")
    p.add_argument("-t", "--timeout", type=float, default=5.0,
                   help="Specifies how long to wait for a ping to complete, in seconds "
                        "(default: 5).")
    p.add_argument("--wait", type=float, default=1.0,
                   help="Specifies how long to wait between pings, in seconds (default: 1).")
    regions.add_option(p)
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    if args.num < 1:
        raise CommandError("--num must be at least 1", code=2)
    client = connect.client(args)
    client.timeout = args.timeout
    workspace, agent = resolve_agent(client, args.workspace)
    if agent.status != "connected":
        raise CommandError(f"the agent of {workspace.name!r} is {agent.status}",
                           hint=f"Is the workspace started? coder start {workspace.name}")
    region = regions.choose(args, client.url, client.token)
    print(f"Region: {region.display_name} ({region.name}), "
          + (f"latency {duration(region.latency)}" if region.healthy else region.problem))
    via = f"workspace proxy {region.name}" if region.proxy_url else "coderd relay"
    rtts: list[float] = []
    for i in range(args.num):
        if i:
            time.sleep(args.wait)
        began = time.monotonic()
        try:
            _round_trip(client, agent.id, region.proxy_url)
        except (APIError, OSError) as exc:  # requests' errors are OSErrors
            print(f"ping to {workspace.name!r} failed: {connect.translate(exc).message}",
                  file=sys.stderr)
            continue
        rtts.append(time.monotonic() - began)
        print(f"pong from {workspace.name} proxied via {via} in {duration(rtts[-1])}")
    if not rtts:
        raise CommandError(f"no pong from {workspace.name!r} in {args.num} pings")
    print(f"\n{args.num} pings, {len(rtts)} pongs: min {duration(min(rtts))}, "
          f"avg {duration(statistics.mean(rtts))}, max {duration(max(rtts))}")
    print(f"✔ You are connected through {via} (every connection is relayed, on this "
          "deployment: there are no direct connections).")
    return 0


def _round_trip(client, agent_id, proxy_url: str) -> None:
    """The smallest request the agent answers: through coderd's API, or through the proxy
    a stream to its SSH server until the server's greeting."""
    if not proxy_url:
        listening_ports(client, agent_id)
        return
    with dial(client, agent_id, "ssh", proxy_url) as stream:
        if stream.recv(8) != b"SSH-2.0-":
            raise ConnectionError("the agent's SSH server did not greet")


def duration(seconds: float) -> str:
    """Go's time.Duration text, to microseconds: ``850µs``, ``12.345ms``, ``1.2s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
