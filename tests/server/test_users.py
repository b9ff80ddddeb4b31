"""Users, sessions and the first-user flow, through the SDK against a real coderd."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import time
import uuid

import psycopg2
import pytest

from appliance.sdk import types
from appliance.sdk.client import APIError, Client
from server.db import migrate

from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user, create_first_user, raw


def test_first_user_flow(coderd):
    client = coderd.client()
    assert not client.has_first_user()
    resp = client.create_first_user(types.CreateFirstUserRequest(
        email="admin@example.com", username="admin", password=FIRST_USER_PASSWORD))
    assert client.has_first_user()
    with pytest.raises(APIError) as exc:
        client.create_first_user(types.CreateFirstUserRequest(
            email="other@example.com", username="other", password="Other-Secure-Pass1"))
    assert exc.value.status == 409
    client.token = client.login_with_password("admin@example.com", FIRST_USER_PASSWORD)
    me = client.user("me")
    assert me.id == resp.user_id
    assert [r.name for r in me.roles] == ["owner"]
    assert me.organization_ids == [resp.organization_id]
    org = client.organization(resp.organization_id)
    assert org.is_default


def test_concurrent_first_user_only_one_wins(coderd):
    def attempt(i):
        try:
            coderd.client().create_first_user(types.CreateFirstUserRequest(
                email=f"a{i}@example.com", username=f"admin{i}", password="Member-Secure-Pass1"))
            return 201
        except APIError as exc:
            return exc.status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {201, 409}
    conn = psycopg2.connect(coderd.dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE NOT is_system")
        assert cur.fetchone()[0] == 1
    conn.close()


def test_login_by_username_cookie_and_logout(owner, coderd):
    resp = raw(coderd, "POST", "/api/v2/users/login",
               json={"email": "admin", "password": FIRST_USER_PASSWORD})
    assert resp.status_code == 201
    token = resp.json()["session_token"]
    assert resp.cookies.get("coder_session_token") == token
    # The cookie authenticates like the header does.
    me = raw(coderd, "GET", "/api/v2/users/me", cookies={"coder_session_token": token})
    assert me.status_code == 200 and me.json()["username"] == "admin"
    assert raw(coderd, "POST", "/api/v2/users/logout", token).status_code == 200
    assert raw(coderd, "GET", "/api/v2/users/me", token).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(owner, coderd):
    a = raw(coderd, "POST", "/api/v2/users/login", json={"email": "admin@example.com", "password": "no"})
    b = raw(coderd, "POST", "/api/v2/users/login", json={"email": "ghost@example.com", "password": "no"})
    assert a.status_code == b.status_code == 401
    assert a.json()["message"] == b.json()["message"]


def test_login_is_rate_limited(coderd_factory):
    coderd = coderd_factory(env={"CODER_LOGIN_RATE_LIMIT": "5"})
    create_first_user(coderd)  # one login
    codes = [raw(coderd, "POST", "/api/v2/users/login",
                 json={"email": "admin@example.com", "password": "wrong"}).status_code
             for _ in range(6)]
    assert codes[:4] == [401] * 4
    assert codes[-1] == 429


def test_an_unknown_user_takes_as_long_as_a_wrong_password(owner, coderd):
    """The time a refusal takes does not say whether the account exists: an unknown
    name's password is hashed too."""
    took: dict[str, list[float]] = {"admin@example.com": [], "ghost@example.com": []}
    for _ in range(7):
        for email, times in took.items():
            started = time.perf_counter()
            resp = raw(coderd, "POST", "/api/v2/users/login", json={"email": email, "password": "no"})
            times.append(time.perf_counter() - started)
            assert resp.status_code == 401
    known, unknown = (sorted(t)[len(t) // 2] for t in took.values())
    assert 0.5 < unknown / known < 2, (known, unknown)


def test_login_rate_limit_counts_clients_behind_a_trusted_proxy(coderd_factory):
    """Behind a proxy in CODER_PROXY_TRUSTED_ORIGINS, each client of the proxy has its own
    budget (the address the proxy appended); elsewhere X-Forwarded-For changes nothing."""
    def logins(coderd, forwarded_for: str, n: int = 1) -> list[int]:
        return [raw(coderd, "POST", "/api/v2/users/login", headers={"X-Forwarded-For": forwarded_for},
                    json={"email": "admin@example.com", "password": "wrong"}).status_code
                for _ in range(n)]

    limit = {"CODER_LOGIN_RATE_LIMIT": "3", "CODER_PROXY_TRUSTED_HEADERS": "X-Forwarded-For"}
    behind = coderd_factory(env={**limit, "CODER_PROXY_TRUSTED_ORIGINS": "127.0.0.1/32,10.9.0.0/16"})
    assert logins(behind, "10.0.0.1", 4) == [401, 401, 401, 429]
    assert logins(behind, "10.0.0.2") == [401]  # another client of the proxy
    # What a client writes itself stands left of what the proxies appended.
    assert logins(behind, "10.0.0.2, 10.0.0.1") == [429]
    assert logins(behind, "10.0.0.1, 10.0.0.3, 10.9.0.1") == [401]  # through two trusted proxies
    # validate-password (no session, as Coder's) draws on the same budget as login.
    check = raw(behind, "POST", "/api/v2/users/validate-password",
                headers={"X-Forwarded-For": "10.0.0.4"}, json={"password": "x"})
    assert check.status_code == 200 and check.json()["valid"] is False
    assert logins(behind, "10.0.0.4", 3) == [401, 401, 429]
    assert raw(behind, "POST", "/api/v2/users/validate-password", json={"password": "x"},
               headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 429
    untrusted = coderd_factory(env={**limit, "CODER_PROXY_TRUSTED_ORIGINS": "10.9.0.0/16"})
    assert logins(untrusted, "10.0.0.1", 3) == [401] * 3
    assert logins(untrusted, "10.0.0.2") == [429]  # all from one peer, whatever it says


def test_unauthenticated_and_bad_tokens(coderd, owner):
    assert raw(coderd, "GET", "/api/v2/users/me").status_code == 401
    bad = raw(coderd, "GET", "/api/v2/users/me", "not-a-token")
    assert bad.status_code == 401 and "message" in bad.json()
    key_id = owner.token.split("-")[0]
    forged = raw(coderd, "GET", "/api/v2/users/me", key_id + "-" + "x" * 22)
    assert forged.status_code == 401


def test_only_the_hash_of_a_secret_is_stored(coderd, owner):
    key_id, secret = owner.token.split("-")
    conn = psycopg2.connect(coderd.dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT hashed_secret FROM api_keys WHERE id = %s", (key_id,))
        stored = bytes(cur.fetchone()[0])
        cur.execute("SELECT hashed_password FROM users WHERE username = 'admin'")
        hashed_password = cur.fetchone()[0]
    conn.close()
    assert secret.encode() not in stored and len(stored) == 32
    assert hashed_password.startswith("$pbkdf2-sha256$65535$")
    assert FIRST_USER_PASSWORD not in hashed_password


def test_create_user_conflicts_and_validation(owner):
    owner.create_user(types.CreateUserRequest(email="bob@example.com", username="bob", password="Member-Secure-Pass1"))
    for email, username, fieldname in (("bob@example.com", "bob2", "email"),
                                       ("bob2@example.com", "BOB", "username")):
        with pytest.raises(APIError) as exc:
            owner.create_user(types.CreateUserRequest(email=email, username=username, password="Member-Secure-Pass1"))
        assert exc.value.status == 409
        assert [v.field for v in exc.value.validations] == [fieldname]
    with pytest.raises(APIError) as exc:
        owner.create_user(types.CreateUserRequest(email="x@example.com", username="-bad-", password="Member-Secure-Pass1"))
    assert exc.value.status == 400 and exc.value.validations[0].field == "username"
    with pytest.raises(APIError) as exc:
        owner.create_user(types.CreateUserRequest(email="y@example.com", username="nopw"))
    assert exc.value.status == 400 and exc.value.validations[0].field == "password"
    names = [u.username for u in owner.users().users]
    assert "nopw" not in names and "-bad-" not in names


def test_bad_bodies_get_400_and_name_the_field(coderd, owner):
    token = owner.token
    cases = [
        (b"{not json", 400, None),
        (b"[]", 400, ""),
        (b'{"email": 5, "username": "u1", "password": "Member-Secure-Pass1"}', 400, "email"),
        (b'{"username": "u1", "password": "Member-Secure-Pass1"}', 400, "email"),
        (b'{"email": "u1@example.com", "username": ["x"], "password": "Member-Secure-Pass1"}', 400, "username"),
        (b'{"email": "not-an-email", "username": "u1", "password": "Member-Secure-Pass1"}', 400, "email"),
        (b'{"email": "u1@example.com", "username": "u1", "password": "Member-Secure-Pass1", '
         b'"organization_id": "not-a-uuid"}', 400, "organization_id"),
    ]
    for body, status, fieldname in cases:
        resp = raw(coderd, "POST", "/api/v2/users", token, data=body,
                   headers={"Content-Type": "application/json"})
        assert resp.status_code == status, (body, resp.text)
        payload = resp.json()
        assert payload["message"]
        if fieldname:
            assert fieldname in [v["field"] for v in payload["validations"]], payload
    big = b'{"email": "' + b"a" * (11 * 1024 * 1024) + b'"}'
    assert raw(coderd, "POST", "/api/v2/users", token, data=big).status_code == 413
    assert raw(coderd, "GET", "/api/v2/users/me/keys/tokens", token).json() == []


def test_unknown_fields_ignored_nulls_accepted_trailing_slash(coderd, owner):
    body = {"email": "carol@example.com", "username": "carol", "password": "Member-Secure-Pass1", "name": None,
            "organization_ids": None, "some_future_field": {"x": 1}, "user_status": None}
    resp = raw(coderd, "POST", "/api/v2/users/", owner.token, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["username"] == "carol"
    assert raw(coderd, "GET", "/api/v2/users/carol/", owner.token).status_code == 200


def test_bad_uuid_and_missing_resources(coderd, owner):
    resp = raw(coderd, "GET", "/api/v2/users?after_id=nope", owner.token)
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "after_id"
    assert raw(coderd, "GET", f"/api/v2/users/{uuid.uuid4()}", owner.token).status_code == 404
    assert raw(coderd, "GET", "/api/v2/organizations/nope", owner.token).status_code == 404
    assert raw(coderd, "GET", "/api/v2/nothing-here", owner.token).status_code == 404
    assert raw(coderd, "GET", "/api/v2/users?limit=abc", owner.token).status_code == 400


def test_suspended_user_is_locked_out_at_once(owner):
    member, user = create_another_user(owner)
    token = member.create_token(token_name="long-lived")
    assert member.user("me").username == user.username
    owner.update_user_status(user.id, "suspended")
    for t in (member.token, token):
        with pytest.raises(APIError) as exc:
            Client(owner.url, t).user("me")
        assert exc.value.status == 401 and "suspended" in exc.value.message
    with pytest.raises(APIError) as exc:
        Client(owner.url).login_with_password(user.email, "AnotherSecurePassword!")
    assert exc.value.status == 401
    owner.update_user_status(user.id, "active")
    assert Client(owner.url, token).user("me").status == "active"


def test_password_change(owner):
    member, user = create_another_user(owner)
    with pytest.raises(APIError) as exc:
        member.update_user_password("me", "NewPassword1!", old_password="wrong")
    assert exc.value.status == 400
    member.update_user_password("me", "NewPassword1!", old_password="AnotherSecurePassword!")
    with pytest.raises(APIError):
        member.user("me")  # the session ended with the old password
    Client(owner.url).login_with_password(user.email, "NewPassword1!")
    # An owner resets it without the old one.
    owner.update_user_password(user.id, "Reset-Secure-Pass1")
    Client(owner.url).login_with_password(user.email, "Reset-Secure-Pass1")


def test_roles(owner):
    member, user = create_another_user(owner)
    updated = owner.update_user_roles(user.id, ["template-admin", "auditor"])
    assert sorted(r.name for r in updated.roles) == ["auditor", "template-admin"]
    with pytest.raises(APIError) as exc:
        owner.update_user_roles(user.id, ["wizard"])
    assert exc.value.status == 400
    with pytest.raises(APIError) as exc:
        owner.update_user_roles("me", [])
    assert exc.value.status == 400
    admin, _ = create_another_user(owner, roles=["user-admin"])
    with pytest.raises(APIError) as exc:
        admin.update_user_roles(user.id, ["owner"])
    assert exc.value.status == 403
    assert [r.name for r in admin.update_user_roles(user.id, ["auditor"]).roles] == ["auditor"]
    assignable = {r.name: r.assignable for r in admin.site_roles()}
    assert assignable == {"owner": False, "template-admin": True, "user-admin": True, "auditor": True}


def test_delete_user_frees_username(owner):
    _, user = create_another_user(owner, username="dora")
    owner.delete_user(user.id)
    with pytest.raises(APIError) as exc:
        owner.user("dora")
    assert exc.value.status == 404
    with pytest.raises(APIError) as exc:
        owner.delete_user("me")
    assert exc.value.status == 403
    create_another_user(owner, username="dora")


def test_users_query_filters(owner):
    _, a = create_another_user(owner, username="filter-a")
    _, b = create_another_user(owner, username="filter-b", roles=["auditor"])
    owner.update_user_status(a.id, "suspended")
    assert [u.username for u in owner.users("status:suspended").users] == ["filter-a"]
    assert [u.username for u in owner.users("role:auditor").users] == ["filter-b"]
    assert {u.username for u in owner.users("filter-").users} == {"filter-a", "filter-b"}
    page = owner.users(limit=1, offset=1)
    assert len(page.users) == 1 and page.count == 3
    assert owner.users(limit=1, offset=5).count == 0  # past the end, as Coder counts
    with pytest.raises(APIError) as exc:
        owner.users("colour:blue")
    assert exc.value.status == 400


def test_a_page_of_users_says_what_each_user_does(coderd, owner):
    """A page's rows come from PostgreSQL as the API's text; they must say what one user's
    answer says, and a member's page holds only themselves."""
    create_another_user(owner, username="paged-auditor", roles=["auditor"])
    member, user = create_another_user(owner, username="paged-member")
    for listed in owner.users().users:
        alone = owner.user(str(listed.id))
        # last_seen_at moves at most once a minute, perhaps between the two requests
        assert dataclasses.replace(listed, last_seen_at=alone.last_seen_at) == alone
    body = raw(coderd, "GET", "/api/v2/users", owner.token).json()["users"]
    assert all(u[t].endswith("Z") for u in body for t in ("created_at", "updated_at", "last_seen_at"))
    mine = member.users()
    assert [u.id for u in mine.users] == [user.id] and mine.count == 1


def test_organizations_and_members(owner):
    member, user = create_another_user(owner)
    orgs = member.organizations()
    assert [o.name for o in orgs] == ["coder"]
    assert [o.id for o in member.user_organizations("me")] == [orgs[0].id]
    members = owner.organization_members("default")
    assert {m.username for m in members} == {"admin", user.username}
    assert member.organization("coder").id == orgs[0].id


def test_organization_ids_follow_memberships_and_survive_migrations(coderd, owner):
    """users.organization_ids is kept by a trigger, and migration 7 fills it from memberships."""
    _, user = create_another_user(owner)
    default = owner.organization("default").id
    conn = psycopg2.connect(coderd.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO organizations (name, display_name) VALUES ('second', 'Second') "
                    "RETURNING id")
        second = uuid.UUID(str(cur.fetchone()[0]))

    def ids_seen() -> tuple[list, list]:
        listed = owner.users(f"{user.username}").users
        return owner.user(user.username).organization_ids, [u.organization_ids for u in listed]

    assert raw(coderd, "POST", f"/api/v2/organizations/{second}/members/{user.id}",
               owner.token).status_code == 200
    assert ids_seen() == ([default, second], [[default, second]])
    try:
        migrate.down(coderd.dsn, 6)
        assert migrate.up(coderd.dsn) == migrate.available()[-1].version
        with conn.cursor() as cur:
            cur.execute("SELECT organization_ids::text[] FROM users WHERE id = %s", (user.id,))
            assert [uuid.UUID(i) for i in cur.fetchone()[0]] == [default, second]
    finally:
        conn.close()
    assert raw(coderd, "DELETE", f"/api/v2/organizations/{second}/members/{user.id}",
               owner.token).status_code == 204
    assert ids_seen() == ([default], [[default]])


def test_audit_log_records_logins_and_changes(owner):
    member, user = create_another_user(owner)
    member.create_token(token_name="audited")
    with pytest.raises(APIError):
        Client(owner.url).login_with_password(user.email, "wrong")
    logs = owner.audit_logs().audit_logs
    actions = [(a.action, a.resource_type, a.status_code) for a in logs]
    assert ("create", "user", 201) in actions
    assert ("login", "api_key", 401) in actions
    assert ("create", "api_key", 201) in actions
    created = owner.audit_logs("resource_type:user action:create username:admin").audit_logs
    assert any(a.resource_target == user.username for a in created)
    assert all(a.user is not None and a.user.username == "admin" for a in created)
    with pytest.raises(APIError) as exc:
        member.audit_logs()
    assert exc.value.status == 403
    with pytest.raises(APIError) as exc:
        owner.audit_logs("date_from:yesterday")
    assert exc.value.status == 400


def test_each_answer_has_its_request_id_and_the_audit_entry_the_same(coderd, owner):
    resp = raw(coderd, "POST", "/api/v2/users/me/keys/tokens", owner.token,
               json={"token_name": "traced"})
    assert resp.status_code == 201 and resp.headers["X-Coder-Build-Version"] == "appliance"
    request_id = uuid.UUID(resp.headers["X-Request-Id"])
    [entry] = [a for a in owner.audit_logs("resource_type:api_key action:create").audit_logs
               if a.resource_target == "traced"]
    assert entry.request_id == request_id
    missing = raw(coderd, "GET", "/api/v2/nothing-here", owner.token)
    assert missing.status_code == 404
    assert uuid.UUID(missing.headers["X-Request-Id"]) != request_id


def test_tokens_expire(owner):
    token = owner.create_token(token_name="brief", lifetime_seconds=1)
    assert Client(owner.url, token).user("me").username == "admin"
    time.sleep(1.5)
    with pytest.raises(APIError) as exc:
        Client(owner.url, token).user("me")
    assert exc.value.status == 401 and "expired" in exc.value.message


def test_huge_paging_values_are_a_400(coderd, owner):
    for query in ("offset=99999999999999999999", "limit=-1", "offset=-5"):
        resp = raw(coderd, "GET", f"/api/v2/users?{query}", owner.token)
        assert resp.status_code == 400, (query, resp.text)


def test_times_are_utc_whatever_the_database_zone(coderd_factory, pg_server, pg_template):
    name = pg_server.create_database(template=pg_template)
    conn = psycopg2.connect(pg_server.dsn(name))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ALTER DATABASE {name} SET timezone TO 'Asia/Kolkata'")
    conn.close()
    coderd = coderd_factory(dsn=pg_server.dsn(name))
    owner, _ = create_first_user(coderd)
    owner.create_token(token_name="zone")
    resp = raw(coderd, "GET", "/api/v2/users/me/keys/tokens", owner.token)
    assert resp.status_code == 200, resp.text
    times = [t[f] for t in resp.json() for f in ("created_at", "expires_at", "last_used")]
    assert times and all(t.endswith("Z") for t in times), times
