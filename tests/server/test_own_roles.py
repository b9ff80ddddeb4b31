"""No one changes their own roles: site roles (PUT /users/{me}/roles) or organization roles.

The review's attack: a user admin may assign ``organization-admin`` to others, and gave it
to itself through the organization's member roles, while its own site roles were refused.
"""
from __future__ import annotations

import pytest
import requests

from tests.kit.coderd import create_another_user


@pytest.mark.parametrize("who", ["user-admin", "owner"])
def test_no_one_sets_their_own_organization_roles(shared_coderd, shared_owner, who):
    client = shared_owner if who == "owner" else create_another_user(shared_owner, ["user-admin"])[0]
    me = client.user("me")
    for target in ("me", str(me.id)):
        resp = requests.put(f"{shared_coderd.url}/api/v2/organizations/default/members/{target}/roles",
                            json={"roles": ["organization-admin"]}, timeout=10,
                            headers={"Coder-Session-Token": client.token})
        assert resp.status_code == 400, resp.text
        assert "own roles" in resp.json()["message"]
    member = next(m for m in shared_owner.organization_members("default") if m.user_id == me.id)
    assert "organization-admin" not in [r.name for r in member.roles]


def test_a_user_admin_still_sets_another_members_organization_roles(shared_coderd, shared_owner):
    admin, _ = create_another_user(shared_owner, ["user-admin"])
    _, other = create_another_user(shared_owner)
    resp = requests.put(f"{shared_coderd.url}/api/v2/organizations/default/members/{other.id}/roles",
                        json={"roles": ["organization-auditor"]}, timeout=10,
                        headers={"Coder-Session-Token": admin.token})
    assert resp.status_code == 200, resp.text
