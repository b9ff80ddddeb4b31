"""Users' git SSH keys: /users/{user}/gitsshkey (GET, PUT) and the agent's
/workspaceagents/me/gitsshkey, checked against Coder's JSON (codersdk.GitSSHKey:
user_id, created_at, updated_at, public_key; agentsdk.GitSSHKey: public_key,
private_key) and against callers who must not reach a key."""
from __future__ import annotations

import datetime as dt
import uuid

import psycopg2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from tests.kit.agent import workspace_with_agent
from tests.kit.coderd import create_another_user, raw

USER_KEY_FIELDS = {"user_id", "created_at", "updated_at", "public_key"}  # codersdk.GitSSHKey


def key_of(coderd, token: str, user: str = "me", method: str = "GET") -> dict:
    resp = raw(coderd, method, f"/api/v2/users/{user}/gitsshkey", token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == USER_KEY_FIELDS, body  # never the private key
    return body


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_new_user_has_an_ed25519_key_and_put_makes_a_new_one(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner)
    first = key_of(shared_coderd, member.token)
    assert first["user_id"] == str(user.id)
    assert first["public_key"].startswith("ssh-ed25519 ") and first["public_key"].endswith("\n")
    load_ssh_public_key(first["public_key"].encode())
    assert key_of(shared_coderd, shared_owner.token, user.username) == first  # an owner reads it

    second = key_of(shared_coderd, member.token, method="PUT")
    assert second["public_key"] != first["public_key"] and second["user_id"] == first["user_id"]
    assert second["created_at"] == first["created_at"]
    assert _time(second["updated_at"]) > _time(first["updated_at"])
    assert key_of(shared_coderd, member.token) == second
    assert member.git_ssh_key().public_key == second["public_key"]


def test_a_user_from_before_keys_gets_one_at_first_use(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner)
    with psycopg2.connect(shared_coderd.dsn) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM gitsshkeys WHERE user_id = %s", (str(user.id),))
    conn.close()
    key = key_of(shared_coderd, member.token)
    assert key["public_key"].startswith("ssh-ed25519 ")
    assert key_of(shared_coderd, member.token) == key  # made once, then kept


def test_members_reach_no_one_elses_key_and_no_session_reaches_any(shared_coderd, shared_owner):
    member, _ = create_another_user(shared_owner)
    _, other = create_another_user(shared_owner)
    owner_key = key_of(shared_coderd, shared_owner.token)
    for user in (other.username, str(other.id), "admin"):
        for method in ("GET", "PUT"):
            resp = raw(shared_coderd, method, f"/api/v2/users/{user}/gitsshkey", member.token)
            assert resp.status_code in (403, 404), (method, user, resp.text)
            assert "ssh-ed25519" not in resp.text
    user_admin, _ = create_another_user(shared_owner, ["user-admin"])
    resp = raw(shared_coderd, "PUT", "/api/v2/users/admin/gitsshkey", user_admin.token)
    assert resp.status_code == 403, resp.text
    assert key_of(shared_coderd, shared_owner.token) == owner_key  # nothing changed it
    for method in ("GET", "PUT"):
        resp = raw(shared_coderd, method, "/api/v2/users/admin/gitsshkey")
        assert resp.status_code == 401, resp.text


def test_the_agent_gets_its_owners_key_pair_and_no_one_else_does(shared_coderd, shared_owner):
    member, _ = create_another_user(shared_owner)
    workspace, agent = workspace_with_agent(shared_owner, shared_coderd.dsn)
    resp = raw(shared_coderd, "GET", "/api/v2/workspaceagents/me/gitsshkey", str(agent.token))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"public_key", "private_key"}  # agentsdk.GitSSHKey
    assert body["public_key"] == key_of(shared_coderd, shared_owner.token)["public_key"]
    private = load_ssh_private_key(body["private_key"].encode(), None)
    assert body["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert isinstance(private, Ed25519PrivateKey)
    for token in (member.token, shared_owner.token, str(uuid.uuid4()), ""):
        resp = raw(shared_coderd, "GET", "/api/v2/workspaceagents/me/gitsshkey", token)
        assert resp.status_code == 401, resp.text
        assert "PRIVATE KEY" not in resp.text
