"""A connection between relay ends (a stream forwarded to the replica holding the agent, or
from a workspace proxy) whose peer is lost without closing: a host down, a cable pulled.

Nothing arrives to say so, and an idle stream (a shell waiting for input) would wait for as
long as TCP keeps an idle connection: hours. ``registry.tune`` gives such a connection the
database's limits; here a real lost peer (its namespace's link cut, so what is sent to it
goes unanswered) shows a tuned connection ending within seconds and an untuned one still
waiting. (tests/cluster/test_cluster.py checks the same through the real replicas.)"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ..hosts import HostNetwork
from ..kit.agent import REPO

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

LISTENER = """
import socket, time
server = socket.create_server(("0.0.0.0", 7000))
print("listening", flush=True)
held = [server.accept()[0] for _ in range(2)]
time.sleep(600)
"""
DIALER = """
import socket, sys, time
from server.relay.registry import tune
sock = socket.create_connection((sys.argv[1], 7000), timeout=10)
sock.settimeout(None)
if sys.argv[2] == "tuned":
    tune(sock)
print("connected", flush=True)
sys.stdin.readline()  # the peer is lost now
start = time.monotonic()
try:
    sock.recv(1)
    print("closed", flush=True)
except OSError as exc:
    print(f"{type(exc).__name__} after {time.monotonic() - start:.1f} s", flush=True)
"""


def test_a_tuned_connection_to_a_lost_peer_ends_within_seconds():
    with HostNetwork() as net:
        far, far_address = net.add(1)
        near, _ = net.add(2)
        listener = subprocess.Popen(net.exec(far, [sys.executable, "-c", LISTENER]),
                                    stdout=subprocess.PIPE, text=True)
        dialers = {}
        try:
            assert listener.stdout.readline().strip() == "listening"
            for kind in ("tuned", "untuned"):
                dialers[kind] = subprocess.Popen(
                    net.exec(near, [sys.executable, "-c", DIALER, far_address, kind]), cwd=REPO,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                assert dialers[kind].stdout.readline().strip() == "connected"
            net.unplug(far)
            for dialer in dialers.values():
                dialer.stdin.write("lost\n")
                dialer.stdin.flush()
            start = time.monotonic()
            ended = dialers["tuned"].stdout.readline().strip()
            waited = time.monotonic() - start
            # Probes after 5 s idle, 2 s apart, 3 unanswered; the user timeout (15 s) caps it.
            assert ended.startswith("TimeoutError") and waited < 25, (ended, waited)
            assert dialers["untuned"].poll() is None, "the untuned connection ended too"
        finally:
            for proc in [listener, *dialers.values()]:
                proc.kill()
                proc.wait()
