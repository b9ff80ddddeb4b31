"""What coderd shows of an agent's connection, and how the agent rides out faults:
SIGKILL and restart, coderd restarting under it, wrong and revoked tokens."""
from __future__ import annotations

import signal
import time
import uuid

import requests

from appliance.sdk import types

from tests.kit.agent import HEARTBEAT, add_agent, start_agent, wait_for, workspace_with_agent


def _state(owner, agent_id) -> tuple[str, str]:
    agent = owner.workspace_agent(agent_id)
    return agent.status, agent.lifecycle_state


def test_sigkill_shows_disconnected_within_two_heartbeats_and_restart_is_ready(
        agent_coderd, agent_owner):
    ws, row = workspace_with_agent(agent_owner, agent_coderd.dsn,
                                   scripts=[{"display_name": "s", "script": "echo up"}])
    agent = start_agent(agent_coderd.url, row.token)
    wait_for(lambda: _state(agent_owner, row.id) == ("connected", "ready"), 30, what="ready")
    agent.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: _state(agent_owner, row.id)[0] == "disconnected", 10, interval=0.05,
             what="disconnected")
    # Two heartbeats since the last one heard, plus the poll and a request's slack.
    assert time.monotonic() - killed <= 2 * HEARTBEAT + 1.0
    got = agent_owner.workspace_agent(row.id)
    assert got.disconnected_at is not None and not got.health.healthy
    (listed,) = [a for r in agent_owner.workspace(ws.id).latest_build.resources for a in r.agents]
    assert listed.status == "disconnected"

    again = start_agent(agent_coderd.url, row.token)
    try:
        wait_for(lambda: _state(agent_owner, row.id) == ("connected", "ready"), 30,
                 what="ready again")
    finally:
        again.stop()


def test_agent_reconnects_when_coderd_restarts(coderd_factory, tmp_path):
    from tests.kit.coderd import create_first_user

    env = {"CODER_AGENT_STATS_REFRESH_INTERVAL": f"{HEARTBEAT}s"}
    first = coderd_factory(env=env)
    owner, _ = create_first_user(first)
    _, row = workspace_with_agent(owner, first.dsn)
    agent = start_agent(first.url, row.token)
    try:
        wait_for(lambda: _state(owner, row.id) == ("connected", "ready"), 30, what="ready")
        address = first.url.removeprefix("http://")
        first.stop()
        time.sleep(3 * HEARTBEAT)  # the agent's reports fail meanwhile
        second = coderd_factory(env={**env, "CODER_HTTP_ADDRESS": address,
                                     "CODER_ACCESS_URL": first.url}, dsn=first.dsn)
        restarted = time.monotonic()
        owner.url = second.url
        wait_for(lambda: _state(owner, row.id)[0] == "connected", 20, interval=0.1,
                 what="connected after the restart")
        assert time.monotonic() - restarted < 15  # within the backoff cap
        assert agent.proc.poll() is None
        assert "retrying" in agent.log()
    finally:
        agent.stop()


def test_wrong_token_gets_401_and_the_agent_keeps_retrying(agent_coderd, agent_owner):
    resp = requests.get(f"{agent_coderd.url}/api/v2/workspaceagents/me/manifest",
                        headers={"Coder-Session-Token": str(uuid.uuid4())}, timeout=10)
    assert resp.status_code == 401
    assert "no agent has it" in resp.json()["message"]
    agent = start_agent(agent_coderd.url, uuid.uuid4())
    try:
        wait_for(lambda: "coderd refused the agent token (401" in agent.log(), 15,
                 what=f"a clear 401 error in the agent log:\n{agent.log()}")
        time.sleep(1)
        assert agent.proc.poll() is None  # it waits for a good token, slowly
        assert agent.log().count("refused the agent token") == 1
    finally:
        assert agent.stop() == 0


def test_a_stopped_or_deleted_workspace_revokes_the_token(agent_coderd, agent_owner):
    ws, row = workspace_with_agent(agent_owner, agent_coderd.dsn)
    headers = {"Coder-Session-Token": str(row.token)}
    manifest_url = f"{agent_coderd.url}/api/v2/workspaceagents/me/manifest"
    assert requests.get(manifest_url, headers=headers, timeout=10).status_code == 200
    build = agent_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    # While the stop build runs, the agent may still report (shutting_down, off).
    lifecycle = {"state": "off", "changed_at": "2024-01-01T00:00:00Z"}
    assert requests.post(f"{agent_coderd.url}/api/v2/workspaceagents/me/report-lifecycle",
                         json=lifecycle, headers=headers, timeout=10).status_code == 204
    from tests.kit.provisioning import complete_job
    complete_job(agent_coderd.dsn, build.job.id)
    resp = requests.get(manifest_url, headers=headers, timeout=10)
    assert resp.status_code == 401 and "revoked" in resp.json()["message"]
    # The next start build's agent, with the same token (Terraform keeps it), works again.
    start = agent_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="start"))
    complete_job(agent_coderd.dsn, start.job.id)
    new = add_agent(agent_coderd.dsn, start.job.id, token=row.token)
    manifest = requests.get(manifest_url, headers=headers, timeout=10).json()
    assert manifest["agent_id"] == str(new.id)


def test_an_agent_never_heard_from_times_out(agent_coderd, agent_owner):
    _, row = workspace_with_agent(agent_owner, agent_coderd.dsn, connection_timeout=1)
    assert agent_owner.workspace_agent(row.id).status == "connecting"
    wait_for(lambda: agent_owner.workspace_agent(row.id).status == "timeout", 10, what="timeout")
