"""A real agent process against a real coderd: manifest, lifecycle, scripts and their
logs, metadata, app health, stats, and what coderd shows of it."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import pytest
import requests

from appliance import buildinfo

from tests.kit.agent import start_agent, wait_for, workspace_with_agent
from tests.kit.provisioning import sql


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
        assert got.version == buildinfo.version() and got.expanded_directory == str(home)
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


def test_a_failing_blocking_script_is_start_error(agent_coderd, agent_owner):
    _, row = workspace_with_agent(agent_owner, agent_coderd.dsn, scripts=[
        {"display_name": "ok", "script": "echo fine"},
        {"display_name": "broken", "script": "echo about to fail; exit 3",
         "start_blocks_login": True}])
    agent = start_agent(agent_coderd.url, row.token)
    try:
        wait_for(lambda: agent_owner.workspace_agent(row.id).lifecycle_state == "start_error", 30,
                 what="start_error")
        got = agent_owner.workspace_agent(row.id)
        assert got.status == "connected" and not got.health.healthy
        assert "start_error" in got.health.reason
        lines = wait_for(lambda: [entry.output for entry in agent_owner.workspace_agent_logs(row.id)
                                  if entry.source_id == row.script_sources["broken"]
                                  and entry.level == "error"], 10)
        assert any("exited with status 3" in line for line in lines)
    finally:
        agent.stop()


def test_a_script_past_its_timeout_is_killed_and_start_timeout(agent_coderd, agent_owner):
    _, row = workspace_with_agent(agent_owner, agent_coderd.dsn, scripts=[
        {"display_name": "slow", "script": "sleep 60", "timeout": 1}])
    agent = start_agent(agent_coderd.url, row.token)
    try:
        wait_for(lambda: agent_owner.workspace_agent(row.id).lifecycle_state == "start_timeout",
                 30, what="start_timeout")
    finally:
        agent.stop()


# codersdk.AgentScriptTiming, every field as Coder marshals it.
AGENT_SCRIPT_TIMING = {"started_at", "ended_at", "exit_code", "stage", "status", "display_name",
                       "workspace_agent_id", "workspace_agent_name"}


def _script_timings(coderd, owner, ws) -> list[dict]:
    resp = requests.get(f"{coderd.url}/api/v2/workspacebuilds/{ws.latest_build.id}/timings",
                        headers={"Coder-Session-Token": owner.token}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["agent_script_timings"]


def test_each_script_run_reaches_the_builds_timings(agent_coderd, agent_owner):
    ws, row = workspace_with_agent(agent_owner, agent_coderd.dsn, scripts=[
        {"display_name": "fine", "script": "echo fine"},
        {"display_name": "broken", "script": "exit 3"},
        {"display_name": "slow", "script": "sleep 60", "timeout": 1},
        {"display_name": "leaky", "script": "sleep 30 & echo started"},
        {"display_name": "goodbye", "script": "echo bye", "run_on_start": False,
         "run_on_stop": True}])
    agent = start_agent(agent_coderd.url, row.token)
    try:
        start = wait_for(lambda: len(t := _script_timings(agent_coderd, agent_owner, ws)) == 4
                         and t, 30, what=f"four start scripts' runs; agent log:\n{agent.log()}")
    finally:
        assert agent.stop() == 0
    assert all(set(t) == AGENT_SCRIPT_TIMING and t["workspace_agent_id"] == str(row.id)
               and t["workspace_agent_name"] == "main" and t["stage"] == "start" for t in start)
    assert {t["display_name"]: (t["exit_code"], t["status"]) for t in start} == {
        "fine": (0, "ok"), "broken": (3, "exit_failure"), "slow": (-1, "timed_out"),
        "leaky": (0, "pipes_left_open")}
    slow = next(t for t in start if t["display_name"] == "slow")
    took = dt.datetime.fromisoformat(slow["ended_at"]) - dt.datetime.fromisoformat(slow["started_at"])
    assert dt.timedelta(seconds=1) <= took < dt.timedelta(seconds=30)
    (stop,) = [t for t in _script_timings(agent_coderd, agent_owner, ws) if t["stage"] == "stop"]
    assert (stop["display_name"], stop["exit_code"], stop["status"]) == ("goodbye", 0, "ok")


def test_an_agent_reports_only_its_own_scripts(agent_coderd, agent_owner):
    _, mine = workspace_with_agent(agent_owner, agent_coderd.dsn)
    _, theirs = workspace_with_agent(agent_owner, agent_coderd.dsn, scripts=[
        {"display_name": "theirs", "script": "true"}])
    ((script_id,),) = sql(agent_coderd.dsn, "SELECT id FROM workspace_agent_scripts "
                                            "WHERE workspace_agent_id = %s", (str(theirs.id),))
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    body = {"timing": {"script_id": str(script_id), "start": now, "end": now, "exit_code": 0,
                       "stage": "start", "status": "ok"}}
    url = f"{agent_coderd.url}/api/v2/workspaceagents/me/script-completed"
    for token, status in ((str(mine.token), 404), ("", 401), (str(theirs.token), 204),
                          (str(theirs.token), 204)):  # a retried report is taken again
        resp = requests.post(url, json=body, timeout=10, headers={"Coder-Session-Token": token})
        assert resp.status_code == status, resp.text
    bad = requests.post(url, timeout=10, headers={"Coder-Session-Token": str(theirs.token)},
                        json={"timing": {**body["timing"], "stage": "later"}})
    assert bad.status_code == 400 and "stage" in bad.text
    assert sql(agent_coderd.dsn, "SELECT count(*) FROM workspace_agent_script_timings "
                                 "WHERE script_id = %s", (str(script_id),)) == [(1,)]


class _Toggle(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if _Toggle.healthy else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def app_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Toggle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Toggle.healthy = True
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _first_metadata_event(coderd, owner, agent_id, predicate, timeout=20.0):
    """Read watch-metadata's server-sent events until one satisfies ``predicate``."""
    with requests.get(f"{coderd.url}/api/v2/workspaceagents/{agent_id}/watch-metadata",
                      headers={"Coder-Session-Token": owner.token}, stream=True,
                      timeout=timeout) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        event = ""
        for line in resp.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "data":
                items = {m["description"]["key"]: m["result"] for m in json.loads(line[6:])}
                if predicate(items):
                    return items
    raise AssertionError("the event stream ended")


def test_metadata_app_health_and_stats_reach_coderd(agent_coderd, agent_owner, app_server):
    _, row = workspace_with_agent(
        agent_owner, agent_coderd.dsn,
        apps=[{"slug": "web", "url": app_server, "healthcheck_url": app_server + "/healthz",
               "interval": 1, "threshold": 2}],
        metadata=[{"key": "who", "script": "echo $CODER_WORKSPACE_AGENT_NAME", "interval": 1},
                  {"key": "bad", "script": "echo oops; exit 4", "interval": 1},
                  {"key": "slow", "script": "sleep 30", "interval": 5, "timeout": 1}])
    agent = start_agent(agent_coderd.url, row.token)
    try:
        def app_health():
            return agent_owner.workspace_agent(row.id).apps[0].health
        assert app_health() in ("initializing", "healthy")
        wait_for(lambda: app_health() == "healthy", 20, what="healthy app")
        _Toggle.healthy = False
        wait_for(lambda: app_health() == "unhealthy", 20, what="unhealthy app")
        _Toggle.healthy = True
        wait_for(lambda: app_health() == "healthy", 20, what="healthy again")

        items = _first_metadata_event(agent_coderd, agent_owner, row.id,
                                      lambda m: m["who"]["value"] and m["bad"]["error"]
                                      and m["slow"]["error"])
        assert items["who"] == {**items["who"], "value": "main", "error": ""}
        assert items["bad"]["value"] == "oops" and items["bad"]["error"] == "exit status 4"
        assert "timed out" in items["slow"]["error"]

        reports = wait_for(lambda: (n := sql(agent_coderd.dsn, "SELECT count(*) FROM "
                                             "workspace_agent_stats WHERE agent_id = %s",
                                             (str(row.id),))[0][0]) >= 3 and n, 10)
        assert reports >= 3  # about one a heartbeat
    finally:
        agent.stop()
