"""Provisioner daemons running real terraform with the Python provider, end to end in coderd.

Jobs are queued here the way the templates and workspaces API queues them
(rows written in one transaction), so these tests cover the daemon protocol,
the runner and the state reader on their own.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from appliance.sdk.client import APIError, Client
from appliance.sdk.provisionerd import PSK_HEADER

from tests.kit.agent import wait_for
from tests.kit.coderd import create_first_user
from tests.kit.provisioning import SLOW_TEMPLATE, TEMPLATE, Rows, wait_started
from tests.kit.tools import terraform_version


@pytest.fixture
def rows(provisioning_coderd):
    client, first = create_first_user(provisioning_coderd)
    r = Rows(provisioning_coderd.dsn, first.user_id, first.organization_id)
    r.url, r.token = provisioning_coderd.url, client.token
    yield r
    r.conn.close()


def _session_of(rows, build_id) -> str:
    """The owner's session token as the build's terraform state holds it: a template
    admin reads it there."""
    state = json.loads(bytes(rows.q("SELECT provisioner_state FROM workspace_builds WHERE id = %s",
                                    (build_id,))[0]["provisioner_state"]))
    box = next(r for r in state["resources"] if r["type"] == "null_resource" and r["name"] == "box")
    return box["instances"][0]["attributes"]["triggers"]["session"]


def _works(rows, token: str) -> bool:
    try:
        Client(rows.url, token).user()
    except APIError as exc:
        assert exc.status == 401, exc
        return False
    return True


def _workspace_keys(rows, workspace_id) -> list:
    return rows.q("SELECT id FROM api_keys WHERE token_name = %s",
                  (f"{rows.owner_id}_{workspace_id}_session_token",))


def _lock_warnings(rows, job_id) -> list[str]:
    return [log["output"] for log in rows.logs(job_id)
            if "Incomplete lock file information" in log["output"]]


def test_import_then_start_stop_delete(rows):
    version_id, job_id = rows.import_version({"main.tf": TEMPLATE, "README.md": "# hi"})
    job = rows.wait(job_id)
    assert job["job_status"] == "succeeded", job["error"]
    params = rows.q("SELECT name, type, default_value, required, validation_min, validation_max, options "
                    "FROM template_version_parameters WHERE template_version_id = %s ORDER BY name",
                    (version_id,))
    assert [(p["name"], p["type"], p["default_value"], p["required"]) for p in params] == [
        ("region", "string", "", True), ("size", "number", "3", False)]
    assert params[1]["validation_min"] == 1 and params[1]["validation_max"] == 9
    assert [o["value"] for o in params[0]["options"]] == ["here", "there"]
    start = [(r["name"], r["agent"], r["apps"]) for r in rows.resources(job_id) if r["transition"] == "start"]
    assert ("box", "main", ["web"]) in start and ("home", None, None) in start
    stop = [r["name"] for r in rows.resources(job_id) if r["transition"] == "stop"]
    assert stop == ["home"]
    stages = {log["stage"] for log in rows.logs(job_id)}
    assert {"Setting up", "Initializing terraform", "Detecting persistent resources"} <= stages
    assert not _lock_warnings(rows, job_id)  # the lock file came from the mirror

    template_id = rows.template(version_id)
    workspace_id = rows.workspace(template_id)
    build_id, job_id = rows.build(workspace_id, version_id, "start", {"region": "there", "size": "5"})
    job = rows.wait(job_id)
    assert job["job_status"] == "succeeded", job["error"]
    assert not _lock_warnings(rows, job_id)
    state = json.loads(bytes(rows.q("SELECT provisioner_state FROM workspace_builds WHERE id = %s",
                                    (build_id,))[0]["provisioner_state"]))
    box = next(r for r in state["resources"] if r["type"] == "null_resource" and r["name"] == "box")
    triggers = box["instances"][0]["attributes"]["triggers"]
    assert triggers["region"] == "there" and triggers["size"] == "5" and triggers["owner"] == "admin"
    resources = rows.resources(job_id)
    agent = next(r for r in resources if r["agent"] == "main")
    assert str(agent["auth_token"]) == triggers["token"]  # the token in the state is the agent's
    assert agent["env"]["GREETING"].startswith("hi ")
    metadata = rows.q("SELECT key, value FROM workspace_resource_metadata")
    assert {"key": "size", "value": "5"} in metadata

    first_session = _session_of(rows, build_id)
    assert _works(rows, first_session) and len(_workspace_keys(rows, workspace_id)) == 1

    _, job_id = rows.build(workspace_id, version_id, "stop")
    assert rows.wait(job_id)["job_status"] == "succeeded"
    assert [r["name"] for r in rows.resources(job_id)] == ["home"]  # the persistent one stays
    # As in Coder, a stop build deletes the workspace's key (a stopped workspace needs none).
    assert not _works(rows, first_session) and _workspace_keys(rows, workspace_id) == []

    for _ in range(2):
        build_id, job_id = rows.build(workspace_id, version_id, "start")
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
    resources = rows.resources(job_id)
    assert str(next(r for r in resources if r["agent"] == "main")["auth_token"]) == triggers["token"]
    # Each start replaces the key: one is left, the latest build's.
    assert len(_workspace_keys(rows, workspace_id)) == 1 and _works(rows, _session_of(rows, build_id))

    _, job_id = rows.build(workspace_id, version_id, "delete")
    assert rows.wait(job_id)["job_status"] == "succeeded"
    assert rows.q("SELECT deleted FROM workspaces WHERE id = %s", (workspace_id,))[0]["deleted"]
    assert _workspace_keys(rows, workspace_id) == []
    assert not _works(rows, _session_of(rows, build_id))


# codersdk.ProvisionerTiming and WorkspaceBuildTimings, every field as Coder marshals them.
PROVISIONER_TIMING = {"job_id", "started_at", "ended_at", "stage", "source", "action", "resource"}
BUILD_TIMINGS = {"provisioner_timings", "agent_script_timings", "agent_connection_timings"}


def _timings(rows, path: str) -> dict:
    resp = requests.get(f"{rows.url}/api/v2{path}/timings", timeout=10,
                        headers={"Coder-Session-Token": rows.token})
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == BUILD_TIMINGS
    return resp.json()


def test_a_build_records_where_its_time_went_as_coder(rows):
    version_id, job_id = rows.import_version({"main.tf": TEMPLATE})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    workspace_id = rows.workspace(rows.template(version_id))
    build_id, job_id = rows.build(workspace_id, version_id, "start", {"region": "here"})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    got = _timings(rows, f"/workspacebuilds/{build_id}")
    assert got == _timings(rows, f"/workspaces/{workspace_id}")
    timings = got["provisioner_timings"]
    assert all(set(t) == PROVISIONER_TIMING and t["job_id"] == str(job_id) for t in timings)
    for t in timings:
        t["started_at"], t["ended_at"] = (dt.datetime.fromisoformat(t[k].replace("Z", "+00:00"))
                                          for k in ("started_at", "ended_at"))
        assert t["started_at"] <= t["ended_at"]
    spans = {(t["stage"], t["source"], t["action"], t["resource"]) for t in timings}
    # Each terraform step as a whole, as Coder's stage markers and graph span name them.
    assert {("init", "coder", "terraform", "coder_stage_init"),
            ("plan", "coder", "terraform", "coder_stage_plan"),
            ("graph", "terraform", "building terraform dependency graph", "state file"),
            ("apply", "coder", "terraform", "coder_stage_apply")} <= spans
    # Each resource's action, paired from terraform's hook messages, by its provider; a data
    # source's read during the plan only where terraform reports it (1.0 sends no message).
    assert {("apply", "coder", "create", "coder_agent.main"),
            ("apply", "coder", "create", "coder_app.web"),
            ("apply", "null", "create", "null_resource.home"),
            ("apply", "null", "create", "null_resource.box[0]")} <= spans
    if terraform_version() > (1, 0):
        assert ("plan", "coder", "read", "data.coder_workspace.me") in spans
    # Stages do not overlap: init ends before the plan starts, the plan before the apply.
    whole = {t["stage"]: t for t in timings if t["resource"].startswith("coder_stage_")}
    assert whole["init"]["ended_at"] <= whole["plan"]["started_at"]
    assert whole["plan"]["ended_at"] <= whole["apply"]["started_at"]


def test_terraform_error_fails_the_job_with_its_message(rows):
    _, job_id = rows.import_version({"main.tf": 'resource "null_resource" "x" { nonsense = 1 }\n'
                                                'terraform {\n required_providers {\n'
                                                ' null = { source = "hashicorp/null" }\n }\n}\n'})
    job = rows.wait(job_id)
    assert job["job_status"] == "failed"
    assert "nonsense" in job["error"]
    assert any(log["level"] == "error" and "nonsense" in log["output"] for log in rows.logs(job_id))


def test_a_regex_re2_cannot_compile_fails_the_import(rows):
    """As Coder's provider (Go's regexp) refuses it: a lookahead would need backtracking."""
    _, job_id = rows.import_version({"main.tf": """
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
data "coder_parameter" "name" {
  name    = "name"
  default = "abc"
  validation {
    regex = "^(?=a)[a-z]+$"
    error = "lower-case, starting with a"
  }
}
"""})
    job = rows.wait(job_id)
    assert job["job_status"] == "failed"
    assert "compile regex" in job["error"] and "invalid perl operator" in job["error"], job["error"]


def test_provider_missing_from_the_mirror_is_named(rows):
    _, job_id = rows.import_version({"main.tf": 'terraform {\n required_providers {\n'
                                                ' docker = { source = "kreuzwerker/docker" }\n }\n}\n'})
    job = rows.wait(job_id)
    assert job["job_status"] == "failed"
    assert "kreuzwerker/docker" in job["error"]


def test_bad_parameter_value_fails_naming_it(rows):
    version_id, job_id = rows.import_version({"main.tf": TEMPLATE})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    workspace_id = rows.workspace(rows.template(version_id))
    _, job_id = rows.build(workspace_id, version_id, "start", {"region": "here", "size": "42"})
    job = rows.wait(job_id)
    assert job["job_status"] == "failed" and "size" in job["error"]


def test_cancel_stops_terraform(rows):
    # Imports only plan; a build runs the slow apply.
    version_id, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    workspace_id = rows.workspace(rows.template(version_id))
    _, job_id = rows.build(workspace_id, version_id, "start")
    deadline = time.monotonic() + 60
    while not any("sleep" in (p.info["cmdline"] or [""])[0] for p in psutil.process_iter(["cmdline"])):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    rows.q("UPDATE provisioner_jobs SET canceled_at = now() WHERE id = %s", (job_id,))
    # SIGINT, then SIGKILL after the 30 s grace if terraform waits on its provisioner.
    job = rows.wait(job_id, timeout=90)
    assert job["job_status"] == "canceled"


def test_reaper_fails_the_job_of_a_killed_daemon_and_daemons_restart(rows, provisioning_coderd):
    version_id, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    workspace_id = rows.workspace(rows.template(version_id))
    _, job_id = rows.build(workspace_id, version_id, "start")
    wait_started(rows, job_id)
    daemons = [p for p in psutil.Process(provisioning_coderd.proc.pid).children()
               if "provisionerd" in " ".join(p.cmdline())]
    assert len(daemons) == 1
    for p in daemons[0].children(recursive=True) + daemons:
        p.send_signal(signal.SIGKILL)
    job = rows.wait(job_id, timeout=30)
    assert job["job_status"] == "failed" and job["error_code"] == "daemon_lost"
    # coderd starts its daemons again, and the workspace can be built again.
    fast_id, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE.replace("sleep 60", "true")})
    assert rows.wait(job_id, timeout=90)["job_status"] == "succeeded"
    _, job_id = rows.build(workspace_id, fast_id, "start")
    job = rows.wait(job_id, timeout=90)
    assert job["job_status"] == "succeeded", job["error"]


def test_a_stopping_coderd_lets_its_daemons_finish_and_report_the_job_they_run(rows, provisioning_coderd):
    """As Coder's: at SIGTERM the built-in daemons stop first, while coderd still serves
    them; the job they run ends and is reported, none is taken, and they log no error."""
    version_id, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE.replace("sleep 60", "sleep 4")})
    assert rows.wait(job_id)["job_status"] == "succeeded"
    workspace_id = rows.workspace(rows.template(version_id))
    _, running = rows.build(workspace_id, version_id, "start")
    wait_started(rows, running)
    provisioning_coderd.proc.terminate()  # coderd alone, as systemd's KillMode=mixed does
    # A signal is handled when its process next runs: a job queued before that may be taken.
    wait_for(lambda: "shutting down" in provisioning_coderd.log(), what="coderd's shutdown")
    _, queued = rows.import_version({"main.tf": "terraform {\n}\n"})
    assert provisioning_coderd.proc.wait(30) == 0
    assert rows.wait(running, timeout=1)["job_status"] == "succeeded"
    assert rows.q("SELECT started_at FROM provisioner_jobs WHERE id = %s", (queued,))[0]["started_at"] is None
    log = provisioning_coderd.log()
    assert "unreachable" not in log and "WARNING" not in log and "Traceback" not in log, log[-3000:]


def test_external_daemon_needs_the_psk(coderd_factory, provider_mirror, tmp_path):
    coderd = coderd_factory(env={"CODER_PROVISIONER_DAEMON_PSK": "s3cret"})
    url = coderd.url + "/api/v2/provisionerd/register"
    body = {"name": "ext", "tags": {"pool": "gpu"}}
    assert requests.post(url, json=body, timeout=5).status_code == 401
    assert requests.post(url, json=body, headers={PSK_HEADER: "wrong"}, timeout=5).status_code == 401
    assert requests.post(url, json=body, headers={PSK_HEADER: "s3cret"}, timeout=5).status_code == 200
    no_psk = coderd_factory()
    resp = requests.post(no_psk.url + "/api/v2/provisionerd/register", json=body,
                         headers={PSK_HEADER: "anything"}, timeout=5)
    assert resp.status_code == 401 and "not enabled" in resp.json()["message"]

    # A real external daemon process runs a job with its tags.
    _, first = create_first_user(coderd)
    r = Rows(coderd.dsn, first.user_id, first.organization_id)
    env = {**os.environ, "CODER_URL": coderd.url, "CODER_PROVISIONER_DAEMON_PSK": "s3cret",
           "CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_CACHE_DIRECTORY": str(tmp_path)}
    daemon = subprocess.Popen([sys.executable, "-m", "server.cli", "provisionerd", "start",
                               "--tag", "pool=gpu", "--name", "ext"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        version_id, job_id = r.import_version({"main.tf": SLOW_TEMPLATE.replace("sleep 60", "true")})
        job = r.wait(job_id, timeout=90)
        assert job["job_status"] == "succeeded", job["error"]
        worker = r.q("SELECT d.name, d.tags FROM provisioner_daemons d WHERE d.id = %s", (job["worker_id"],))
        assert worker[0]["name"] == "ext" and worker[0]["tags"] == {"pool": "gpu"}
    finally:
        daemon.terminate()
        daemon.wait(20)
        r.conn.close()

