"""Issue 19, item 5: the API the dashboard and Coder's clients use, checked against the
JSON Coder sends (field names and types of codersdk's structs, written out here), with
members attacking other users' objects and clients without a session."""
from __future__ import annotations

import json
import uuid

import pytest
import requests
import websocket

from appliance.sdk import agentsdk, types

from tests.kit.agent import add_agent
from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import complete_job, make_template, sql

# codersdk's structs, as Coder marshals them: every field, by JSON name.
USER_ROLES = {"roles", "organization_roles"}
ASSIGNABLE_ROLE = {"name", "organization_id", "display_name", "site_permissions",
                   "organization_permissions", "user_permissions", "assignable", "built_in"}
# Coder's codersdk.OrganizationMemberWithUserData (its API reference's example).
ORG_MEMBER = {"user_id", "organization_id", "created_at", "updated_at", "roles", "username",
              "name", "email", "avatar_url", "global_roles", "status", "login_type",
              "last_seen_at", "user_created_at", "user_updated_at", "is_service_account",
              "has_ai_seat"}
SSH_CONFIG = {"hostname_prefix", "hostname_suffix", "ssh_config_options"}
APPEARANCE = {"application_name", "logo_url", "docs_url", "service_banner",
              "announcement_banners", "support_links"}
REGION = {"id", "name", "display_name", "icon_url", "healthy", "path_app_url",
          "wildcard_hostname"}
TEMPLATE_EXAMPLE = {"id", "url", "name", "description", "icon", "tags", "markdown"}
USER_APPEARANCE = {"theme_preference", "terminal_font"}
TIMINGS = {"provisioner_timings", "agent_script_timings", "agent_connection_timings"}
DEPLOYMENT_STATS = {"aggregated_from", "collected_at", "next_update_at", "workspaces",
                    "session_count"}
WORKSPACE_DEPLOYMENT_STATS = {"pending", "building", "running", "failed", "stopped",
                              "connection_latency_ms", "rx_bytes", "tx_bytes"}
SESSION_COUNT = {"vscode", "ssh", "jetbrains", "reconnecting_pty"}


def get(coderd, client, path: str, status: int = 200):
    resp = raw(coderd, "GET", "/api/v2" + path, client.token if client else "")
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def member(shared_owner):
    return create_another_user(shared_owner)


@pytest.fixture(scope="module")
def other(shared_owner):
    return create_another_user(shared_owner)


def test_roles_as_coder_sends_them(shared_coderd, shared_owner, member):
    client, user = member
    roles = get(shared_coderd, client, "/users/me/roles")
    assert set(roles) == USER_ROLES and roles["roles"] == []
    (org_id,) = roles["organization_roles"]
    assert roles["organization_roles"][org_id] == []
    site = get(shared_coderd, shared_owner, "/users/roles")
    assert all(set(r) == ASSIGNABLE_ROLE for r in site)
    owner_role = next(r for r in site if r["name"] == "owner")
    assert owner_role["site_permissions"] == [
        {"negate": False, "resource_type": "*", "action": "*"}] and owner_role["assignable"]
    org_roles = get(shared_coderd, client, "/organizations/default/members/roles")
    assert {r["name"] for r in org_roles} >= {"organization-admin", "organization-auditor"}
    assert all(set(r) == ASSIGNABLE_ROLE and r["organization_id"] == org_id and not r["assignable"]
               for r in org_roles)
    got = get(shared_coderd, shared_owner, f"/organizations/default/members/{user.username}")
    assert set(got) == ORG_MEMBER and got["user_id"] == str(user.id)


def test_members_reach_no_one_elses_roles_or_appearance(shared_coderd, member, other):
    client, _ = member
    _, victim = other
    for path in (f"/users/{victim.id}/roles", f"/users/{victim.id}/appearance",
                 f"/organizations/default/members/{victim.id}"):
        assert get(shared_coderd, client, path, 404)["message"]
    resp = raw(shared_coderd, "PUT", f"/api/v2/users/{victim.id}/appearance", client.token,
               json={"theme_preference": "light", "terminal_font": ""})
    assert resp.status_code == 404, resp.text


# A fixed ID: pytest-xdist's workers must collect the same test names.
SOME_WORKSPACE = uuid.UUID(int=1)


@pytest.mark.parametrize("method,path", [
    ("GET", "/users/me/roles"), ("GET", "/organizations/default/members/roles"),
    ("POST", "/authcheck"), ("GET", "/users/me/appearance"), ("GET", "/deployment/config"),
    ("GET", "/deployment/ssh"), ("GET", "/deployment/stats"), ("GET", "/appearance"),
    ("GET", "/regions"),
    ("GET", "/templates/examples"), ("GET", f"/workspaces/{SOME_WORKSPACE}/watch"),
    ("GET", f"/workspaces/{SOME_WORKSPACE}/timings")])
def test_no_session_is_refused(shared_coderd, method, path):
    resp = raw(shared_coderd, method, "/api/v2" + path, json={"checks": {}})
    assert resp.status_code == 401 and resp.json()["message"]


def test_authcheck_answers_from_the_same_rules(shared_coderd, shared_owner, member, other):
    client, user = member
    _, victim = other
    body = {"checks": {
        "readOwnWorkspaces": {"object": {"resource_type": "workspace", "owner_id": "me"},
                              "action": "read"},
        "readOthersWorkspaces": {"object": {"resource_type": "workspace",
                                            "owner_id": str(victim.id)}, "action": "read"},
        "readAllUsers": {"object": {"resource_type": "user"}, "action": "read"},
        "updateDeployment": {"object": {"resource_type": "deployment_config"},
                             "action": "update"},
        "readOrgTemplates": {"object": {"resource_type": "template", "any_org": True},
                             "action": "read"},
        "unknown": {"object": {"resource_type": "no_such_thing"}, "action": "read"}}}
    resp = raw(shared_coderd, "POST", "/api/v2/authcheck", client.token, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"readOwnWorkspaces": True, "readOthersWorkspaces": False,
                           "readAllUsers": False, "updateDeployment": False,
                           "readOrgTemplates": True, "unknown": False}
    resp = raw(shared_coderd, "POST", "/api/v2/authcheck", shared_owner.token, json=body)
    assert resp.json()["readOthersWorkspaces"] and resp.json()["updateDeployment"]
    bad = raw(shared_coderd, "POST", "/api/v2/authcheck", client.token,
              json={"checks": {"x": {"object": {}, "action": "read"}}})
    assert bad.status_code == 400 and '"resource_type"' in bad.json()["message"]


def test_authcheck_by_resource_id_judges_the_object_itself(shared_coderd, shared_owner, member,
                                                         other):
    """As Coder's: a check naming an object by ID is judged on that object's owner and
    organization, looked up as the caller (so another's object is simply false, never an
    oracle), whatever owner the check claims; a type Coder cannot look up is a 400."""
    client, user = member
    other_client, victim = other
    own = _workspace(client, shared_owner, shared_coderd.dsn)
    theirs = _workspace(other_client, shared_owner, shared_coderd.dsn)

    def check(obj, action="read", token=client.token):
        resp = raw(shared_coderd, "POST", "/api/v2/authcheck", token,
                   json={"checks": {"c": {"object": obj, "action": action}}})
        assert resp.status_code == 200, resp.text
        return resp.json()["c"]

    ws = {"resource_type": "workspace"}
    assert check({**ws, "resource_id": str(own.id)}) is True
    assert check({**ws, "resource_id": str(own.id)}, "update") is True
    assert check({**ws, "resource_id": str(theirs.id)}) is False
    assert check({**ws, "resource_id": str(theirs.id), "owner_id": str(user.id)}) is False
    assert check({**ws, "resource_id": str(uuid.uuid4()), "owner_id": "me"}) is False
    assert check({**ws, "resource_id": "not-a-uuid", "owner_id": "me"}) is False
    assert check({**ws, "resource_id": str(theirs.id)}, token=shared_owner.token) is True
    assert check({"resource_type": "template", "resource_id": str(own.template_id)}) is True
    assert check({"resource_type": "template", "resource_id": str(own.template_id)},
                 "update") is False
    assert check({"resource_type": "user", "resource_id": str(user.id)}) is True
    assert check({"resource_type": "user", "resource_id": str(victim.id)}, "update") is False
    bad = raw(shared_coderd, "POST", "/api/v2/authcheck", client.token, json={"checks": {
        "c": {"object": {"resource_type": "file", "resource_id": str(uuid.uuid4())},
              "action": "read"}}})
    assert bad.status_code == 400
    assert bad.json()["message"] == 'Object type "file" does not support "resource_id" field.'


def test_deployment_config_for_owners_without_secrets(shared_coderd, shared_owner, member):
    config = get(shared_coderd, shared_owner, "/deployment/config")
    assert set(config) == {"config", "options"}
    assert "pg_connection_url" not in config["config"]
    secret = next(o for o in config["options"] if o["env"] == "CODER_PG_CONNECTION_URL")
    assert secret["value"] is None and secret["annotations"] == {"secret": "true"}
    assert shared_coderd.dsn not in json.dumps(config)
    access = next(o for o in config["options"] if o["env"] == "CODER_ACCESS_URL")
    assert access["value"] == shared_coderd.url and access["flag"] == "access-url"
    assert get(shared_coderd, member[0], "/deployment/config", 403)["message"] == "Forbidden."


def test_ssh_appearance_regions_examples(shared_coderd, member):
    client, _ = member
    ssh = get(shared_coderd, client, "/deployment/ssh")
    assert ssh == {"hostname_prefix": "coder.", "hostname_suffix": "coder",
                   "ssh_config_options": {}} and set(ssh) == SSH_CONFIG
    appearance = get(shared_coderd, client, "/appearance")
    assert set(appearance) == APPEARANCE and appearance["service_banner"]["enabled"] is False
    (region,) = get(shared_coderd, client, "/regions")["regions"]
    assert set(region) == REGION and region["name"] == "primary" and region["healthy"] is True
    assert region["path_app_url"] == shared_coderd.url
    examples = get(shared_coderd, client, "/organizations/default/templates/examples")
    assert examples == get(shared_coderd, client, "/templates/examples")
    local = next(e for e in examples if e["id"] == "local")
    assert set(local) == TEMPLATE_EXAMPLE and local["name"] == "Local process"
    assert local["markdown"].startswith("# Local workspaces") and local["icon"]


def test_user_appearance_round_trip(shared_coderd, shared_owner):
    client, user = create_another_user(shared_owner)
    assert get(shared_coderd, client, "/users/me/appearance") == {"theme_preference": "",
                                                                 "terminal_font": ""}
    resp = raw(shared_coderd, "PUT", "/api/v2/users/me/appearance", client.token,
               json={"theme_preference": "dark", "terminal_font": "fira-code"})
    assert resp.status_code == 200 and set(resp.json()) == USER_APPEARANCE, resp.text
    assert get(shared_coderd, client, "/users/me")["theme_preference"] == "dark"
    assert get(shared_coderd, shared_owner, f"/users/{user.id}/appearance")["terminal_font"] \
        == "fira-code"
    bad = raw(shared_coderd, "PUT", "/api/v2/users/me/appearance", client.token,
              json={"theme_preference": "dark", "terminal_font": "comic-sans"})
    assert bad.status_code == 400 and bad.json()["message"] == "Unsupported font family."
    assert get(shared_coderd, client, "/users/me/appearance")["terminal_font"] == "fira-code"


def _workspace(client, owner, dsn):
    template = make_template(owner, dsn)
    return client.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template.id))


def _sse_events(resp):
    kind = None
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            kind = line[7:]
            if kind == "ping":
                yield kind, None
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])


def test_watch_sends_every_build_change(shared_coderd, shared_owner, member):
    client, _ = member
    ws = _workspace(client, shared_owner, shared_coderd.dsn)
    with requests.get(f"{shared_coderd.url}/api/v2/workspaces/{ws.id}/watch", stream=True,
                      timeout=20, headers={"Coder-Session-Token": client.token}) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(
            "text/event-stream")
        events = _sse_events(resp)
        assert next(events) == ("ping", None)
        kind, data = next(events)
        assert kind == "data" and data["id"] == str(ws.id)
        assert data["latest_build"]["status"] == "pending"
        complete_job(shared_coderd.dsn, ws.latest_build.job.id)
        kind, data = next(events)
        assert kind == "data" and data["latest_build"]["status"] == "running"
        agent = add_agent(shared_coderd.dsn, ws.latest_build.job.id)
        sql(shared_coderd.dsn, "UPDATE workspace_agents SET lifecycle_state = 'ready' "
                               "WHERE id = %s", (str(agent.id),))
        kind, data = next(events)
        assert data["latest_build"]["resources"][0]["agents"][0]["lifecycle_state"] == "ready"


def test_watch_ws_sends_server_sent_events_as_json(shared_coderd, shared_owner, member, other):
    client, _ = member
    ws = _workspace(client, shared_owner, shared_coderd.dsn)
    url = shared_coderd.url.replace("http://", "ws://") + f"/api/v2/workspaces/{ws.id}/watch-ws"
    conn = websocket.create_connection(url, header=[f"Coder-Session-Token: {client.token}"],
                                       timeout=20)
    try:
        assert json.loads(conn.recv()) == {"type": "ping", "data": None}
        first = json.loads(conn.recv())
        assert first["type"] == "data" and first["data"]["latest_build"]["status"] == "pending"
        complete_job(shared_coderd.dsn, ws.latest_build.job.id)
        assert json.loads(conn.recv())["data"]["latest_build"]["status"] == "running"
    finally:
        conn.close()
    # As Coder's: another member, or no session, is answered before the upgrade, with
    # Coder's error body and no 101.
    for token, status in ((other[0].token, 404), ("", 401)):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, header=[f"Coder-Session-Token: {token}"],
                                        timeout=10)
        assert refused.value.status_code == status
        assert json.loads(refused.value.resp_body)["message"]


def test_timings_as_coder_sends_them(shared_coderd, shared_owner, member):
    client, _ = member
    ws = _workspace(client, shared_owner, shared_coderd.dsn)
    job_id = str(ws.latest_build.job.id)
    complete_job(shared_coderd.dsn, job_id)
    sql(shared_coderd.dsn, """INSERT INTO provisioner_job_timings
                                  (job_id, started_at, ended_at, stage, source, action, resource)
                              VALUES (%s, now() - interval '2 s', now(), 'apply', 'coder',
                                      'create', 'coder_agent.main')""", (job_id,))
    agent = add_agent(shared_coderd.dsn, job_id)
    sql(shared_coderd.dsn, "UPDATE workspace_agents SET first_connected_at = now() WHERE id = %s",
        (str(agent.id),))
    timings = get(shared_coderd, client, f"/workspaces/{ws.id}/timings")
    assert timings == get(shared_coderd, client, f"/workspacebuilds/{ws.latest_build.id}/timings")
    assert set(timings) == TIMINGS
    (step,) = timings["provisioner_timings"]
    assert set(step) == {"job_id", "started_at", "ended_at", "stage", "source", "action",
                         "resource"} and step["resource"] == "coder_agent.main"
    (connect,) = timings["agent_connection_timings"]
    assert connect["stage"] == "connect" and connect["workspace_agent_id"] == str(agent.id)
    other, _ = create_another_user(shared_owner)
    assert get(shared_coderd, other, f"/workspaces/{ws.id}/timings", 404)["message"]


def test_deployment_stats_as_coder_sends_them(shared_coderd, shared_owner, member):
    client, _ = member

    def stats():
        got = get(shared_coderd, shared_owner, "/deployment/stats")
        assert set(got) == DEPLOYMENT_STATS and set(got["session_count"]) == SESSION_COUNT
        assert set(got["workspaces"]) == WORKSPACE_DEPLOYMENT_STATS
        assert set(got["workspaces"]["connection_latency_ms"]) == {"P50", "P95"}
        return got

    before = stats()
    pending = _workspace(client, shared_owner, shared_coderd.dsn)
    running, failed, stopped = (_workspace(client, shared_owner, shared_coderd.dsn)
                                for _ in range(3))
    complete_job(shared_coderd.dsn, running.latest_build.job.id)
    complete_job(shared_coderd.dsn, failed.latest_build.job.id, error="terraform failed")
    complete_job(shared_coderd.dsn, stopped.latest_build.job.id)
    stop = client.create_workspace_build(stopped.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    complete_job(shared_coderd.dsn, stop.job.id)
    agent = add_agent(shared_coderd.dsn, running.latest_build.job.id)
    reporter = agentsdk.AgentClient(shared_coderd.url, str(agent.token))
    # Traffic adds up over the reports; sessions and latency are the agent's latest.
    reporter.report_stats(agentsdk.Stats(rx_bytes=1000, tx_bytes=2000, session_count_ssh=1))
    reporter.report_stats(agentsdk.Stats(rx_bytes=10, tx_bytes=20, session_count_ssh=2,
                                         session_count_vscode=1,
                                         connection_median_latency_ms=12.5))
    after = stats()
    counts = {k: after["workspaces"][k] - before["workspaces"][k]
              for k in ("pending", "building", "running", "failed", "stopped")}
    assert pending and counts == {"pending": 1, "building": 0, "running": 1, "failed": 1,
                                  "stopped": 1}
    traffic = {k: after["workspaces"][k] - before["workspaces"][k] for k in ("rx_bytes", "tx_bytes")}
    assert traffic == {"rx_bytes": 1010, "tx_bytes": 2020}
    sessions = {k: after["session_count"][k] - before["session_count"][k] for k in SESSION_COUNT}
    assert sessions == {"vscode": 1, "ssh": 2, "jetbrains": 0, "reconnecting_pty": 0}
    latency = after["workspaces"]["connection_latency_ms"]
    assert before["workspaces"]["connection_latency_ms"] == {"P50": -1, "P95": -1}  # none yet
    assert latency["P95"] >= latency["P50"] > 0
    assert after["aggregated_from"] < after["collected_at"] < after["next_update_at"]
    assert get(shared_coderd, client, "/deployment/stats", 403)["message"] == "Forbidden."
