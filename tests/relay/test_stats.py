"""What passes through the agent's relay is counted in the stats the agent reports."""
from __future__ import annotations

import socket
import threading

from agent import relay, stats
from appliance import mux

from tests.kit.transport import PairStream


def test_relay_feeds_agent_stats(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))

    def echo_once():
        conn, _ = listener.accept()
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    threading.Thread(target=echo_once, daemon=True).start()
    a, b = socket.socketpair()
    server = relay.StreamServer({}, host_key_path=tmp_path / "host_key")
    agent_side = relay.serve_session(PairStream(b), server, keepalive=0)
    coderd_side = mux.Session(PairStream(a), name="coderd", keepalive=0)
    for s in (agent_side, coderd_side):
        threading.Thread(target=s.serve, daemon=True).start()
    stats.COUNTERS.take()  # start from zero
    try:
        stream = coderd_side.open(f"tcp:{listener.getsockname()[1]}")
        stream.sendall(b"x" * 100_000)
        got = 0
        while got < 100_000:
            got += len(stream.recv())
        stream.close()
        ssh = coderd_side.open("ssh")
        assert ssh.recv().startswith(b"SSH-2.0-")
        ssh.close()
        report = stats.COUNTERS.take()
        assert report.connections_by_proto == {"tcp": 1, "ssh": 1}
        assert report.connection_count == 2 and report.session_count_ssh == 1
        assert report.rx_bytes == 100_000 and report.tx_bytes >= 100_000 + len(b"SSH-2.0-")
        assert report.rx_packets > 0 and report.tx_packets > 0
    finally:
        coderd_side.close()
        agent_side.close()
        server.close()
        listener.close()
