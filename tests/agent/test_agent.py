"""A real agent process against a real coderd: manifest, lifecycle, scripts and their
logs, metadata, app health, stats, and what coderd shows of it."""
from __future__ import annotations

from ..agenttest import start_agent, wait_for, workspace_with_agent


def test_scripts_run_with_the_workspace_env_and_reach_ready(agent_coderd, agent_owner, tmp_path):
    home = tmp_path / "project"
    ws, row = workspace_with_agent(
        agent_owner, agent_coderd.dsn, directory=str(home), env={"GREETING": "hi"},
        scripts=[{"display_name": "Startup", "script": "mkdir -p $CODER_WORKSPACE_AGENT_NAME; "
                  "echo \"$GREETING from $CODER_WORKSPACE_NAME in $(pwd) coder=$CODER "
                  "token=${CODER_AGENT_TOKEN:-none}\"; echo to-stderr >&2",
                  "start_blocks_login": True}])
    home.mkdir()
    agent = start_agent(agent_coderd.url, row.token)
    try:
        got = wait_for(lambda: (a := agent_owner.workspace_agent(row.id)).lifecycle_state == "ready"
                       and a, 30, what=f"ready; agent log:\n{agent.log()}")
        assert got.status == "connected"
        assert got.version and got.expanded_directory == str(home)
        assert got.started_at <= got.ready_at
        logs = wait_for(lambda: [entry.output for entry in agent_owner.workspace_agent_logs(row.id)
                                 if entry.source_id == row.script_sources["Startup"]], 10)
        assert f"hi from {ws.name} in {home} coder=true token=none" in logs
        assert "to-stderr" in logs
        assert (home / "main").is_dir()
        workspace = agent_owner.workspace(ws.id)
        (listed,) = [a for r in workspace.latest_build.resources for a in r.agents]
        assert listed.status == "connected" and listed.lifecycle_state == "ready"
    finally:
        assert agent.stop() == 0
    assert agent_owner.workspace_agent(row.id).lifecycle_state == "off"
