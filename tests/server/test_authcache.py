"""Cached authentications never outlive a suspension or a revoked key, in any process."""
from __future__ import annotations

import time

import psycopg2
import pytest
import requests

from tests.kit.coderd import create_another_user, create_first_user, running_coderd


@pytest.fixture(scope="module")
def two_workers(pg_server, pg_template):
    with running_coderd(pg_server, pg_template, env={"CODER_HTTP_WORKERS": "2"}) as c:
        yield c


def statuses(url: str, token: str, n: int = 30) -> list[int]:
    # New connections each time, so both workers answer.
    return [requests.get(url + "/api/v2/users/me", headers={"Coder-Session-Token": token},
                         timeout=5).status_code for _ in range(n)]


def wait_until_all(url: str, token: str, status: int, within: float = 0.5) -> float:
    start = time.monotonic()
    while True:
        if set(statuses(url, token, 10)) == {status}:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"still not {status} after {within}s"


def test_suspension_reaches_every_worker(two_workers):
    owner, _ = create_first_user(two_workers)
    member, user = create_another_user(owner)
    assert set(statuses(two_workers.url, member.token)) == {200}  # warm both caches
    owner.update_user_status(user.id, "suspended")
    wait_until_all(two_workers.url, member.token, 401)
    assert set(statuses(two_workers.url, member.token)) == {401}
    owner.update_user_status(user.id, "active")
    wait_until_all(two_workers.url, member.token, 200)


def test_revoked_token_reaches_every_worker(two_workers):
    owner = two_workers.client()
    owner.token = owner.login_with_password("admin@example.com", "SomeSecurePassword!")
    token = owner.create_token(token_name="revoke-me")
    assert set(statuses(two_workers.url, token)) == {200}
    owner.delete_api_key(owner.token_by_name("revoke-me").id)
    wait_until_all(two_workers.url, token, 401)
    assert set(statuses(two_workers.url, token)) == {401}


def test_lost_pubsub_connection_drops_the_cache(coderd):
    owner, _ = create_first_user(coderd)
    member, user = create_another_user(owner)
    assert set(statuses(coderd.url, member.token, 5)) == {200}
    conn = psycopg2.connect(coderd.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        # A change coderd is never notified of (triggers off in this session) must
        # still be seen once the pubsub connection was lost: losing it flushes the cache.
        cur.execute("SET session_replication_role = replica")
        cur.execute("UPDATE users SET status = 'suspended' WHERE id = %s", (str(user.id),))
        find = "SELECT pid FROM pg_stat_activity WHERE application_name = 'coderd-pubsub'"
        cur.execute(find)
        old = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'coderd-pubsub'")
        assert cur.rowcount >= 1
        # coderd notices the loss asynchronously; it has once it has reconnected.
        deadline = time.monotonic() + 10
        while True:
            cur.execute(find)
            if {r[0] for r in cur.fetchall()} - old:
                break
            assert time.monotonic() < deadline, "coderd's pubsub did not reconnect"
            time.sleep(0.05)
    conn.close()
    assert set(statuses(coderd.url, member.token, 5)) == {401}
