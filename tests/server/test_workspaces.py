"""Workspaces, builds, parameters, autostop: everything that needs no provisioner
daemon (jobs are completed by hand, see tests/kit/provisioning.py)."""
from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import psycopg2
import pytest

from appliance.sdk import types
from appliance.sdk.client import APIError
from server import autobuild
from server.authz.querier import AuthzQuerier
from server.authz.rbac import system
from server.db.queries import Queries

from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import (UNBUILT_TAGS, complete_job, finish_latest_build, imported_version,
                           make_template, sql)

PARAMS = [
    {"name": "region", "default_value": "eu", "options": [
        {"name": "Europe", "value": "eu", "description": "", "icon": ""},
        {"name": "America", "value": "us", "description": "", "icon": ""}]},
    {"name": "cpus", "type": "number", "default_value": "2", "validation_min": 1,
     "validation_max": 8, "validation_monotonic": "increasing"},
    {"name": "disk", "mutable": False, "default_value": "10"},
    {"name": "token", "required": True, "validation_regex": "^[a-z]+$",
     "validation_error": "lower-case letters only"},
    {"name": "gpu", "type": "bool", "default_value": "false"},
]


def _values(**values: str) -> list[types.WorkspaceBuildParameter]:
    return [types.WorkspaceBuildParameter(name=k, value=v) for k, v in values.items()]


def _params_of(dsn: str, build_id) -> dict[str, str]:
    return dict(sql(dsn, "SELECT name, value FROM workspace_build_parameters "
                         "WHERE workspace_build_id = %s", (str(build_id),)))


@pytest.fixture(scope="module")
def template(shared_coderd, shared_owner):
    return make_template(shared_owner, shared_coderd.dsn, params=PARAMS, name="params")


def _create(client, template, name=None, user="me", **values):
    return client.create_workspace(types.CreateWorkspaceRequest(
        name=name or "w" + uuid.uuid4().hex[:8], template_id=template.id,
        rich_parameter_values=_values(**({"token": "abc"} | values))), user=user)


def _error(fn, *args, **kwargs) -> APIError:
    with pytest.raises(APIError) as err:
        fn(*args, **kwargs)
    return err.value


def test_create_queues_a_start_build(shared_coderd, shared_owner, template):
    ws = _create(shared_owner, template, cpus="4")
    build = ws.latest_build
    assert (build.transition, build.build_number, build.status, build.reason) == \
        ("start", 1, "pending", "initiator")
    assert build.job.type == "workspace_build" and build.job.tags["coder-appliance-test"]
    (job_input,) = sql(shared_coderd.dsn, "SELECT input FROM provisioner_jobs WHERE id = %s",
                       (str(build.job.id),))[0]
    me = shared_owner.user("me")
    assert job_input == {"workspace_build_id": str(build.id), "workspace_owner_id": str(me.id)}
    assert _params_of(shared_coderd.dsn, build.id) == {
        "region": "eu", "cpus": "4", "disk": "10", "token": "abc", "gpu": "false"}
    assert ws.owner_name == "admin" and ws.template_name == "params" and not ws.outdated
    assert build.deadline is None  # the template has no default TTL, nor the workspace
    err = _error(shared_owner.create_workspace_build, ws.id,
                 types.CreateWorkspaceBuildRequest(transition="stop"))
    assert err.status == 409 and "already active" in err.message
    err = _error(_create, shared_owner, template, name=ws.name)
    assert err.status == 409 and err.validations[0].field == "name"
    assert shared_owner.workspace_by_owner_and_name("me", ws.name.upper()).id == ws.id


@pytest.mark.parametrize("values,name,problem", [
    ({"token": ""}, "token", "lower-case letters only"),
    ({"region": "mars"}, "region", "must be one of: eu, us"),
    ({"cpus": "9"}, "cpus", "must be between 1 and 8"),
    ({"cpus": "many"}, "cpus", "must be a number"),
    ({"gpu": "yes"}, "gpu", "must be true or false"),
    ({"nope": "1"}, "nope", "is not defined by the template version"),
])
def test_parameter_validation(shared_owner, template, values, name, problem):
    err = _error(_create, shared_owner, template, **values)
    assert err.status == 400 and name in err.message and problem in err.message, err.message
    assert err.validations[0].field == name


def test_required_parameter_and_bad_requests(shared_owner, template):
    err = _error(shared_owner.create_workspace, types.CreateWorkspaceRequest(
        name="noreq", template_id=template.id))
    assert err.status == 400 and "'token' is required" in err.message
    err = _error(shared_owner.create_workspace, types.CreateWorkspaceRequest(name="nothing"))
    assert err.status == 400
    err = _error(shared_owner.create_workspace, types.CreateWorkspaceRequest(
        name="bad_name", template_id=template.id))
    assert err.status == 400 and err.validations[0].field == "name"
    err = _error(_create, shared_owner, template, name="x" * 33)
    assert err.status == 400
    assert shared_owner.workspaces(q="name:noreq").count == 0  # nothing half-written


def test_builds_carry_and_check_values(shared_coderd, shared_owner, template):
    dsn = shared_coderd.dsn
    ws = _create(shared_owner, template, cpus="4", region="us")
    finish_latest_build(shared_owner, dsn, ws.id)
    assert shared_owner.workspace(ws.id).latest_build.status == "running"
    stop = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    assert stop.build_number == 2 and stop.status == "pending"
    assert _params_of(dsn, stop.id)["region"] == "us"
    complete_job(dsn, stop.job.id)
    assert shared_owner.workspace(ws.id).latest_build.status == "stopped"
    err = _error(shared_owner.create_workspace_build, ws.id, types.CreateWorkspaceBuildRequest(
        transition="start", rich_parameter_values=_values(disk="20")))
    assert err.status == 400 and "'disk' is immutable" in err.message
    err = _error(shared_owner.create_workspace_build, ws.id, types.CreateWorkspaceBuildRequest(
        transition="start", rich_parameter_values=_values(cpus="2")))
    assert err.status == 400 and "increasing" in err.message
    start = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="start", rich_parameter_values=_values(cpus="6")))
    assert _params_of(dsn, start.id) == {"region": "us", "cpus": "6", "disk": "10",
                                         "token": "abc", "gpu": "false"}
    complete_job(dsn, start.job.id, error="terraform apply failed")
    failed = shared_owner.workspace(ws.id).latest_build
    assert failed.status == "failed" and failed.job.error == "terraform apply failed"
    # A failed build does not block the next one.
    again = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="start"))
    shared_owner.cancel_workspace_build(again.id)
    assert shared_owner.workspace_build(again.id).status == "canceled"
    assert [b.build_number for b in shared_owner.workspace_builds(ws.id)] == [4, 3, 2, 1]


def test_delete_then_marked_deleted(shared_coderd, shared_owner, template):
    dsn = shared_coderd.dsn
    ws = _create(shared_owner, template)
    finish_latest_build(shared_owner, dsn, ws.id)
    build = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="delete", orphan=True))
    assert build.transition == "delete"
    (state,) = sql(dsn, "SELECT provisioner_state FROM workspace_builds WHERE id = %s",
                   (str(build.id),))[0]
    assert bytes(state) == b""  # orphan: nothing for terraform to destroy
    complete_job(dsn, build.job.id)
    # What the provisioner side calls when a delete build succeeds:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    AuthzQuerier(Queries(conn), system("provisionerd")).mark_workspace_deleted(ws.id)
    conn.close()
    assert _error(shared_owner.workspace, ws.id).status == 404
    gone = shared_owner.workspace(ws.id, include_deleted=True)
    assert gone.latest_build.status == "deleted"
    assert _create(shared_owner, template, name=ws.name).id != ws.id  # the name is free again
    err = _error(shared_owner.create_workspace_build, ws.id,
                 types.CreateWorkspaceBuildRequest(transition="stop", orphan=True))
    assert err.status in (400, 404)


def test_state_is_carried_to_the_next_build(shared_coderd, shared_owner, template):
    dsn = shared_coderd.dsn
    ws = _create(shared_owner, template)
    sql(dsn, "UPDATE workspace_builds SET provisioner_state = %s WHERE id = %s",
        (b'{"version": 4}', str(ws.latest_build.id)))
    finish_latest_build(shared_owner, dsn, ws.id)
    stop = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    (state,) = sql(dsn, "SELECT provisioner_state FROM workspace_builds WHERE id = %s",
                   (str(stop.id),))[0]
    assert bytes(state) == b'{"version": 4}'


def test_filters_and_visibility(shared_coderd, shared_owner, template):
    dsn = shared_coderd.dsn
    alice, alice_user = create_another_user(shared_owner, username="alice")
    bob, _ = create_another_user(shared_owner, username="bob")
    admin, _ = create_another_user(shared_owner, roles=["template-admin"])
    a1 = _create(alice, template, name="alpha-one")
    a2 = _create(alice, template, name="alpha-two")
    b1 = _create(bob, template, name="bravo")
    finish_latest_build(alice, dsn, a1.id)

    def names(client, q):
        resp = client.workspaces(q=q)
        assert resp.count == len(resp.workspaces)
        return sorted(w.name for w in resp.workspaces)

    assert names(alice, "") == ["alpha-one", "alpha-two"]
    assert names(bob, "") == ["bravo"]
    assert names(shared_owner, "owner:alice") == ["alpha-one", "alpha-two"]
    assert names(alice, "owner:me status:running") == ["alpha-one"]
    assert names(alice, "status:pending") == ["alpha-two"]
    assert names(shared_owner, "owner:alice two") == ["alpha-two"]
    assert names(shared_owner, "template:params name:bra") == ["bravo"]
    assert names(admin, "owner:bob") == ["bravo"]
    assert names(alice, "owner:bob") == []
    page = shared_owner.workspaces(q="owner:alice", limit=1, offset=1)
    assert page.count == 2 and [w.name for w in page.workspaces] == ["alpha-two"]
    assert _error(shared_owner.workspaces, q="status:sleeping").status == 400
    assert _error(shared_owner.workspaces, q="colour:red").status == 400

    # Members reach only their own; template admins read all but build none.
    assert _error(bob.workspace, a1.id).status == 404
    assert _error(bob.workspace_build, a1.latest_build.id).status == 404
    assert _error(bob.workspace_build_logs, a1.latest_build.id).status == 404
    assert _error(bob.create_workspace_build, a1.id,
                  types.CreateWorkspaceBuildRequest(transition="stop")).status == 404
    assert _error(bob.cancel_workspace_build, a2.latest_build.id).status == 404
    assert _error(bob.workspace_by_owner_and_name, "alice", "alpha-one").status == 404
    assert _error(bob.create_workspace, types.CreateWorkspaceRequest(
        name="forged", template_id=template.id), user=alice_user.id).status == 404
    assert admin.workspace(b1.id).name == "bravo"
    assert _error(admin.create_workspace_build, a1.id,
                  types.CreateWorkspaceBuildRequest(transition="stop")).status == 403
    assert _error(admin.update_workspace_ttl, a1.id, 3_600_000).status == 403
    # Owners create workspaces for others, through both paths.
    for_bob = _create(shared_owner, template, user="bob")
    assert for_bob.owner_name == "bob" and for_bob.latest_build.initiator_name == "admin"
    resp = shared_owner._request(
        "POST", "/api/v2/organizations/default/members/bob/workspaces",
        types.CreateWorkspaceRequest(name="viaorg", template_id=template.id,
                                     rich_parameter_values=_values(token="x")),
        expect=201, model_type=types.Workspace)
    assert resp.owner_name == "bob"


def test_ttl_and_deadline(shared_coderd, shared_owner):
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn, default_ttl_ms=2 * 3_600_000)
    ws = shared_owner.create_workspace(types.CreateWorkspaceRequest(name="ttl", template_id=tmpl.id))
    assert ws.ttl_ms == 2 * 3_600_000
    deadline = ws.latest_build.deadline - ws.latest_build.created_at
    assert abs(deadline - dt.timedelta(hours=2)) < dt.timedelta(seconds=5)
    finish_latest_build(shared_owner, dsn, ws.id)
    shared_owner.update_workspace_ttl(ws.id, 30 * 60_000)
    assert shared_owner.workspace(ws.id).ttl_ms == 30 * 60_000
    err = _error(shared_owner.update_workspace_ttl, ws.id, 30_000)
    assert err.status == 400 and err.validations[0].field == "ttl_ms"
    stop = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="stop"))
    assert stop.deadline is None
    complete_job(dsn, stop.job.id)
    start = shared_owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition="start"))
    assert abs(start.deadline - start.created_at - dt.timedelta(minutes=30)) < dt.timedelta(seconds=5)
    complete_job(dsn, start.job.id)
    shared_owner.update_workspace_ttl(ws.id, None)
    assert shared_owner.workspace(ws.id).ttl_ms is None


def test_autostop_tick(shared_coderd, shared_owner):
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn, default_ttl_ms=3_600_000)
    member, member_user = create_another_user(shared_owner)
    due = member.create_workspace(types.CreateWorkspaceRequest(name="due", template_id=tmpl.id))
    later = member.create_workspace(types.CreateWorkspaceRequest(name="later", template_id=tmpl.id))
    pending = member.create_workspace(types.CreateWorkspaceRequest(name="pend", template_id=tmpl.id))
    for ws in (due, later):
        finish_latest_build(member, dsn, ws.id)
    now = dt.datetime.now(dt.timezone.utc)
    for ws in (due, pending):
        sql(dsn, "UPDATE workspace_builds SET deadline = %s WHERE id = %s",
            (now - dt.timedelta(minutes=1), str(ws.latest_build.id)))
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        store = AuthzQuerier(Queries(conn), system("test-autostop"))
        assert autobuild.tick(store, now) == [due.id]
        assert autobuild.tick(store, now) == []  # idempotent: the stop is queued
    finally:
        conn.close()
    stop = member.workspace(due.id).latest_build
    assert (stop.transition, stop.reason, stop.initiator_id, stop.build_number) == \
        ("stop", "autostop", member_user.id, 2)
    assert stop.job.tags == {"scope": "organization", "owner": "", **UNBUILT_TAGS}
    assert member.workspace(later.id).latest_build.transition == "start"
    assert member.workspace(pending.id).latest_build.build_number == 1


# Coder's codersdk.WorkspaceBuild JSON fields (coderd/workspacebuilds.go convertWorkspaceBuild).
CODER_BUILD_FIELDS = {"id", "created_at", "updated_at", "workspace_id", "workspace_name",
                      "workspace_owner_id", "workspace_owner_name", "template_version_id",
                      "template_version_name", "build_number", "transition", "initiator_id",
                      "initiator_name", "job", "reason", "resources", "deadline", "max_deadline",
                      "status", "daily_cost"}


def test_build_by_number_parameters_and_state(shared_coderd, shared_owner, template):
    dsn = shared_coderd.dsn
    member, member_user = create_another_user(shared_owner)
    other, _ = create_another_user(shared_owner)
    ws = _create(member, template, cpus="4")
    finish_latest_build(member, dsn, ws.id)
    build_id = ws.latest_build.id
    base = f"/api/v2/users/{member_user.username}/workspace/{ws.name}/builds"

    resp = raw(shared_coderd, "GET", f"{base}/1", member.token)
    assert resp.status_code == 200 and set(resp.json()) >= CODER_BUILD_FIELDS
    assert (resp.json()["id"], resp.json()["build_number"]) == (str(build_id), 1)
    resp = raw(shared_coderd, "GET", f"{base}/7", member.token)
    assert (resp.status_code, resp.json()["message"]) == (
        404, f'Workspace "{ws.name}" Build 7 does not exist.')
    resp = raw(shared_coderd, "GET", f"{base}/seven", member.token)
    assert (resp.status_code, resp.json()["message"]) == (
        400, "Failed to parse build number as integer.")
    assert raw(shared_coderd, "GET", f"{base}/1", other.token).status_code == 404
    assert raw(shared_coderd, "GET", f"{base}/1").status_code == 401

    # Coder's []codersdk.WorkspaceBuildParameter: name and value.
    resp = raw(shared_coderd, "GET", f"/api/v2/workspacebuilds/{build_id}/parameters", member.token)
    assert resp.json() == [{"name": "cpus", "value": "4"}, {"name": "disk", "value": "10"},
                           {"name": "gpu", "value": "false"}, {"name": "region", "value": "eu"},
                           {"name": "token", "value": "abc"}]
    assert raw(shared_coderd, "GET", f"/api/v2/workspacebuilds/{build_id}/parameters",
               other.token).status_code == 404

    # State: only who may change the template, even the workspace's owner gets 404 (Coder).
    sql(dsn, "UPDATE workspace_builds SET provisioner_state = %s WHERE id = %s",
        (b'{"version": 4}', str(build_id)))
    state_path = f"/api/v2/workspacebuilds/{build_id}/state"
    for token in (member.token, other.token):
        assert raw(shared_coderd, "GET", state_path, token).status_code == 404
        assert raw(shared_coderd, "PUT", state_path, token,
                   json={"state": "e30="}).status_code == 404
    assert raw(shared_coderd, "GET", state_path).status_code == 401
    resp = raw(shared_coderd, "GET", state_path, shared_owner.token)
    assert (resp.status_code, resp.content) == (200, b'{"version": 4}')
    assert resp.headers["Content-Type"].startswith("application/json")
    resp = raw(shared_coderd, "PUT", state_path, shared_owner.token, json={"state": "not base64!"})
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "state"
    # Go marshals []byte as standard base64: b'{"version": 5}'
    resp = raw(shared_coderd, "PUT", state_path, shared_owner.token,
               json={"state": "eyJ2ZXJzaW9uIjogNX0="})
    assert resp.status_code == 204
    assert shared_owner.workspace_build_state(build_id) == b'{"version": 5}'

    # A build from given state (coder state push): template admins only.
    body = {"transition": "start", "template_version_id": str(ws.latest_build.template_version_id),
            "state": "eyJ2ZXJzaW9uIjogNn0="}
    resp = raw(shared_coderd, "POST", f"/api/v2/workspaces/{ws.id}/builds", member.token, json=body)
    assert (resp.status_code, resp.json()["message"]) == (
        403, "Only template managers may provide custom state.")
    resp = raw(shared_coderd, "POST", f"/api/v2/workspaces/{ws.id}/builds", shared_owner.token,
               json=body)
    assert resp.status_code == 201 and resp.json()["build_number"] == 2
    assert shared_owner.workspace_build_state(resp.json()["id"]) == b'{"version": 6}'


def test_rename_refused_unless_allowed(shared_coderd, shared_owner, template):
    """This coderd runs without CODER_ALLOW_WORKSPACE_RENAMES (Coder's default); the CLI test
    renames on one that allows it."""
    ws = _create(shared_owner, template)
    path = f"/api/v2/workspaces/{ws.id}"
    assert shared_owner.workspace(ws.id).allow_renames is False
    resp = raw(shared_coderd, "PATCH", path, shared_owner.token, json={"name": "other"})
    assert (resp.status_code, resp.json()["message"]) == (400, "Workspace renames are not allowed.")
    # Coder's UpdateWorkspaceRequest with the same name, or none, changes nothing.
    for body in ({"name": ws.name}, {"name": ""}):
        assert raw(shared_coderd, "PATCH", path, shared_owner.token, json=body).status_code == 204
    assert raw(shared_coderd, "PATCH", path, shared_owner.token,
               json={"name": "bad_name"}).status_code == 400


def _executor(dsn: str, now: dt.datetime) -> list:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        return autobuild.tick(AuthzQuerier(Queries(conn), system("test-lifecycle")), now)
    finally:
        conn.close()


def test_autostart_schedule_api(shared_coderd, shared_owner):
    """PUT /workspaces/{id}/autostart as Coder's: cron.Weekly's rules and error texts in
    the 'schedule' validation, the schedule stored as given, next_start_at in the JSON."""
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn)
    member, _ = create_another_user(shared_owner)
    ws = member.create_workspace(types.CreateWorkspaceRequest(name="sched", template_id=tmpl.id))
    path = f"/api/v2/workspaces/{ws.id}/autostart"
    resp = raw(shared_coderd, "PUT", path, member.token,
               json={"schedule": "CRON_TZ=Europe/Dublin 30 9 * * 1-5"})
    assert resp.status_code == 204, resp.text
    body = raw(shared_coderd, "GET", f"/api/v2/workspaces/{ws.id}", member.token).json()
    assert body["autostart_schedule"] == "CRON_TZ=Europe/Dublin 30 9 * * 1-5"
    start = dt.datetime.fromisoformat(body["next_start_at"].replace("Z", "+00:00"))
    local = start.astimezone(zoneinfo.ZoneInfo("Europe/Dublin"))
    assert (local.hour, local.minute) == (9, 30) and local.isoweekday() <= 5
    assert start > dt.datetime.now(dt.timezone.utc)
    for schedule, detail in [
            ("30 9 * *", "validate weekly schedule: expected schedule to consist of 5 fields "
                         "with an optional CRON_TZ=<timezone> prefix"),
            ("30 9 1 * *", "validate weekly schedule: expected day-of-month and month to be *"),
            ("CRON_TZ=Mars/Base 30 9 * * *",
             "parse schedule: provided bad location Mars/Base: unknown time zone Mars/Base"),
            ("30 24 * * *", "parse schedule: end of range (24) above maximum (23): 24"),
            ("30 9 * * fri-mon",
             "parse schedule: beginning of range (5) beyond end of range (1): fri-mon")]:
        resp = raw(shared_coderd, "PUT", path, member.token, json={"schedule": schedule})
        assert resp.status_code == 400
        assert resp.json()["message"] == "Invalid autostart schedule."
        assert resp.json()["validations"] == [{"field": "schedule", "detail": detail}]
    assert member.workspace(ws.id).autostart_schedule == "CRON_TZ=Europe/Dublin 30 9 * * 1-5"
    assert raw(shared_coderd, "PUT", path, member.token, json={"schedule": ""}).status_code == 204
    body = raw(shared_coderd, "GET", f"/api/v2/workspaces/{ws.id}", member.token).json()
    assert body.get("autostart_schedule") is None and body["next_start_at"] is None
    # The attacks: another member, and no session.
    other, _ = create_another_user(shared_owner)
    assert raw(shared_coderd, "PUT", path, other.token,
               json={"schedule": "30 9 * * *"}).status_code == 404
    assert raw(shared_coderd, "PUT", path, json={"schedule": "30 9 * * *"}).status_code == 401
    err = _error(member.create_workspace, types.CreateWorkspaceRequest(
        name="badsched", template_id=tmpl.id, autostart_schedule="30 9 * * 8"))
    assert err.status == 400 and err.validations[0].field == "schedule"


def test_extend_deadline(shared_coderd, shared_owner):
    """PUT /workspaces/{id}/extend: Coder's refusals (409 while building or without a
    deadline, 400 under 30 minutes), 200 with Coder's Response on success."""
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn, default_ttl_ms=3_600_000)
    member, _ = create_another_user(shared_owner)
    ws = member.create_workspace(types.CreateWorkspaceRequest(name="ext", template_id=tmpl.id))
    path = f"/api/v2/workspaces/{ws.id}/extend"
    now = dt.datetime.now(dt.timezone.utc)
    later = (now + dt.timedelta(hours=3)).replace(microsecond=0)
    resp = raw(shared_coderd, "PUT", path, member.token, json={"deadline": later.isoformat()})
    assert (resp.status_code, resp.json()["message"]) == (409, "Workspace is still building!")
    finish_latest_build(member, dsn, ws.id)
    soon = (now + dt.timedelta(minutes=10)).isoformat()
    resp = raw(shared_coderd, "PUT", path, member.token, json={"deadline": soon})
    assert resp.status_code == 400
    assert resp.json()["message"] == ("Cannot extend workspace: new deadline must be at least "
                                      "30 minutes in the future")
    resp = raw(shared_coderd, "PUT", path, member.token, json={"deadline": later.isoformat()})
    assert resp.status_code == 200
    assert resp.json()["message"] == f"Deadline updated to {later:%Y-%m-%dT%H:%M:%SZ}."
    assert member.workspace(ws.id).latest_build.deadline == later
    other, _ = create_another_user(shared_owner)
    assert raw(shared_coderd, "PUT", path, other.token,
               json={"deadline": later.isoformat()}).status_code == 404
    assert raw(shared_coderd, "PUT", path, json={"deadline": later.isoformat()}).status_code == 401
    member.update_workspace_ttl(ws.id, None)
    sql(dsn, "UPDATE workspace_builds SET deadline = NULL WHERE workspace_id = %s", (str(ws.id),))
    resp = raw(shared_coderd, "PUT", path, member.token, json={"deadline": later.isoformat()})
    assert (resp.status_code, resp.json()["message"]) == (409, "Workspace shutdown is manual.")
    stop = member.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(transition="stop"))
    complete_job(dsn, stop.job.id)
    resp = raw(shared_coderd, "PUT", path, member.token, json={"deadline": later.isoformat()})
    assert (resp.status_code, resp.json()["message"]) == (
        409, "Workspace must be started, current status: stop")


def test_favorites_and_automatic_updates(shared_coderd, shared_owner):
    """Favorites: one's own only (403 in Coder's words even for a deployment owner), shown
    only to the owner, first in lists; automatic_updates: always|never."""
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn)
    member, _ = create_another_user(shared_owner)
    a = member.create_workspace(types.CreateWorkspaceRequest(name="aaa", template_id=tmpl.id))
    z = member.create_workspace(types.CreateWorkspaceRequest(name="zzz", template_id=tmpl.id))
    fav = f"/api/v2/workspaces/{z.id}/favorite"
    assert raw(shared_coderd, "PUT", fav, member.token).status_code == 204
    names = [w.name for w in member.workspaces(q="owner:me").workspaces]
    assert names == ["zzz", "aaa"]
    body = raw(shared_coderd, "GET", f"/api/v2/workspaces/{z.id}", member.token).json()
    assert body["favorite"] is True
    assert shared_owner.workspace(z.id).favorite is False  # only the owner sees it
    resp = raw(shared_coderd, "PUT", fav, shared_owner.token)
    assert resp.status_code == 403
    assert resp.json()["message"] == "You can only favorite workspaces that you own."
    resp = raw(shared_coderd, "DELETE", fav, shared_owner.token)
    assert resp.json()["message"] == "You can only un-favorite workspaces that you own."
    other, _ = create_another_user(shared_owner)
    assert raw(shared_coderd, "PUT", fav, other.token).status_code == 404
    assert raw(shared_coderd, "PUT", fav).status_code == 401
    assert raw(shared_coderd, "DELETE", fav, member.token).status_code == 204
    assert [w.name for w in member.workspaces(q="owner:me").workspaces] == ["aaa", "zzz"]

    path = f"/api/v2/workspaces/{a.id}/autoupdates"
    assert raw(shared_coderd, "PUT", path, member.token,
               json={"automatic_updates": "always"}).status_code == 204
    body = raw(shared_coderd, "GET", f"/api/v2/workspaces/{a.id}", member.token).json()
    assert body["automatic_updates"] == "always"
    resp = raw(shared_coderd, "PUT", path, member.token, json={"automatic_updates": "sometimes"})
    assert resp.status_code == 400 and resp.json()["validations"] == [
        {"field": "automatic_updates", "detail": "must be always or never"}]
    assert raw(shared_coderd, "PUT", path, other.token,
               json={"automatic_updates": "never"}).status_code == 404
    assert raw(shared_coderd, "PUT", path, json={"automatic_updates": "never"}).status_code == 401


def test_autostart_tick(shared_coderd, shared_owner):
    """The executor starts stopped workspaces whose next autostart has passed, on the active
    version when automatic updates are 'always'; failed, running and deleted ones are passed
    by; time is driven through ``now``."""
    dsn = shared_coderd.dsn
    tmpl = make_template(shared_owner, dsn)
    member, member_user = create_another_user(shared_owner)
    made = {}
    for name in ("due", "always", "failed", "running", "gone"):
        ws = member.create_workspace(types.CreateWorkspaceRequest(name=name, template_id=tmpl.id))
        finish_latest_build(member, dsn, ws.id)
        if name != "running":
            stop = member.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
                transition="stop"))
            complete_job(dsn, stop.job.id, error="boom" if name == "failed" else None)
        member.update_workspace_autostart(ws.id, "CRON_TZ=UTC 0 9 * * *")
        made[name] = ws
    member.update_workspace_automatic_updates(made["always"].id, "always")
    gone = member.create_workspace_build(made["gone"].id, types.CreateWorkspaceBuildRequest(
        transition="delete"))
    complete_job(dsn, gone.job.id)
    newer = imported_version(shared_owner, dsn, template_id=tmpl.id)
    sql(dsn, "UPDATE templates SET active_version_id = %s WHERE id = %s",
        (str(newer.id), str(tmpl.id)))

    start_at = member.workspace(made["due"].id).next_start_at
    assert start_at is not None and (start_at.hour, start_at.minute) == (9, 0)
    mine = {ws.id for ws in made.values()}  # the shared coderd has other tests' workspaces

    def started(now):
        return sorted(str(i) for i in _executor(dsn, now) if i in mine)

    assert started(start_at - dt.timedelta(minutes=1)) == []
    assert started(start_at) == sorted(str(made[n].id) for n in ("due", "always"))
    assert started(start_at) == []  # idempotent: the starts are queued
    due = member.workspace(made["due"].id)
    build = due.latest_build
    assert (build.transition, build.reason, build.initiator_id) == \
        ("start", "autostart", member_user.id)
    assert build.template_version_id == tmpl.active_version_id
    assert member.workspace(made["always"].id).latest_build.template_version_id == newer.id
    assert due.next_start_at == start_at + dt.timedelta(days=1)
    assert member.workspace(made["failed"].id).latest_build.transition == "stop"
    assert member.workspace(made["running"].id).latest_build.build_number == 1
