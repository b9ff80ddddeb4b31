"""The last user and organization endpoints of issue 19, against Coder's own JSON.

Each ``CODER_*`` body below is what Coder's API reference (coder.com/docs/reference/api)
shows for the endpoint, as Coder sends it: the appliance's answer must carry every field
with the same JSON type. Every endpoint is also tried by a member against another user
(or an owner) and without a session.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import complete_job, make_template

CODER_PREFERENCES = {"agent_chat_send_shortcut": "enter", "code_diff_display_mode": "auto",
                     "collapse_assistant_steps": True, "shell_tool_display_mode": "auto",
                     "thinking_display_mode": "auto"}
CODER_VALIDATE_PASSWORD = {"details": "string", "valid": True}
CODER_LOGIN_TYPE = {"login_type": ""}
CODER_USER_PARAMETER = {"name": "string", "value": "string"}
# Coder's also has default_org_member_roles, a Premium setting (custom roles) absent here.
CODER_ORGANIZATION = {"created_at": "2019-08-24T14:15:22Z", "description": "string",
                      "display_name": "string", "icon": "string",
                      "id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "is_default": True,
                      "name": "string", "updated_at": "2019-08-24T14:15:22Z"}
CODER_MEMBER = {"avatar_url": "string", "created_at": "2019-08-24T14:15:22Z", "email": "string",
                "global_roles": [{"display_name": "string", "name": "string",
                                  "organization_id": "string"}],
                "has_ai_seat": True, "is_service_account": True,
                "last_seen_at": "2019-08-24T14:15:22Z", "login_type": "", "name": "string",
                "organization_id": "7c60d51f-b44e-4682-87d6-449835ea4de6",
                "roles": [{"display_name": "string", "name": "string",
                           "organization_id": "string"}],
                "status": "active", "updated_at": "2019-08-24T14:15:22Z",
                "user_created_at": "2019-08-24T14:15:22Z",
                "user_id": "a169451c-8525-4352-b8ca-070dd449a1a5",
                "user_updated_at": "2019-08-24T14:15:22Z", "username": "string"}
CODER_PAGINATED_MEMBERS = {"members": [CODER_MEMBER], "count": 0}
CODER_MINIMAL_USER = {"avatar_url": "http://example.com",
                      "id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "name": "string",
                      "username": "string"}
CODER_AVAILABLE_EXPERIMENTS = {"safe": ["example"]}
CODER_EXPERIMENTS = ["example"]
# codersdk.ExternalAPIKeyScopes (Coder's newer catalog of resource scopes is not implemented).
CODER_EXTERNAL_SCOPES = {"external": ["all"]}


def assert_like(coder, ours, where: str = "") -> None:
    """``ours`` has each of Coder's fields with the same JSON type (lists by their items)."""
    if isinstance(coder, dict):
        assert isinstance(ours, dict), (where, ours)
        for key, value in coder.items():
            assert key in ours, f"{where}.{key} missing from {sorted(ours)}"
            assert_like(value, ours[key], f"{where}.{key}")
    elif isinstance(coder, list):
        assert isinstance(ours, list), (where, ours)
        for item in ours:
            assert_like(coder[0], item, where + "[]")
    else:
        assert type(ours) is type(coder), (where, ours)


def get(coderd, path: str, token: str = "", status: int = 200, **kwargs):
    resp = raw(coderd, "GET", "/api/v2" + path, token, **kwargs)
    assert resp.status_code == status, resp.text
    return resp.json()


def test_preferences(shared_coderd, shared_owner):
    member, member_user = create_another_user(shared_owner)
    other, _ = create_another_user(shared_owner)
    prefs = get(shared_coderd, "/users/me/preferences", member.token)
    assert_like(CODER_PREFERENCES, prefs)
    assert prefs == {"agent_chat_send_shortcut": "enter", "code_diff_display_mode": "auto",
                     "collapse_assistant_steps": False, "shell_tool_display_mode": "auto",
                     "thinking_display_mode": "auto"}

    # A field left out keeps its value; booleans stay booleans.
    path = "/api/v2/users/me/preferences"
    resp = raw(shared_coderd, "PUT", path, member.token,
               json={"agent_chat_send_shortcut": "modifier_enter", "collapse_assistant_steps": True})
    assert resp.status_code == 200, resp.text
    resp = raw(shared_coderd, "PUT", path, member.token, json={"thinking_display_mode": "preview",
                                                              "code_diff_display_mode": None})
    assert resp.json() == {**prefs, "agent_chat_send_shortcut": "modifier_enter",
                           "collapse_assistant_steps": True, "thinking_display_mode": "preview"}
    assert get(shared_coderd, f"/users/{member_user.username}/preferences",
               member.token) == resp.json()
    # An owner reads them (as Coder: read_personal); an unknown value is a 400 naming the field.
    assert get(shared_coderd, f"/users/{member_user.id}/preferences",
               shared_owner.token) == resp.json()
    bad = raw(shared_coderd, "PUT", path, member.token, json={"thinking_display_mode": "loud"})
    assert bad.status_code == 400 and bad.json()["validations"][0]["field"] == \
        "thinking_display_mode"

    # Attacks: another member reads or sets neither; the owner's are not a member's to set.
    get(shared_coderd, f"/users/{member_user.username}/preferences", other.token, 404)
    resp = raw(shared_coderd, "PUT", f"/api/v2/users/{member_user.username}/preferences",
               other.token, json={"collapse_assistant_steps": False})
    assert resp.status_code in (403, 404)
    resp = raw(shared_coderd, "PUT", "/api/v2/users/admin/preferences", member.token,
               json={"collapse_assistant_steps": True})
    assert resp.status_code in (403, 404)
    assert get(shared_coderd, "/users/me/preferences", member.token)["collapse_assistant_steps"]
    get(shared_coderd, "/users/me/preferences", "", 401)
    assert raw(shared_coderd, "PUT", path, json={}).status_code == 401


def test_validate_password_applies_the_password_rule(shared_coderd, shared_owner):
    path = "/api/v2/users/validate-password"
    weak = raw(shared_coderd, "POST", path, json={"password": "password"})
    assert weak.status_code == 200
    assert_like(CODER_VALIDATE_PASSWORD, weak.json())
    assert weak.json()["valid"] is False and "insecure password" in weak.json()["details"]
    # The same rule as PUT /users/{user}/password: its refusal says the same reason.
    change = raw(shared_coderd, "PUT", "/api/v2/users/me/password", shared_owner.token,
                 json={"password": "password", "old_password": "SomeSecurePassword!"})
    assert change.json()["validations"][0]["detail"] == weak.json()["details"]
    strong = raw(shared_coderd, "POST", path, json={"password": "Correct-Horse-Battery-9"})
    assert strong.json() == {"valid": True, "details": ""}
    # Coder serves it beside login, without a session (the setup form uses it); a body
    # without a password is a 400 naming the field.
    empty = raw(shared_coderd, "POST", path, json={})
    assert empty.status_code == 400 and empty.json()["validations"][0]["field"] == "password"


def test_login_type(shared_coderd, shared_owner):
    member, member_user = create_another_user(shared_owner)
    other, _ = create_another_user(shared_owner)
    body = get(shared_coderd, "/users/me/login-type", member.token)
    assert_like(CODER_LOGIN_TYPE, body)
    assert body == {"login_type": "password"}
    assert get(shared_coderd, f"/users/{member_user.username}/login-type",
               shared_owner.token) == body
    get(shared_coderd, f"/users/{member_user.username}/login-type", other.token, 404)
    get(shared_coderd, "/users/admin/login-type", member.token, 404)
    get(shared_coderd, "/users/me/login-type", "", 401)


def test_autofill_parameters(shared_coderd, shared_owner):
    dsn = shared_coderd.dsn
    member, member_user = create_another_user(shared_owner)
    other, _ = create_another_user(shared_owner)
    template = make_template(shared_owner, dsn, params=[
        {"name": "region", "default_value": "eu"}, {"name": "size", "default_value": "s"},
        {"name": "token", "ephemeral": True}])
    path = f"/users/me/autofill-parameters?template_id={template.id}"
    assert get(shared_coderd, path, member.token) == []

    def build(name: str, values: dict) -> None:
        resp = raw(shared_coderd, "POST", "/api/v2/users/me/workspaces", member.token, json={
            "name": name, "template_id": str(template.id),
            "rich_parameter_values": [{"name": k, "value": v} for k, v in values.items()]})
        assert resp.status_code == 201, resp.text
        complete_job(dsn, resp.json()["latest_build"]["job"]["id"])

    build("w" + uuid.uuid4().hex[:8], {"region": "us", "size": "m", "token": "secret"})
    build("w" + uuid.uuid4().hex[:8], {"region": "ap", "size": "m", "token": "secret"})
    body = get(shared_coderd, path, member.token)
    for item in body:
        assert_like(CODER_USER_PARAMETER, item)
    # Each parameter's latest value, never an ephemeral one.
    assert sorted((p["name"], p["value"]) for p in body) == [("region", "ap"), ("size", "m")]
    # The owner reads them (read_personal); another member and no session do not.
    assert get(shared_coderd, f"/users/{member_user.username}/autofill-parameters"
               f"?template_id={template.id}", shared_owner.token) == body
    get(shared_coderd, f"/users/{member_user.username}/autofill-parameters"
        f"?template_id={template.id}", other.token, 404)
    assert get(shared_coderd, path, other.token) == []
    get(shared_coderd, path, "", 401)
    missing = get(shared_coderd, "/users/me/autofill-parameters", member.token, 400)
    assert missing["validations"][0]["field"] == "template_id"
    get(shared_coderd, "/users/me/autofill-parameters?template_id=x", member.token, 400)


def test_expire_api_key(shared_coderd, shared_owner):
    member, member_user = create_another_user(shared_owner)
    other, _ = create_another_user(shared_owner)
    token = member.create_token(token_name="t" + uuid.uuid4().hex[:8])
    key_id = token.split("-")[0]
    path = f"/api/v2/users/me/keys/{key_id}/expire"
    # Attacks first: another member and no session leave it working.
    other_path = f"/api/v2/users/{member_user.username}/keys/{key_id}/expire"
    assert raw(shared_coderd, "PUT", other_path, other.token).status_code == 404
    assert raw(shared_coderd, "PUT", path, other.token).status_code == 404
    assert raw(shared_coderd, "PUT", path).status_code == 401
    assert raw(shared_coderd, "GET", "/api/v2/users/me", token).status_code == 200

    resp = raw(shared_coderd, "PUT", path, member.token)
    assert (resp.status_code, resp.content) == (204, b"")
    assert raw(shared_coderd, "GET", "/api/v2/users/me", token).status_code == 401
    # Still listed (Coder's expire is not a delete), now expired; expiring again is fine.
    key = get(shared_coderd, f"/users/me/keys/{key_id}", member.token)
    assert dt.datetime.fromisoformat(key["expires_at"]) <= dt.datetime.now(dt.timezone.utc)
    assert raw(shared_coderd, "PUT", path, member.token).status_code == 204
    # An owner expires a member's key.
    second = member.create_token(token_name="t" + uuid.uuid4().hex[:8])
    resp = raw(shared_coderd, "PUT", f"/api/v2/users/{member_user.id}/keys/"
               f"{second.split('-')[0]}/expire", shared_owner.token)
    assert resp.status_code == 204
    assert raw(shared_coderd, "GET", "/api/v2/users/me", second).status_code == 401
    # A member cannot expire the owner's session.
    owner_key = shared_owner.token.split("-")[0]
    resp = raw(shared_coderd, "PUT", f"/api/v2/users/admin/keys/{owner_key}/expire", member.token)
    assert resp.status_code == 404
    assert raw(shared_coderd, "GET", "/api/v2/users/me", shared_owner.token).status_code == 200


def test_user_organization_by_name(shared_coderd, shared_owner):
    member, member_user = create_another_user(shared_owner)
    # The default organization is named "coder", as Coder's; names match in any case.
    body = get(shared_coderd, "/users/me/organizations/coder", member.token)
    assert_like(CODER_ORGANIZATION, body)
    assert body["is_default"] and body["name"] == "coder"
    assert get(shared_coderd, f"/users/{member_user.username}/organizations/CODER",
               shared_owner.token)["id"] == body["id"]
    assert get(shared_coderd, "/users/me/organizations/nope", member.token, 404)["message"]
    get(shared_coderd, "/users/admin/organizations/coder", member.token, 404)  # not theirs
    get(shared_coderd, "/users/me/organizations/coder", "", 401)


def test_paginated_members(shared_coderd, shared_owner):
    member, _ = create_another_user(shared_owner)
    for _ in range(2):
        create_another_user(shared_owner)
    everyone = get(shared_coderd, "/organizations/default/members", shared_owner.token)
    body = get(shared_coderd, "/organizations/default/paginated-members", shared_owner.token)
    assert_like(CODER_PAGINATED_MEMBERS, body)
    assert body["count"] == len(everyone) == len(body["members"]) >= 4
    assert [m["username"] for m in body["members"]] == [m["username"] for m in everyone]
    page = get(shared_coderd, "/organizations/default/paginated-members?limit=2&offset=1",
               shared_owner.token)
    assert page["count"] == body["count"]
    assert [m["user_id"] for m in page["members"]] == \
        [m["user_id"] for m in body["members"][1:3]]
    admin = next(m for m in body["members"] if m["username"] == "admin")
    assert (admin["status"], admin["login_type"]) == ("active", "password")
    # A member sees the members (as the unpaginated list shows them); no session, nothing.
    seen = get(shared_coderd, "/organizations/default/paginated-members", member.token)
    assert seen["count"] == len(get(shared_coderd, "/organizations/default/members",
                                    member.token))
    get(shared_coderd, "/organizations/default/paginated-members", "", 401)
    get(shared_coderd, "/organizations/default/paginated-members?limit=-1",
        shared_owner.token, 400)


def test_workspace_available_users(shared_coderd, shared_owner):
    member, member_user = create_another_user(shared_owner)
    suspended, suspended_user = create_another_user(shared_owner)
    shared_owner.update_user_status(suspended_user.id, "suspended")
    path = "/organizations/default/members/me/workspaces/available-users"
    users = get(shared_coderd, path, shared_owner.token)
    for user in users:
        assert_like(CODER_MINIMAL_USER, user)
    names = [u["username"] for u in users]
    assert "admin" in names and member_user.username in names
    assert suspended_user.username not in names
    found = get(shared_coderd, f"{path}?q={member_user.username.upper()}", shared_owner.token)
    assert [u["id"] for u in found] == [str(member_user.id)]
    assert len(get(shared_coderd, f"{path}?limit=1&offset=1", shared_owner.token)) == 1
    # A member creates workspaces only for themselves: Coder's 403; no session, 401.
    refused = get(shared_coderd, path, member.token, 403)
    assert "permission" in refused["message"]
    get(shared_coderd, path, "", 401)


def test_auth_scopes_and_experiments(shared_coderd, shared_owner):
    scopes = get(shared_coderd, "/auth/scopes")
    assert_like(CODER_EXTERNAL_SCOPES, scopes)
    assert set(scopes["external"]) >= {"all", "application_connect", "coder:all"}
    # Each listed scope is one a token is created with.
    for scope in scopes["external"]:
        resp = raw(shared_coderd, "POST", "/api/v2/users/me/keys/tokens", shared_owner.token,
                   json={"scopes": [scope], "token_name": "s" + uuid.uuid4().hex[:8]})
        assert resp.status_code == 201, (scope, resp.text)
    enabled = get(shared_coderd, "/experiments", shared_owner.token)
    assert_like(CODER_EXPERIMENTS, enabled)
    assert enabled == []
    available = get(shared_coderd, "/experiments/available", shared_owner.token)
    assert_like(CODER_AVAILABLE_EXPERIMENTS, available)
    assert available == {"safe": []}
    get(shared_coderd, "/experiments", "", 401)
    get(shared_coderd, "/experiments/available", "", 401)


@pytest.mark.parametrize("path", ["/users/me/preferences", "/users/me/login-type"])
def test_unknown_user_is_404(shared_coderd, shared_owner, path):
    get(shared_coderd, path.replace("me", "nobody-" + uuid.uuid4().hex[:6]),
        shared_owner.token, 404)
