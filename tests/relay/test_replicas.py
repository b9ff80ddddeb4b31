"""Streams that land on a coderd process not holding the agent are forwarded to the one that does:
two gunicorn workers of one coderd, and two coderd processes sharing one database."""
from __future__ import annotations

import os
import signal
import threading
import time

import psycopg2
import pytest

from appliance.sdk import relay
from appliance.sdk.client import APIError

from tests.kit.coderd import start_coderd
from tests.kit.relay import AgentProcess, agent_row_status, build_workspace, coder, wait_connected


def echo_through(client, agent_id, port: int, size: int = 200_000) -> None:
    payload = os.urandom(size)
    stream = relay.dial(client, agent_id, f"tcp:{port}")
    try:
        # Both directions at once, as in SSH.
        threading.Thread(target=stream.sendall, args=(payload,), daemon=True).start()
        got = b""
        while len(got) < size:
            chunk = stream.recv(65536)
            assert chunk, f"stream ended after {len(got)} bytes"
            got += chunk
        assert got == payload, "bytes reordered or corrupted on the way"
    finally:
        stream.close()


def relay_rows(dsn: str) -> tuple[list, list]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, address FROM relay_processes ORDER BY started_at")
        processes = cur.fetchall()
        cur.execute("SELECT agent_id, process_id FROM relay_agents")
        agents = cur.fetchall()
    conn.close()
    return processes, agents


def test_two_gunicorn_workers(pg_server, pg_template, provider_mirror, tmp_path, echo_server):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    c = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1", "CODER_HTTP_WORKERS": "2",
                               "CODER_AGENT_STATS_REFRESH_INTERVAL": "2s"})
    agent = None
    try:
        ws = build_workspace(c, tmp_path)
        agent = AgentProcess(c.url, ws.token, tmp_path).start()
        wait_connected(ws.owner, ws.agent_id)
        # Streams open on whichever worker accepts them; open enough, some at once, that
        # both workers serve some. Every one must reach the agent.
        threads = [threading.Thread(target=echo_through, args=(ws.owner, ws.agent_id, echo_server))
                   for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for _ in range(12):
            echo_through(ws.owner, ws.agent_id, echo_server, 1000)
            assert echo_server in [p.port for p in relay.listening_ports(ws.owner, ws.agent_id).ports]
        r = coder(ws, "ssh", ws.name, "--", "echo via $GREETING")
        assert r.returncode == 0 and r.stdout == b"via hello from the manifest\n", r.stderr
        processes, agents = relay_rows(dsn)
        assert [a[0] for a in agents] == [ws.agent_id] and len(processes) == 1
        # This agent reports no stats: only the relay's batched write keeps it connected.
        time.sleep(5)
        assert ws.owner.workspace_agent(ws.agent_id).status == "connected"
        log = c.log()
        assert "forwarded to the process at" in log  # some streams landed on the other worker
        assert "Traceback" not in log, log[-3000:]
        # Stopped with the agent still connected: each worker lets its agents go at
        # once rather than wait for them through gunicorn's graceful timeout (10 s).
        started = time.monotonic()
        c.stop()
        assert time.monotonic() - started < 5
        assert agent_row_status(dsn, ws.agent_id) == "disconnected"
    finally:
        if agent:
            agent.stop()
        c.stop()


def test_two_coderd_processes_on_one_database(pg_server, pg_template, provider_mirror, tmp_path,
                                              echo_server):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    a = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1"})
    b = start_coderd(dsn)
    agent = None
    try:
        ws = build_workspace(a, tmp_path)
        on_b = b.client(ws.owner.token)
        agent = AgentProcess(a.url, ws.token, tmp_path).start()
        wait_connected(ws.owner, ws.agent_id)
        # The agent is held by a; clients of b are forwarded to a.
        wait_connected(on_b, ws.agent_id)
        echo_through(on_b, ws.agent_id, echo_server, 3_000_000)
        (ws.config_dir / "url").write_text(b.url)
        r = coder(ws, "ssh", ws.name, "--", "head -c 2000000 /dev/zero", timeout=60)
        assert r.returncode == 0 and r.stdout == bytes(2_000_000), r.stderr
        processes, agents = relay_rows(dsn)
        assert len(processes) == 1 and agents == [(ws.agent_id, processes[0][0])]

        # The agent moves to b: b registers, and a's clients now reach it through b.
        agent.stop()
        agent = AgentProcess(b.url, ws.token, tmp_path).start()
        wait_connected(ws.owner, ws.agent_id)
        echo_through(ws.owner, ws.agent_id, echo_server)
        processes, agents = relay_rows(dsn)
        assert len(processes) == 2 and agents[0][1] == processes[1][0]

        # b dies without cleaning up: a's clients get 502 at once (its address refuses),
        # and b's rows expire, so nothing stale remains.
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        with pytest.raises(APIError) as err:
            relay.listening_ports(ws.owner, ws.agent_id)
        assert err.value.status == 502
        agent.stop()
        agent = AgentProcess(a.url, ws.token, tmp_path).start()
        wait_connected(ws.owner, ws.agent_id)
        deadline = time.monotonic() + 30
        while len(relay_rows(dsn)[0]) != 1:
            assert time.monotonic() < deadline, relay_rows(dsn)
            time.sleep(0.5)
        for c in (a, b):
            assert "Traceback" not in c.log(), c.log()[-3000:]
    finally:
        if agent:
            agent.stop()
        b.stop()
        a.stop()


def test_two_coderd_processes_over_relay_tls(pg_server, pg_template, provider_mirror, tmp_path,
                                             echo_server):
    """Each replica presents its own certificate from the appliance CA; streams forwarded
    between them (both directions, and SSH's end of output) go through TLS."""
    from mirror_tools.ca import CertificateAuthority

    ca = CertificateAuthority.init(tmp_path / "ca")
    bundle = ca.bundle(tmp_path / "ca.pem")

    def relay_tls(name: str) -> dict:
        cert = ca.issue(ips=["127.0.0.1"], name=name)
        return {"CODER_RELAY_TLS_CERT_FILE": str(cert.chain_path),
                "CODER_RELAY_TLS_KEY_FILE": str(cert.key_path),
                "CODER_RELAY_TLS_CA_FILE": str(bundle)}
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    a = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1", **relay_tls("relay-a")})
    b = start_coderd(dsn, env=relay_tls("relay-b"))
    agent = None
    try:
        ws = build_workspace(a, tmp_path)
        on_b = b.client(ws.owner.token)
        agent = AgentProcess(a.url, ws.token, tmp_path).start()
        wait_connected(on_b, ws.agent_id)
        echo_through(on_b, ws.agent_id, echo_server, 1_000_000)
        (ws.config_dir / "url").write_text(b.url)
        r = coder(ws, "ssh", ws.name, "--", "head -c 500000 /dev/zero", timeout=60)
        assert r.returncode == 0 and r.stdout == bytes(500_000), r.stderr
        assert "forwarded to the process at" in b.log()
        for c in (a, b):  # nothing refused, nothing crashed
            log = c.log()
            assert "Traceback" not in log and "forwarded stream from" not in log, log[-3000:]
    finally:
        if agent:
            agent.stop()
        b.stop()
        a.stop()


def test_agents_arriving_together_at_a_fresh_process_are_all_held(pg_server, pg_template, tmp_path):
    """The first agent starts the process's relay listener and registers the process; agents
    arriving meanwhile wait for that row, which theirs name (they failed with a foreign key
    violation, and were refused: found by bench/scaletest.py). The test holds the process's
    registration back (a SHARE lock lets the foreign key checks through, not the insert)."""
    from agent import relay as agent_relay
    from appliance import wsframes

    from tests.kit.agent import add_agent, wait_for, workspace_with_agent
    from tests.kit.coderd import create_first_user
    from tests.kit.provisioning import sql

    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    c = start_coderd(dsn)
    sessions = []
    lock = psycopg2.connect(dsn)
    try:
        owner, _ = create_first_user(c)
        ws, first = workspace_with_agent(owner, dsn)
        tokens = [first.token] + [add_agent(dsn, ws.latest_build.job.id, name=f"a{i}").token
                                  for i in range(4)]
        server = agent_relay.StreamServer(host_key_path=tmp_path / "host_key", env={})
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE relay_processes IN SHARE MODE")

        def connect(token):
            session = agent_relay.serve_session(wsframes.client_stream(
                agent_relay.connect(c.url, str(token))), server)
            sessions.append(session)
            session.serve()

        threading.Thread(target=connect, args=(tokens[0],), daemon=True).start()
        wait_for(lambda: sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
                                  " = 'Lock' AND datname = current_database()")[0][0],
                 what="the registration waiting on the lock")
        for token in tokens[1:]:
            threading.Thread(target=connect, args=(token,), daemon=True).start()
        wait_for(lambda: len(sessions) == len(tokens), what="every agent's websocket")
        lock.rollback()  # the registration goes on
        wait_for(lambda: len(relay_rows(dsn)[1]) == len(tokens) or "Traceback" in c.log(),
                 what="every agent held")
        processes, agents = relay_rows(dsn)
        assert len(agents) == len(tokens) and len(processes) == 1, c.log()[-3000:]
        assert not any(s.closed for s in sessions)
        assert "Traceback" not in c.log(), c.log()[-3000:]
    finally:
        lock.close()
        for s in sessions:
            s.close()
        c.stop()
