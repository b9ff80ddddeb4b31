"""The last template-version, workspace and agent endpoints of issue 19: PATCH of a version
and Coder's removed schema/parameters, a workspace's usage and resolve-autostart, an
agent's startup-logs and watch-metadata-ws, and the agent init script. Bodies are sent
and checked as Coder's JSON (codersdk), and each endpoint is tried by another member and
without a session (the full role matrix is tests/server/test_authz.py's)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid

import pytest
import websocket

from appliance.sdk import types

from tests.kit.agent import add_agent
from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import TAGGED_TEMPLATE, complete_job, imported_version, make_tar, make_template, sql

# codersdk.TemplateVersion's JSON fields (matched_provisioners is omitempty).
CODER_TEMPLATE_VERSION = {"id", "template_id", "organization_id", "created_at", "updated_at",
                          "name", "message", "job", "readme", "created_by", "archived",
                          "warnings"}


@pytest.fixture(scope="module")
def member(shared_owner):
    return create_another_user(shared_owner)[0]


@pytest.fixture(scope="module")
def stranger(shared_owner):
    return create_another_user(shared_owner)[0]


def _workspace(client, coderd, template_id, **fields):
    ws = client.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template_id, **fields))
    complete_job(coderd.dsn, ws.latest_build.job.id)
    return ws


def test_a_version_is_renamed_and_its_message_changed_as_coder(shared_coderd, shared_owner,
                                                               member):
    template = make_template(shared_owner, shared_coderd.dsn)
    first = shared_owner.template_version(template.active_version_id)
    version = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id)
    path = f"/api/v2/templateversions/{version.id}"
    # Coder's client: {"name": ...} with the message left out (a nil *string, omitempty).
    resp = raw(shared_coderd, "PATCH", path, shared_owner.token, json={"name": "renamed_1.0"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= CODER_TEMPLATE_VERSION
    assert (body["name"], body["message"], body["id"]) == ("renamed_1.0", version.message,
                                                           str(version.id))
    resp = raw(shared_coderd, "PATCH", path, shared_owner.token, json={"name": "", "message": "m2"})
    assert (resp.status_code, resp.json()["name"], resp.json()["message"]) == \
        (200, "renamed_1.0", "m2")
    assert shared_owner.template_version(version.id).message == "m2"
    # Another version's name, in any case: Coder's 400 and validation.
    resp = raw(shared_coderd, "PATCH", path, shared_owner.token, json={"name": first.name.upper()})
    assert resp.status_code == 400
    assert resp.json()["message"] == "template version name must be unique for a template"
    assert resp.json()["validations"] == [{"field": "name", "detail": "Name is already used"}]
    resp = raw(shared_coderd, "PATCH", path, shared_owner.token, json={"name": "no spaces here"})
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "name"
    # A member reads the version but may not change it; no session, no answer; an unknown
    # version is not found.
    resp = raw(shared_coderd, "PATCH", path, member.token, json={"message": "mine"})
    assert resp.status_code == 403
    assert raw(shared_coderd, "PATCH", path, json={"message": "x"}).status_code == 401
    assert raw(shared_coderd, "PATCH", f"/api/v2/templateversions/{uuid.uuid4()}",
               shared_owner.token, json={"message": "x"}).status_code == 404
    assert shared_owner.template_version(version.id).message == "m2"


def test_removed_schema_and_parameters_answer_an_empty_list(shared_coderd, shared_owner, member):
    version = shared_owner.template_version(
        make_template(shared_owner, shared_coderd.dsn).active_version_id)
    for tail in ("schema", "parameters"):
        path = f"/api/v2/templateversions/{version.id}/{tail}"
        for client in (shared_owner, member):  # every member reads versions
            resp = raw(shared_coderd, "GET", path, client.token)
            assert (resp.status_code, resp.json()) == (200, [])
        assert raw(shared_coderd, "GET", path).status_code == 401
        assert raw(shared_coderd, "GET", f"/api/v2/templateversions/{uuid.uuid4()}/{tail}",
                   shared_owner.token).status_code == 404


def test_usage_marks_a_workspace_used(shared_coderd, shared_owner, member, stranger):
    ws = _workspace(member, shared_coderd, make_template(shared_owner, shared_coderd.dsn).id)
    before = member.workspace(ws.id).last_used_at
    path = f"/api/v2/workspaces/{ws.id}/usage"
    # Coder's client sends no body (PostWorkspaceUsage) or the nil agent ID with an empty
    # app name (PostWorkspaceUsageWithBody): both 204, no body.
    resp = raw(shared_coderd, "POST", path, member.token)
    assert (resp.status_code, resp.content) == (204, b"")
    after = member.workspace(ws.id).last_used_at
    assert after > before
    resp = raw(shared_coderd, "POST", path, member.token,
               json={"agent_id": "00000000-0000-0000-0000-000000000000", "app_name": ""})
    assert resp.status_code == 204 and member.workspace(ws.id).last_used_at > after
    last = member.workspace(ws.id).last_used_at
    assert raw(shared_coderd, "POST", path, stranger.token).status_code == 404
    assert raw(shared_coderd, "POST", path).status_code == 401
    assert member.workspace(ws.id).last_used_at == last
    # An owner's workspace is no more reachable for a member.
    own = _workspace(shared_owner, shared_coderd, make_template(shared_owner, shared_coderd.dsn).id)
    assert raw(shared_coderd, "POST", f"/api/v2/workspaces/{own.id}/usage",
               member.token).status_code == 404


def test_resolve_autostart_finds_a_missing_parameter(shared_coderd, shared_owner, member,
                                                     stranger):
    template = make_template(shared_owner, shared_coderd.dsn)
    ws = _workspace(member, shared_coderd, template.id)
    path = f"/api/v2/workspaces/{ws.id}/resolve-autostart"

    def answer(client=member):
        resp = raw(shared_coderd, "GET", path, client.token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    assert answer() == {"parameter_mismatch": False}  # codersdk.ResolveAutostartResponse
    # A new active version needs a value the workspace never had.
    new = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id, params=[
        {"name": "region", "type": "string", "required": True, "default_value": ""}])
    shared_owner.update_active_template_version(template.id, new.id)
    assert answer() == {"parameter_mismatch": False}  # it will start on its own version
    member.update_workspace_automatic_updates(ws.id, "always")
    assert answer() == {"parameter_mismatch": True}
    assert answer(shared_owner) == {"parameter_mismatch": True}
    assert raw(shared_coderd, "GET", path, stranger.token).status_code == 404
    assert raw(shared_coderd, "GET", path).status_code == 401


@pytest.fixture(scope="module")
def agent(shared_coderd, shared_owner, member):
    ws = _workspace(member, shared_coderd, make_template(shared_owner, shared_coderd.dsn).id)
    return add_agent(shared_coderd.dsn, ws.latest_build.job.id, metadata=[{"key": "load",
                                                                          "script": "true"}])


def _agent_call(coderd, agent, method, path, body):
    resp = raw(coderd, method, f"/api/v2/workspaceagents/me/{path}", str(agent.token), json=body)
    assert resp.status_code in (200, 201, 204), resp.text
    return resp


def test_startup_logs_is_coders_alias_of_logs(shared_coderd, member, stranger, agent):
    source = str(uuid.uuid4())
    _agent_call(shared_coderd, agent, "POST", "log-source",
                {"workspace_agent_id": str(agent.id), "id": source, "display_name": "s", "icon": ""})
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    _agent_call(shared_coderd, agent, "PATCH", "logs", {"log_source_id": source, "logs": [
        {"created_at": now, "output": f"line {i}", "level": "info"} for i in range(3)]})
    base = f"/api/v2/workspaceagents/{agent.id}"
    logs = raw(shared_coderd, "GET", f"{base}/logs", member.token).json()
    resp = raw(shared_coderd, "GET", f"{base}/startup-logs", member.token)
    assert resp.status_code == 200 and resp.json() == logs and len(logs) == 3
    # codersdk.WorkspaceAgentLog
    assert set(logs[0]) == {"id", "created_at", "output", "level", "source_id"}
    resp = raw(shared_coderd, "GET", f"{base}/startup-logs?after={logs[0]['id']}", member.token)
    assert [line["output"] for line in resp.json()] == ["line 1", "line 2"]
    follow = websocket.create_connection(
        shared_coderd.url.replace("http://", "ws://") + f"{base}/startup-logs?follow=true",
        header=[f"Coder-Session-Token: {member.token}"], timeout=20)
    try:
        assert json.loads(follow.recv())["output"] == "line 0"
    finally:
        follow.close()
    assert raw(shared_coderd, "GET", f"{base}/startup-logs", stranger.token).status_code == 404
    assert raw(shared_coderd, "GET", f"{base}/startup-logs").status_code == 401


def test_watch_metadata_ws_sends_coders_events(shared_coderd, member, stranger, agent):
    url = shared_coderd.url.replace("http://", "ws://") + \
        f"/api/v2/workspaceagents/{agent.id}/watch-metadata-ws"
    conn = websocket.create_connection(url, header=[f"Coder-Session-Token: {member.token}"],
                                       timeout=20)
    try:
        # codersdk.ServerSentEvent: {"type", "data"}; a ping first, then the values.
        assert json.loads(conn.recv()) == {"type": "ping", "data": None}
        first = json.loads(conn.recv())
        assert first["type"] == "data" and first["data"][0]["description"]["key"] == "load"
        assert set(first["data"][0]) == {"description", "result"}
        _agent_call(shared_coderd, agent, "POST", "metadata", {"metadata": [
            {"key": "load", "value": "0.5", "error": "",
             "collected_at": dt.datetime.now(dt.timezone.utc).isoformat(), "age": 0}]})
        while (event := json.loads(conn.recv()))["type"] != "data":
            pass
        assert event["data"][0]["result"]["value"] == "0.5"
    finally:
        conn.close()
    # Refused before the upgrade, with Coder's HTTP status.
    for token, status in ((stranger.token, 404), ("", 401)):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, header=[f"Coder-Session-Token: {token}"] if token
                                        else [], timeout=20)
        assert refused.value.status_code == status


def test_init_script_for_an_air_gapped_machine(shared_coderd):
    resp = raw(shared_coderd, "GET", "/api/v2/init-script/LINUX/amd64")  # no session needed
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    script = resp.text
    assert f'BINARY_URL="{shared_coderd.url}/bin/coder-agent-linux-amd64"' in script
    assert 'CODER_AGENT_AUTH="token"' in script and "${" + "ACCESS_URL}" not in script
    digest = base64.b64encode(hashlib.sha256(resp.content).digest()).hex()
    assert resp.headers["Content-Digest"] == f"sha256:{digest}"  # Coder's own spelling
    assert "coder-agent-darwin-arm64" in raw(shared_coderd, "GET",
                                             "/api/v2/init-script/darwin/arm64").text
    for os_arch in ("windows/amd64", "linux/s390x"):
        resp = raw(shared_coderd, "GET", f"/api/v2/init-script/{os_arch}")
        assert resp.status_code == 400
        assert resp.json()["message"] == f"Unknown os/arch: {os_arch}"


def test_workspace_tags_are_read_once_when_the_version_is_made(shared_coderd, shared_owner):
    """The version records what its tags need; a build evaluates that with its parameter
    values and never reads the archive again (here the stored file is replaced, and the
    builds' tags do not change). A version made before versions recorded them (NULL) still
    has its tags read from its archive."""
    dsn = shared_coderd.dsn
    version = imported_version(shared_owner, dsn, files={"main.tf": TAGGED_TEMPLATE}, params=[
        {"name": "region", "default_value": "us"}])
    assert version.job.tags["cluster"] == "us" and version.job.tags["team"] == "core"
    (recorded,), = sql(dsn, "SELECT workspace_tags FROM template_versions WHERE id = %s",
                       (str(version.id),))
    assert recorded == {"cluster": {"parameter": "region", "default": "us"},
                        "team": {"value": "core"}}
    template = shared_owner.create_template("default", types.CreateTemplateRequest(
        name="t" + uuid.uuid4().hex[:10], template_version_id=version.id))
    sql(dsn, "UPDATE files SET data = %s WHERE id = (SELECT file_id FROM provisioner_jobs "
             "WHERE id = %s)", (make_tar({"main.tf": "# no tags any more\n"}),
                                str(version.job.id)))
    ws = shared_owner.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template.id,
        rich_parameter_values=[types.WorkspaceBuildParameter(name="region", value="eu")]))
    tags = ws.latest_build.job.tags
    assert (tags["cluster"], tags["team"]) == ("eu", "core")
    # Untagged versions record nothing to evaluate.
    plain = imported_version(shared_owner, dsn)
    assert sql(dsn, "SELECT workspace_tags FROM template_versions WHERE id = %s",
               (str(plain.id),)) == [({},)]
    # A version from before (NULL): its build reads the archive, now without tags, so only
    # the import's tags remain (the recorded expressions would have given region's "eu").
    complete_job(dsn, ws.latest_build.job.id)
    sql(dsn, "UPDATE template_versions SET workspace_tags = NULL WHERE id = %s",
        (str(version.id),))
    build = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    assert build.job.tags["cluster"] == "us"


def test_port_shares_as_coder(shared_coderd, shared_owner, member, stranger, agent):
    """Coder's WorkspaceAgentPortShare(s) JSON, its validation messages, and who may call
    (the relay's side is tests/relay/test_app_security.py's)."""
    ws = member.workspaces().workspaces
    ws_id = next(w.id for w in ws if any(a.id == agent.id for r in w.latest_build.resources
                                          for a in r.agents))
    path = f"/api/v2/workspaces/{ws_id}/port-share"

    def call(method, body=None, client=member):
        return raw(shared_coderd, method, path, client.token if client else "", json=body)

    assert (call("GET").status_code, call("GET").json()) == (200, {"shares": None})
    body = {"agent_name": "main", "port": 8080, "share_level": "public", "protocol": "http"}
    resp = call("POST", body)
    assert (resp.status_code, resp.json()) == (200, {"workspace_id": str(ws_id), **body})
    resp = call("POST", {**body, "share_level": "authenticated"})  # an upsert
    assert resp.status_code == 200
    assert call("GET").json() == {"shares": [{"workspace_id": str(ws_id), **body,
                                              "share_level": "authenticated"}]}
    for change, message in ((("share_level", "owner"), "Port sharing level not allowed."),
                            (("port", 8), "Port must be between 9 and 65535."),
                            (("protocol", "https"), "Port protocol not allowed."),
                            (("agent_name", "nope"), "Agent not found.")):
        resp = call("POST", dict([*body.items(), change]))
        assert (resp.status_code, resp.json()["message"]) == (400, message)
    # Another member, an owner's session on the member's workspace, no session.
    for method, payload in (("GET", None), ("POST", body), ("DELETE", {"agent_name": "main",
                                                                      "port": 8080})):
        assert call(method, payload, stranger).status_code == 404
        assert call(method, payload, None).status_code == 401
    assert call("GET", client=shared_owner).status_code == 200
    resp = call("DELETE", {"agent_name": "main", "port": 8080})
    assert (resp.status_code, resp.content) == (200, b"")
    resp = call("DELETE", {"agent_name": "main", "port": 8080})
    assert (resp.status_code, resp.json()["message"]) == (404, "Port share not found.")
    assert call("GET").json() == {"shares": None}


def test_templates_tell_coders_clients_what_they_support(shared_coderd, shared_owner):
    """codersdk.Template's flags Coder's CLI and dashboard read: the classic parameter flow
    (there is no dynamic-parameters engine here) and port sharing up to public (as Coder's
    open-source edition, whose templates cannot cap it)."""
    template = make_template(shared_owner, shared_coderd.dsn)
    body = raw(shared_coderd, "GET", f"/api/v2/templates/{template.id}", shared_owner.token).json()
    assert body["use_classic_parameter_flow"] is True
    assert body["max_port_share_level"] == "public"
