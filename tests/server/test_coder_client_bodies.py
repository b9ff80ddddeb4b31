"""Request bodies as Coder's own clients and third-party ones send them, over raw HTTP.

Each body is recorded as its client marshals it, not built from this project's
types: Go's encoding/json writes every field without ``omitempty`` (``""``,
``null`` for nil pointers and slices) and never drops a ``uuid.UUID``, so an
unset one arrives as the nil UUID; the ``coder-api`` Python client follows
Coder's older documentation (``disable_login``, ``organization_id``).
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import UNBUILT_TAGS, complete_job, make_tar, make_template, sql

NIL = "00000000-0000-0000-0000-000000000000"
HOUR_NS = 3600 * 1_000_000_000


def _name(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10]


def send(coderd, owner, method: str, path: str, body, status: int) -> dict:
    """Send ``body`` as JSON and check the status; a 4xx must carry Coder's error shape."""
    resp = raw(coderd, method, "/api/v2" + path, owner.token, json=body)
    assert resp.status_code == status, resp.text
    if resp.status_code >= 400:
        payload = resp.json()
        assert payload["message"] and set(payload) >= {"message", "detail"}, payload
        return payload
    return resp.json() if resp.content else {}


def login_status(coderd, email: str, password: str) -> int:
    return raw(coderd, "POST", "/api/v2/users/login",
               json={"email": email, "password": password}).status_code


@pytest.fixture(scope="module")
def org_id(shared_owner) -> str:
    return str(shared_owner.organization("default").id)


def _user_body(**fields) -> dict:
    name = _name("u")
    return {"email": f"{name}@example.com", "username": name, **fields}


# --- POST /users ------------------------------------------------------------------------

def test_coder_api_client_disable_login_means_login_type_none(shared_coderd, shared_owner, org_id):
    body = _user_body(disable_login=True, login_type=None, organization_id=org_id)
    user = send(shared_coderd, shared_owner, "POST", "/users", body, 201)
    assert user["login_type"] == "none" and user["organization_ids"] == [org_id]
    assert login_status(shared_coderd, body["email"], "anything") == 401
    # Such a user works with a token an admin makes for them.
    token = shared_owner.create_token(user["id"], token_name=_name("t"))
    assert raw(shared_coderd, "GET", "/api/v2/users/me", token).json()["id"] == user["id"]


def test_go_sdk_users_create_login_type_none(shared_coderd, shared_owner, org_id):
    body = _user_body(name="", password="", login_type="none", user_status=None,
                      organization_ids=[org_id])
    user = send(shared_coderd, shared_owner, "POST", "/users", body, 201)
    assert (user["login_type"], user["status"]) == ("none", "active")


def test_go_sdk_users_create_with_password(shared_coderd, shared_owner, org_id):
    body = _user_body(name="Go User", password="GoPassword1!", login_type="",
                      user_status=None, organization_ids=[org_id])
    user = send(shared_coderd, shared_owner, "POST", "/users", body, 201)
    assert (user["login_type"], user["name"]) == ("password", "Go User")
    assert login_status(shared_coderd, body["email"], "GoPassword1!") == 201


def test_deprecated_go_create_user_request_with_nil_organization(shared_coderd, shared_owner,
                                                                  org_id):
    body = _user_body(name="", password="OldSdk123!", login_type="", disable_login=False,
                      organization_id=NIL)
    user = send(shared_coderd, shared_owner, "POST", "/users", body, 201)
    assert user["organization_ids"] == [org_id] and user["login_type"] == "password"


def test_organization_id_joins_organization_ids(shared_coderd, shared_owner, org_id):
    [(second,)] = sql(shared_coderd.dsn, "INSERT INTO organizations (name, display_name) "
                                         "VALUES (%s, 'Second') RETURNING id::text", (_name("o"),))
    body = _user_body(password="Joined123!", organization_id=second, organization_ids=[org_id])
    user = send(shared_coderd, shared_owner, "POST", "/users", body, 201)
    assert sorted(user["organization_ids"]) == sorted([org_id, second])


def test_user_status_is_set_on_creation(shared_coderd, shared_owner):
    body = _user_body(password="Suspended1!", login_type="password", user_status="suspended")
    assert send(shared_coderd, shared_owner, "POST", "/users", body, 201)["status"] == "suspended"


@pytest.mark.parametrize("fields,status,fieldname", [
    ({"password": "Member-Secure-Pass1", "organization_ids": [str(uuid.uuid4())]}, 404, "organization_ids"),
    ({"disable_login": True, "password": "Member-Secure-Pass1"}, 400, "password"),
    # login_type wins over the deprecated flag.
    ({"disable_login": True, "login_type": "password", "password": ""}, 400, "password"),
    ({"disable_login": "yes", "password": "Member-Secure-Pass1"}, 400, "disable_login"),
    ({"login_type": "github", "password": ""}, 400, "login_type"),
    ({"password": "Member-Secure-Pass1", "user_status": "sleeping"}, 400, "user_status"),
], ids=["unknown-org", "password-and-disabled", "password-type-wins", "flag-not-bool",
        "github", "bad-status"])
def test_bad_user_bodies(shared_coderd, shared_owner, fields, status, fieldname):
    body = _user_body(**fields)
    error = send(shared_coderd, shared_owner, "POST", "/users", body, status)
    assert fieldname in [v["field"] for v in error["validations"] or []], error
    assert raw(shared_coderd, "GET", f"/api/v2/users/{body['username']}",
               shared_owner.token).status_code == 404


# --- roles, members, status, password ----------------------------------------------------

def test_go_nil_roles_clear_site_and_organization_roles(shared_coderd, shared_owner):
    _, user = create_another_user(shared_owner, roles=["auditor"])
    got = send(shared_coderd, shared_owner, "PUT", f"/users/{user.id}/roles", {"roles": None}, 200)
    assert got["roles"] == []
    send(shared_coderd, shared_owner, "PUT", f"/organizations/default/members/{user.id}/roles",
         {"roles": ["organization-auditor"]}, 200)
    member = send(shared_coderd, shared_owner, "PUT",
                  f"/organizations/default/members/{user.id}/roles", {}, 200)
    assert member["roles"] == []
    send(shared_coderd, shared_owner, "PUT", f"/users/{user.id}/roles", {"roles": "auditor"}, 400)


def test_adding_a_member_twice_is_a_400(shared_coderd, shared_owner):
    _, user = create_another_user(shared_owner)
    error = send(shared_coderd, shared_owner, "POST", f"/organizations/default/members/{user.id}",
                 None, 400)
    assert "already exists" in error["message"]


def test_an_owner_cannot_be_suspended(shared_coderd, shared_owner):
    _, other_owner = create_another_user(shared_owner, roles=["owner"])
    send(shared_coderd, shared_owner, "PUT", f"/users/{other_owner.id}/status/suspend", None, 400)
    assert shared_owner.user(other_owner.id).status == "active"


def test_password_bodies(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner, password="FirstPass1!")
    own = send(shared_coderd, member, "PUT", "/users/me/password",
               {"old_password": "", "password": "SecondPass1!"}, 400)
    assert own["message"] == "Old password is required."
    # An old password, if an admin sends one, is checked too.
    send(shared_coderd, shared_owner, "PUT", f"/users/{user.id}/password",
         {"old_password": "wrong", "password": "SecondPass1!"}, 400)
    same = send(shared_coderd, shared_owner, "PUT", f"/users/{user.id}/password",
                {"old_password": "", "password": "FirstPass1!"}, 400)
    assert [v["field"] for v in same["validations"]] == ["password"]
    send(shared_coderd, shared_owner, "PUT", f"/users/{user.id}/password",
         {"old_password": "", "password": "SecondPass1!"}, 204)
    assert login_status(shared_coderd, user.email, "SecondPass1!") == 201


# --- POST /users/{user}/keys/tokens ---------------------------------------------------------

def _token(shared_coderd, shared_owner, name: str) -> dict:
    return raw(shared_coderd, "GET", f"/api/v2/users/me/keys/tokens/{name}",
               shared_owner.token).json()


def test_go_cli_tokens_create_lifetime_in_nanoseconds(shared_coderd, shared_owner):
    name = _name("t")
    send(shared_coderd, shared_owner, "POST", "/users/me/keys/tokens",
         {"lifetime": 24 * HOUR_NS, "token_name": name}, 201)
    key = _token(shared_coderd, shared_owner, name)
    assert (key["lifetime_seconds"], key["scope"]) == (86400, "all")
    expires = dt.datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00"))
    left = expires - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)


@pytest.mark.parametrize("fields,scope", [
    ({"lifetime": 0, "scope": ""}, "all"),
    ({"lifetime": 0, "scope": "application_connect"}, "application_connect"),
    ({"lifetime": 0, "scopes": ["coder:application_connect"]}, "application_connect"),
    ({"lifetime": 0, "scope": "application_connect", "scopes": ["coder:all"]}, "all"),
], ids=["go-empty-scope", "legacy-scope", "newer-scopes", "scopes-win"])
def test_token_scopes(shared_coderd, shared_owner, fields, scope):
    name = _name("t")
    send(shared_coderd, shared_owner, "POST", "/users/me/keys/tokens",
         {**fields, "token_name": name}, 201)
    assert _token(shared_coderd, shared_owner, name)["scope"] == scope


@pytest.mark.parametrize("fields,fieldname", [
    ({"lifetime": 86400}, "lifetime"),  # seconds where Coder takes nanoseconds
    ({"lifetime": -1}, "lifetime"),
    ({"lifetime": "24h"}, "lifetime"),
    ({"scopes": ["workspace:read"]}, "scopes"),
    ({"scopes": ["coder:all", "coder:application_connect"]}, "scopes"),
    ({"scope": "everything"}, "scope"),
], ids=["seconds", "negative", "string", "unknown-scope", "two-scopes", "bad-legacy-scope"])
def test_bad_token_bodies(shared_coderd, shared_owner, fields, fieldname):
    name = _name("t")
    error = send(shared_coderd, shared_owner, "POST", "/users/me/keys/tokens",
                 {"token_name": name, **fields}, 400)
    assert fieldname in [v["field"] for v in error["validations"]], error
    assert name not in [t.token_name for t in shared_owner.tokens()]


# --- templates and their versions -----------------------------------------------------------

def test_go_cli_templates_push_bodies(shared_coderd, shared_owner, org_id):
    file_id = shared_owner.upload_file(make_tar({"main.tf": "# pushed by coder\n"}))
    version = send(shared_coderd, shared_owner, "POST", "/organizations/default/templateversions",
                   {"name": "", "message": "", "template_id": NIL, "storage_method": "file",
                    "file_id": str(file_id), "provisioner": "terraform", "tags": UNBUILT_TAGS},
                   201)
    assert version["template_id"] is None and version["name"]
    complete_job(shared_coderd.dsn, version["job"]["id"])
    body = {"name": _name("tp"), "template_version_id": version["id"],
            "allow_user_cancel_workspace_jobs": None, "disable_everyone_group_access": False,
            "require_active_version": False, "max_port_share_level": None, "cors_behavior": None}
    template = send(shared_coderd, shared_owner, "POST", f"/organizations/{org_id}/templates",
                    body, 201)
    assert (template["activity_bump_ms"], template["default_ttl_ms"]) == (3_600_000, 0)
    assert template["allow_user_cancel_workspace_jobs"] is True
    # A later version for this template, as push sends it, then pointer fields left null.
    file_id = shared_owner.upload_file(make_tar({"main.tf": "# second push\n"}))
    later = send(shared_coderd, shared_owner, "POST", "/organizations/default/templateversions",
                 {"name": "", "message": "again", "template_id": template["id"],
                  "storage_method": "file", "file_id": str(file_id), "provisioner": "terraform",
                  "tags": None}, 201)
    assert later["template_id"] == template["id"]
    patched = send(shared_coderd, shared_owner, "PATCH", f"/templates/{template['id']}",
                   {"description": "Edited", "display_name": None, "icon": None}, 200)
    assert (patched["description"], patched["name"]) == ("Edited", template["name"])
    assert patched["activity_bump_ms"] == 3_600_000


def test_nil_template_version_id_is_missing(shared_coderd, shared_owner):
    error = send(shared_coderd, shared_owner, "POST", "/organizations/default/templates",
                 {"name": _name("tp"), "template_version_id": NIL}, 400)
    assert [v["field"] for v in error["validations"]] == ["template_version_id"]


# --- workspaces and builds ---------------------------------------------------------------

@pytest.fixture(scope="module")
def template(shared_coderd, shared_owner):
    return make_template(shared_owner, shared_coderd.dsn, default_ttl_ms=2 * 3_600_000)


def _create_body(template, **fields) -> dict:
    return {"template_id": str(template.id), "template_version_id": NIL, "name": _name("w"),
            "template_version_preset_id": NIL, **fields}


def test_go_cli_create_then_start_and_stop(shared_coderd, shared_owner, template):
    ws = send(shared_coderd, shared_owner, "POST", "/users/me/workspaces",
              _create_body(template), 201)
    assert ws["latest_build"]["template_version_id"] == str(template.active_version_id)
    assert (ws["ttl_ms"], ws["autostart_schedule"]) == (2 * 3_600_000, None)
    complete_job(shared_coderd.dsn, ws["latest_build"]["job"]["id"])
    for transition in ("stop", "start"):
        build = send(shared_coderd, shared_owner, "POST", f"/workspaces/{ws['id']}/builds",
                     {"template_version_id": NIL, "transition": transition,
                      "template_version_preset_id": NIL}, 201)
        assert build["transition"] == transition
        complete_job(shared_coderd.dsn, build["job"]["id"])


@pytest.mark.parametrize("fields,ttl_ms", [
    ({"ttl_ms": 0, "autostart_schedule": ""}, 2 * 3_600_000),  # zero: the template's default
    ({"ttl_ms": 90_500}, 60_000),  # whole minutes
], ids=["zero", "truncated"])
def test_workspace_ttl_on_creation(shared_coderd, shared_owner, template, fields, ttl_ms):
    ws = send(shared_coderd, shared_owner, "POST", "/users/me/workspaces",
              _create_body(template, **fields), 201)
    assert (ws["ttl_ms"], ws["autostart_schedule"]) == (ttl_ms, None)


def test_put_ttl_null_and_truncated(shared_coderd, shared_owner, template):
    ws = send(shared_coderd, shared_owner, "POST", "/users/me/workspaces",
              _create_body(template), 201)
    for body, ttl_ms in (({"ttl_ms": None}, None), ({"ttl_ms": 5_430_000}, 5_400_000)):
        send(shared_coderd, shared_owner, "PUT", f"/workspaces/{ws['id']}/ttl", body, 204)
        assert shared_owner.workspace(ws["id"]).ttl_ms == ttl_ms


@pytest.mark.parametrize("fields,fieldname", [
    ({"template_version_id": str(uuid.uuid4())}, "template_id"),
    ({"template_id": NIL}, "template_id"),
    ({"ttl_ms": 59_999}, "ttl_ms"),
    ({"template_id": "nope"}, "template_id"),
    ({"automatic_updates": "sometimes"}, "automatic_updates"),
], ids=["both-ids", "neither-id", "under-a-minute", "not-a-uuid", "bad-updates"])
def test_bad_workspace_bodies(shared_coderd, shared_owner, template, fields, fieldname):
    error = send(shared_coderd, shared_owner, "POST", "/users/me/workspaces",
                 _create_body(template, **fields), 400)
    assert fieldname in [v["field"] for v in error["validations"]], error
