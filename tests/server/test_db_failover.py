"""coderd through a database failover: a multi-host DSN, the primary switched over cleanly
and then killed, a standby promoted each time (what Patroni does, done by the test).

One coderd serves throughout while a writer creates API tokens: every answer is a 201
or a 503 with its message (never a 500, never a hang; a dashboard page says it too),
coderd serves again within 30 s of the promotion, every token acknowledged before or
during the failover is there after it, and the pubsub listens on the new primary (a
suspension made there in SQL locks the member out at once, through the trigger's
notification). A build whose end comes during the switchover's outage is reported once
the new primary serves: it succeeds, its state kept. An agent stays connected through
the switchover, and streams reach it after.

Closer in, on one server: the pool hands out no idle connection whose session ended, and
the pubsub listens again and wakes its subscribers to re-read.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import gevent
import psycopg2.extensions
import pytest
import requests

from server.db.pool import Pool
from server.pubsub import RESYNC, PubSub

from tests.kit.coderd import create_another_user, create_first_user, start_coderd
from tests.kit.postgres import PostgresServer
from tests.kit.provisioning import SLOW_TEMPLATE, Rows, sql, wait_started
from tests.kit.relay import AgentProcess, build_workspace, wait_connected

DATABASE = "coder"
SERVES_AGAIN_WITHIN = 30.0
REQUEST_TIMEOUT = 20.0  # longer than any outage answer may take: a hang fails the test
SYNCHRONOUS = {"synchronous_commit": "on"}


@pytest.fixture(scope="module")
def cluster():
    """Three servers on their own ports: the primary, its standby, and one to be made the
    standby of the first promoted (started by the test)."""
    servers = [PostgresServer(SYNCHRONOUS) for _ in range(3)]
    try:
        primary, standby, spare = servers
        primary.start()
        sql(primary.dsn("postgres"), f"CREATE DATABASE {DATABASE}")
        standby.start_standby(primary)
        yield servers
    finally:
        for server in servers:
            if server.proc is not None:
                server.stop()


@pytest.fixture(scope="module")
def coderd(cluster, provider_mirror):
    hosts = ",".join(f"127.0.0.1:{server.port}" for server in cluster)
    dsn = f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"
    c = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1"})
    yield c
    c.stop()


class Writer(threading.Thread):
    """Creates tokens one after another; remembers each answer's status and body."""

    def __init__(self, url: str, token: str, prefix: str):
        super().__init__(daemon=True)
        self.url, self.token, self.prefix = url, token, prefix
        self.answers: list[tuple[str, int, dict]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            name = f"{self.prefix}-{n}"
            n += 1
            try:
                resp = requests.post(f"{self.url}/api/v2/users/me/keys/tokens",
                                     json={"token_name": name},
                                     headers={"Coder-Session-Token": self.token},
                                     timeout=REQUEST_TIMEOUT)
                self.answers.append((name, resp.status_code, resp.json()))
            except (requests.RequestException, ValueError) as exc:
                self.answers.append((name, 0, {"error": repr(exc)}))
            time.sleep(0.05)

    def acknowledged(self) -> list[str]:
        return [name for name, status, _ in self.answers if status == 201]

    def wait_for_acknowledged(self, more_than: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.acknowledged()) <= more_than:
            assert time.monotonic() < deadline, self.answers[-5:]
            time.sleep(0.05)

    def finish(self) -> None:
        self.stopping.set()
        self.join(REQUEST_TIMEOUT + 5)


def serves_again(coderd, owner, started: float) -> float:
    """Seconds from ``started`` until coderd answers a read and a write."""
    deadline = started + SERVES_AGAIN_WITHIN
    while True:
        status = requests.get(f"{coderd.url}/api/v2/users/me", timeout=REQUEST_TIMEOUT,
                              headers={"Coder-Session-Token": owner.token}).status_code
        if status == 200:
            owner.create_token(token_name=f"probe-{time.monotonic_ns()}")
            return time.monotonic() - started
        assert status == 503, status
        assert time.monotonic() < deadline, f"coderd did not serve again:\n{coderd.log()[-3000:]}"
        time.sleep(0.2)


def check_failover(coderd, owner, writer: Writer, old: PostgresServer, new: PostgresServer,
                   stop_old, during_outage=lambda: None) -> None:
    """Old primary stopped (``stop_old``) while ``writer`` writes: one request in the
    outage is a 503; ``during_outage`` runs; ``new`` promoted; coderd serves again in
    time; nothing acknowledged is lost and every answer was a 201 or a 503."""
    writer.start()
    writer.wait_for_acknowledged(more_than=3, within=10)
    stop_old(old)
    outage = requests.post(f"{coderd.url}/api/v2/users/me/keys/tokens", json={"token_name": "x"},
                           headers={"Coder-Session-Token": owner.token}, timeout=REQUEST_TIMEOUT)
    assert outage.status_code == 503, outage.text
    assert outage.json()["message"] == "The database is unavailable, try again."
    page = requests.get(f"{coderd.url}/workspaces", cookies={"coder_session_token": owner.token},
                        timeout=REQUEST_TIMEOUT)
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html"), \
        f"{page.status_code} {page.text[:500]}\n{coderd.log()[-4000:]}"
    assert "The database is unavailable, try again." in page.text, page.text
    during_outage()
    promoted = time.monotonic()
    new.promote()
    took = serves_again(coderd, owner, promoted)
    acknowledged_before = len(writer.acknowledged())
    writer.wait_for_acknowledged(more_than=acknowledged_before, within=10)
    writer.finish()
    assert took < SERVES_AGAIN_WITHIN
    refused = [(name, status, body) for name, status, body in writer.answers
               if status not in (201, 503)]
    assert not refused, refused
    for _, status, body in writer.answers:
        if status == 503:
            assert body["message"] == "The database is unavailable, try again.", body
    stored = {token.token_name for token in owner.tokens()}
    lost = set(writer.acknowledged()) - stored
    assert not lost, f"acknowledged but lost: {sorted(lost)}"
    assert "Traceback" not in coderd.log()


def check_notifications_arrive(coderd, owner, primary: PostgresServer) -> None:
    """The pubsub listens on the new primary, and a suspension written there by SQL
    reaches coderd's auth cache (used only while the pubsub is connected) through the
    trigger's notification: the member's cached session stops working at once."""
    deadline = time.monotonic() + 5
    while not sql(primary.dsn(DATABASE), "SELECT 1 FROM pg_stat_activity WHERE application_name = "
                           "'coderd-pubsub' AND state = 'idle'"):
        assert time.monotonic() < deadline, "the pubsub never connected to the new primary"
        time.sleep(0.1)
    member, user = create_another_user(owner)
    me = f"{coderd.url}/api/v2/users/me"
    headers = {"Coder-Session-Token": member.token}
    assert requests.get(me, headers=headers, timeout=5).status_code == 200  # cached now
    sql(primary.dsn(DATABASE), "UPDATE users SET status = 'suspended' WHERE id = %s",
        (str(user.id),))
    deadline = time.monotonic() + 2
    while requests.get(me, headers=headers, timeout=5).status_code != 401:
        assert time.monotonic() < deadline, "the suspension's notification never arrived"
        time.sleep(0.05)


def started_build(coderd, user_id, organization_id) -> str:
    """A workspace build whose apply takes 3 s, started."""
    rows = Rows(coderd.dsn, user_id, organization_id)
    try:
        version, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE.replace("60", "3")})
        assert rows.wait(job_id)["job_status"] == "succeeded"
        _, job_id = rows.build(rows.workspace(rows.template(version)), version, "start")
        wait_started(rows, job_id)
        return job_id
    finally:
        rows.conn.close()


def wait_for_refused_end(coderd, job_id) -> None:
    """Until coderd has answered the build's end with a 503 (the daemon offers it again)."""
    refused = "database unavailable in POST /api/v2/provisionerd/"
    deadline = time.monotonic() + 30
    while not any(refused in line and f"/jobs/{job_id}/complete" in line
                  for line in coderd.log().splitlines()):
        assert time.monotonic() < deadline, coderd.log()[-3000:]
        time.sleep(0.2)


def test_switchover(cluster, coderd, tmp_path):
    """Also: an agent stays connected through it, and streams reach it after."""
    primary, standby, _ = cluster
    ws = build_workspace(coderd, tmp_path)
    owner, me = ws.owner, ws.owner.user()
    agent = AgentProcess(coderd.url, ws.token, tmp_path).start()
    rows = None
    try:
        wait_connected(owner, ws.agent_id)
        build = started_build(coderd, me.id, me.organization_ids[0])
        check_failover(coderd, owner, Writer(coderd.url, owner.token, "switchover"),
                       primary, standby, PostgresServer.shutdown,
                       during_outage=lambda: wait_for_refused_end(coderd, build))
        check_notifications_arrive(coderd, owner, standby)
        wait_connected(owner, ws.agent_id, timeout=10)
        rows = Rows(coderd.dsn, me.id, me.organization_ids[0])
        job = rows.wait(build, timeout=30)
        assert job["job_status"] == "succeeded", job["error"]
        assert rows.q("SELECT provisioner_state FROM workspace_builds WHERE job_id = %s",
                      (build,))[0]["provisioner_state"]
    finally:
        if rows is not None:
            rows.conn.close()
        agent.stop()


def test_unclean_failover(cluster, coderd):
    """The new primary replicates synchronously to a new standby, then dies at once."""
    _, primary, standby = cluster
    standby.start_standby(primary)
    sql(primary.dsn(DATABASE), "ALTER SYSTEM SET synchronous_standby_names = '*'")
    sql(primary.dsn(DATABASE), "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while sql(primary.dsn(DATABASE), "SELECT sync_state FROM pg_stat_replication") != [("sync",)]:
        assert time.monotonic() < deadline, "the standby never became synchronous"
        time.sleep(0.1)
    owner = coderd.client()
    owner.token = owner.login_with_password("admin@example.com", "SomeSecurePassword!")
    check_failover(coderd, owner, Writer(coderd.url, owner.token, "unclean"),
                   primary, standby, PostgresServer.crash)
    check_notifications_arrive(coderd, owner, standby)


def test_pages_say_the_database_is_down_when_no_connection_can_be_made():
    """Every idle connection gone with the server and none to be made: the API and a
    dashboard page both answer 503 with the message, and both serve again once the server
    is back."""
    server = PostgresServer().start()
    coderd = None
    try:
        sql(server.dsn("postgres"), f"CREATE DATABASE {DATABASE}")
        coderd = start_coderd(server.dsn(DATABASE))
        owner, _ = create_first_user(coderd)
        cookies = {"coder_session_token": owner.token}
        assert requests.get(f"{coderd.url}/workspaces", cookies=cookies, timeout=10).ok
        server.shutdown()
        for _ in range(3):  # whatever the pool held is discarded, then connecting fails
            api = requests.get(f"{coderd.url}/api/v2/users/me", timeout=REQUEST_TIMEOUT,
                               headers={"Coder-Session-Token": owner.token})
            assert api.status_code == 503, api.text
            page = requests.get(f"{coderd.url}/workspaces", cookies=cookies,
                                timeout=REQUEST_TIMEOUT)
            assert page.status_code == 503, f"{page.status_code}\n{coderd.log()[-3000:]}"
            assert page.headers["Content-Type"].startswith("text/html")
            assert "The database is unavailable, try again." in page.text
        server._launch()
        assert serves_again(coderd, owner, time.monotonic()) < SERVES_AGAIN_WITHIN
        assert requests.get(f"{coderd.url}/workspaces", cookies=cookies, timeout=10).ok
        assert "Traceback" not in coderd.log()
    finally:
        if coderd is not None:
            coderd.stop()
        server.stop()


def test_the_pool_drops_idle_connections_whose_server_ended_them(database):
    """What lets the first request after a failover succeed: an idle connection whose
    session the server ended is not handed out; the pool's own count stays true."""
    pool = Pool(database, size=2)
    try:
        first, second = pool.get(), pool.get()
        pids = {first.get_backend_pid(), second.get_backend_pid()}
        pool.put(first)
        pool.put(second)
        sql(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
            (list(pids),))
        deadline = time.monotonic() + 5
        while sql(database, "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)):
            assert time.monotonic() < deadline, "the sessions did not end"
            time.sleep(0.05)
        taken = [pool.get(), pool.get()]
        for conn in taken:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                assert cur.fetchone()[0] not in pids
        for conn in taken:
            pool.put(conn)
    finally:
        pool.close()


GREEN_CONNECT = """
import json, sys, time
from gevent import monkey; monkey.patch_all()
from psycogreen.gevent import patch_psycopg; patch_psycopg()
from server.db.pool import connect
dsn = sys.argv[1]
started = time.monotonic()
try:
    with connect(dsn, "test").cursor() as cur:
        cur.execute("SELECT 1")
        answer = cur.fetchone()[0]
except Exception as exc:
    answer = f"{type(exc).__name__}: {str(exc).strip()}"
print(json.dumps({"answer": answer, "seconds": time.monotonic() - started}))
"""


def test_a_host_that_never_answers_costs_its_connect_timeout_under_gevent(database):
    """coderd connects under gevent, where libpq ignores connect_timeout: a host that takes
    the TCP connection and then says nothing (a hung server, or one behind a dead link)
    must cost its timeout and no more, and the next host of the DSN is tried."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshakes; nobody ever answers
    try:
        params = psycopg2.extensions.parse_dsn(database)
        black = f"host=127.0.0.1 port={silent.getsockname()[1]}"

        def green(dsn: str) -> dict:
            done = subprocess.run([sys.executable, "-c", GREEN_CONNECT, dsn], capture_output=True,
                                  text=True, timeout=60,
                                  cwd=Path(__file__).resolve().parents[2])
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        alone = green(f"{black} dbname=x user=x sslmode=disable connect_timeout=2")
        assert alone["answer"].startswith("OperationalError") and "timeout expired" in alone["answer"]
        assert 1.5 < alone["seconds"] < 5, alone
        then = green(psycopg2.extensions.make_dsn(
            database, host=f"127.0.0.1,{params.get('host', '')}",
            port=f"{silent.getsockname()[1]},{params.get('port', 5432)}",
            connect_timeout="2", target_session_attrs="read-write"))
        assert then["answer"] == 1 and 1.5 < then["seconds"] < 5, then
        # No host answers: the error names each one's failure, on one line (coderd's log).
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        with closed:
            refusing = closed.getsockname()[1]
            neither = green(f"host=127.0.0.1,localhost port={silent.getsockname()[1]},{refusing} "
                            "dbname=x user=x sslmode=disable connect_timeout=2")
        answer = neither["answer"]
        assert answer.startswith("OperationalError") and "\n" not in answer, answer
        assert f'"127.0.0.1", port {silent.getsockname()[1]} failed: timeout expired' in answer
        assert f'"localhost", port {refusing} failed: Connection refused' in answer, answer
        # The URL's own application_name gives way to coderd's, as libpq's keywords do.
        named = green(psycopg2.extensions.make_dsn(database, application_name="admin-set"))
        assert named["answer"] == 1, named
    finally:
        silent.close()


def test_the_pubsub_listens_again_and_wakes_every_subscriber(database):
    """Its connection ended: it reconnects, LISTENs to its channels again, and calls every
    subscriber with RESYNC (what was notified meanwhile is lost: read it again)."""
    pubsub = PubSub(database, reconnect_delay=0.1)
    pubsub.start()
    try:
        heard: list[str] = []
        wait_for(lambda: pubsub.healthy.is_set())
        pubsub.subscribe("failover_test", heard.append)
        sql(database, "SELECT pg_notify('failover_test', 'before')")
        wait_for(lambda: heard == ["before"])
        sql(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'coderd-pubsub'")
        wait_for(lambda: heard == ["before", RESYNC])
        sql(database, "SELECT pg_notify('failover_test', 'after')")
        wait_for(lambda: heard == ["before", RESYNC, "after"])
    finally:
        pubsub.stop()
        gevent.sleep(0)


def wait_for(condition, within: float = 5) -> None:
    """Until ``condition()``, letting the pubsub's greenlet run meanwhile."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        gevent.sleep(0.02)
