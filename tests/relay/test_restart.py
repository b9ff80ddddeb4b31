"""coderd restarted under a live SSH session: the session ends cleanly, the agent shows as
disconnected while coderd is down, and a new session, started at once, waits for the agent
to reconnect and works within seconds."""
from __future__ import annotations

import os
import signal
import time

from tests.kit import process
from tests.kit.agent import remote_sleepers
from tests.kit.coderd import start_coderd
from tests.kit.relay import AgentProcess, agent_row_status, build_workspace, coder, ssh_running, wait_connected


def test_coderd_restart_under_a_live_ssh_session(pg_server, pg_template, provider_mirror, tmp_path):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    env = {"CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_PROVISIONER_DAEMONS": "1"}
    c = start_coderd(dsn, env=env)
    agent = session = None
    try:
        ws = build_workspace(c, tmp_path)
        agent = AgentProcess(c.url, ws.token, tmp_path).start()
        wait_connected(ws.owner, ws.agent_id)
        marker = f"sleep 86399.{os.getpid()}"
        session = ssh_running(ws, marker)

        c.stop()  # SIGTERM, as a service manager restarts it
        assert agent_row_status(dsn, ws.agent_id) == "disconnected"
        c = start_coderd(dsn, env={**env, "CODER_HTTP_ADDRESS": c.env["CODER_HTTP_ADDRESS"],
                                   "CODER_ACCESS_URL": c.url})
        # The session ends (no hang) with an error, not a traceback; its command is gone
        # (as in Coder, a command ends with its session).
        _, err = session.communicate(timeout=20)
        assert session.returncode != 0 and b"Traceback" not in err, err
        deadline = time.monotonic() + 10
        while remote_sleepers(marker):
            assert time.monotonic() < deadline, f"outlived its session: {remote_sleepers(marker)}"
            time.sleep(0.2)

        # A new session at once: as Coder's, it waits for the agent to reconnect by itself.
        started = time.monotonic()
        r = coder(ws, "ssh", ws.name, "--", "echo again")
        assert r.returncode == 0 and r.stdout == b"again\n", r.stderr
        assert time.monotonic() - started < 15
        wait_connected(ws.owner, ws.agent_id, timeout=5)
    finally:
        process.stop(session, signal.SIGKILL)
        if agent:
            agent.stop()
        c.stop()

