"""``coder support bundle``: the zip Coder's command writes, with what the appliance has,
secrets left out (the agent's environment values, the session, the database URL), and
what the caller may not read said in logs.txt instead of stopping the bundle."""
from __future__ import annotations

import datetime as dt
import json
import uuid
import zipfile

import pytest

from appliance.sdk import types

from tests.kit.agent import add_agent
from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import complete_job, make_template

SECRET = "hunter2-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def member(shared_owner):
    return create_another_user(shared_owner)[0]


@pytest.fixture(scope="module")
def workspace(shared_coderd, shared_owner, member):
    template = make_template(shared_owner, shared_coderd.dsn)
    ws = member.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template.id))
    complete_job(shared_coderd.dsn, ws.latest_build.job.id)
    agent = add_agent(shared_coderd.dsn, ws.latest_build.job.id, env={"SECRET_KEY": SECRET},
                      scripts=[{"display_name": "setup", "script": "true"}])
    source = str(agent.script_sources["setup"])
    resp = raw(shared_coderd, "PATCH", "/api/v2/workspaceagents/me/logs", str(agent.token),
               json={"log_source_id": source, "logs": [{
                   "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                   "output": "setup ran", "level": "info"}]})
    assert resp.status_code == 200, resp.text
    return ws


def _bundle(cli, coderd, client, *args, tmp_path):
    path = tmp_path / f"b{uuid.uuid4().hex[:6]}.zip"
    proc = cli.log_in_as(coderd.url, client.token).run("support", "bundle", *args, "-O",
                                                       str(path), "-y")
    assert f"Wrote support bundle to {path}" in proc.stderr
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_a_members_bundle_of_their_workspace(cli, shared_coderd, member, workspace, tmp_path):
    files = _bundle(cli, shared_coderd, member, workspace.name, tmp_path=tmp_path)
    assert {"deployment/buildinfo.json", "deployment/workspaces.json",
            "workspace/workspace.json", "workspace/parameters.json", "workspace/template.json",
            "workspace/template_version.json", "workspace/build_logs.txt", "agent/agent.json",
            "agent/startup_logs.txt", "network/checks.json", "logs.txt"} <= set(files)
    everything = b"".join(files.values())
    # The agent's environment keeps its names, not its values; no session, no database URL.
    agent = json.loads(files["agent/agent.json"])
    assert agent["environment_variables"] == {"SECRET_KEY": "***REDACTED***"}
    for secret in (SECRET, member.token, shared_coderd.dsn):
        assert secret.encode() not in everything
    assert json.loads(files["workspace/workspace.json"])["id"] == str(workspace.id)
    assert b"[info]\tsetup ran\n" in files["agent/startup_logs.txt"]
    checks = json.loads(files["network/checks.json"])
    assert checks["access_url"] == shared_coderd.url and checks["coderd"]["ok"] is True
    assert checks["agent_relay"]["ok"] is False  # no agent process is connected here
    logs = files["logs.txt"].decode()
    # A member reads neither the deployment's settings and stats nor the template's files.
    for owners_only in ("deployment/config.json", "deployment/stats.json"):
        assert f"{owners_only}:" in logs and owners_only not in files
    assert "workspace/template_file.tar:" in logs and "agent/listening_ports.json:" in logs


def test_an_owners_bundle_has_the_settings_and_the_template(cli, shared_coderd, shared_owner,
                                                            member, workspace, tmp_path):
    name = f"{member.user('me').username}/{workspace.name}"
    files = _bundle(cli, shared_coderd, shared_owner, name, "main", tmp_path=tmp_path)
    config = json.loads(files["deployment/config.json"])
    assert config and shared_coderd.dsn.encode() not in files["deployment/config.json"]
    assert json.loads(files["deployment/stats.json"])
    assert files["workspace/template_file.tar"][257:262] == b"ustar"  # the pushed tar
    assert SECRET.encode() not in b"".join(files.values())
    assert "deployment/" not in files["logs.txt"].decode()


def test_refusals_are_one_line(cli, shared_coderd, shared_owner, member, workspace, tmp_path):
    c = cli.log_in_as(shared_coderd.url, shared_owner.token)
    proc = c.run("support", "bundle", workspace.name, "-O", str(tmp_path / "x.zip"), expect=1)
    assert "needs a terminal" in proc.stderr and "--yes" in proc.stderr
    other = create_another_user(shared_owner)[0]
    stranger = cli.log_in_as(shared_coderd.url, other.token)
    owner_name = member.user("me").username
    proc = stranger.run("support", "bundle", f"{owner_name}/{workspace.name}", "-y",
                        "-O", str(tmp_path / "y.zip"), expect=1)
    assert "invalid workspace" in proc.stderr and "Traceback" not in proc.stderr
    proc = c.run("support", "bundle", "-y", "-O", str(tmp_path / "missing" / "z.zip"), expect=1)
    assert "create output file" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".coder-support-*"))
