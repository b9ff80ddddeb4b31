"""coderd's system user (migration 000008): in the database, and nowhere in the API.

It initiates the install check's import before any person exists, so it must not
count as the first user, be listed, looked up, changed or logged in as, and its
username must stay taken.
"""
from __future__ import annotations

import psycopg2
import pytest
import requests

from appliance.sdk import types
from appliance.sdk.client import APIError
from server.db.queries.users import SYSTEM_USER_ID

from tests.kit.coderd import create_first_user

SYSTEM = "appliance-system"


def _row(dsn: str) -> tuple:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT username, login_type, hashed_password, is_system, "
                        "organization_ids FROM users WHERE id = %s", (str(SYSTEM_USER_ID),))
            return cur.fetchone()
    finally:
        conn.close()


def test_system_user_exists_but_no_one_sees_it(coderd):
    assert _row(coderd.dsn) == (SYSTEM, "none", "", True, [])
    # Before the first user: there is none, and the first user can be made.
    assert not coderd.client().has_first_user()
    owner, first = create_first_user(coderd)

    assert [u.username for u in owner.users().users] == ["admin"]
    assert owner.users().count == 1
    assert owner.users(SYSTEM).users == []
    assert [m.username for m in owner.organization_members(first.organization_id)] == ["admin"]
    for ref in (SYSTEM, SYSTEM_USER_ID):
        for call in (owner.user, owner.delete_user, lambda u: owner.update_user_roles(u, []),
                     lambda u: owner.update_user_status(u, "suspended")):
            with pytest.raises(APIError) as exc:
                call(ref)
            assert exc.value.status == 404
    added = requests.post(f"{coderd.url}/api/v2/organizations/{first.organization_id}/members/"
                          f"{SYSTEM_USER_ID}", headers={"Coder-Session-Token": owner.token},
                          timeout=10)
    assert added.status_code == 404

    # No one logs in as it, by name or by email, with any password (it has none).
    for login in (SYSTEM, "system@coder-appliance.invalid"):
        for password in ("", "none", "SomeSecurePassword!"):
            with pytest.raises(APIError) as exc:
                coderd.client().login_with_password(login, password)
            assert exc.value.status in (400, 401)
    # Its name is reserved.
    with pytest.raises(APIError) as exc:
        owner.create_user(types.CreateUserRequest(email="x@example.com", username=SYSTEM,
                                                  password="AnotherSecurePassword!"))
    assert exc.value.status == 409
    assert _row(coderd.dsn) == (SYSTEM, "none", "", True, [])
