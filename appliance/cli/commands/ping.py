"""``coder ping WS``: round trips to the workspace's agent, as Coder's ping.

Coder pings over its tailnet (a direct path, or its DERP relays); here every
connection goes through coderd's relay, so each ping is one round trip from
this CLI through coderd to the agent and back (the agent's listening-ports
answer: the smallest request the agent serves), timed. The lines keep Coder's
shape: ``pong from WS proxied via coderd relay in 12.3ms``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import requests

from appliance.sdk.client import APIError
from appliance.sdk.relay import listening_ports, resolve_agent

from .. import connect
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
    rtts: list[float] = []
    for i in range(args.num):
        if i:
            time.sleep(args.wait)
        began = time.monotonic()
        try:
            listening_ports(client, agent.id)
        except (APIError, requests.RequestException) as exc:
            print(f"ping to {workspace.name!r} failed: {connect.translate(exc).message}",
                  file=sys.stderr)
            continue
        rtts.append(time.monotonic() - began)
        print(f"pong from {workspace.name} proxied via coderd relay in {duration(rtts[-1])}")
    if not rtts:
        raise CommandError(f"no pong from {workspace.name!r} in {args.num} pings")
    print(f"\n{args.num} pings, {len(rtts)} pongs: min {duration(min(rtts))}, "
          f"avg {duration(statistics.mean(rtts))}, max {duration(max(rtts))}")
    print("✔ You are connected through coderd's relay (every connection is, on this "
          "deployment: there are no direct connections).")
    return 0


def duration(seconds: float) -> str:
    """Go's time.Duration text, to microseconds: ``850µs``, ``12.345ms``, ``1.2s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
