"""The agent API without an agent process: what an agent token may and may not do,
bad input, and what users read (logs, followed over a websocket)."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import pytest
import requests
import websocket

from server.api.workspaceagents import MAX_LOG_LINES_PER_REQUEST, POLL_SECONDS
from server.db.queries.agents import LOG_LINE_OVERHEAD, LOGS_PAGE, MAX_LOG_SOURCES, MAX_LOGS_BYTES

from tests.kit.agent import workspace_with_agent
from tests.kit.provisioning import sql


@pytest.fixture
def agent(shared_coderd, shared_owner):
    _, row = workspace_with_agent(shared_owner, shared_coderd.dsn,
                                  apps=[{"slug": "web", "url": "http://127.0.0.1:1"}],
                                  scripts=[{"display_name": "s", "script": "true"}],
                                  metadata=[{"key": "k", "script": "true"}])
    return row


def call(coderd, row, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{coderd.url}/api/v2/workspaceagents/me/{path}", json=body,
                            headers={"Coder-Session-Token": str(row.token)}, timeout=10)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def test_an_agent_writes_only_its_own_rows(shared_coderd, shared_owner, agent):
    other_app = workspace_with_agent(shared_owner, shared_coderd.dsn,
                                     apps=[{"slug": "x", "url": "http://127.0.0.1:1"}])[1]
    resp = call(shared_coderd, agent, "POST", "app-health",
                {"healths": {str(other_app.app_ids["x"]): "healthy"}})
    assert resp.status_code == 400 and "not an app of this agent" in resp.json()["message"]
    assert shared_owner.workspace_agent(other_app.id).apps[0].health == "disabled"
    resp = call(shared_coderd, agent, "PATCH", "logs", {
        "log_source_id": str(other_app.script_sources.get("s", uuid.uuid4())),
        "logs": [{"created_at": now(), "output": "x", "level": "info"}]})
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "log_source_id"
    # A user's session is not an agent token, and an agent token is no session.
    assert requests.get(f"{shared_coderd.url}/api/v2/workspaceagents/me/manifest", timeout=10,
                        headers={"Coder-Session-Token": shared_owner.token}).status_code == 401
    assert requests.get(f"{shared_coderd.url}/api/v2/workspaceagents/{agent.id}", timeout=10,
                        headers={"Coder-Session-Token": str(agent.token)}).status_code == 401


def test_bad_reports_are_400s_naming_the_field(shared_coderd, agent):
    resp = call(shared_coderd, agent, "POST", "report-lifecycle",
                {"state": "dancing", "changed_at": now()})
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "state"
    resp = call(shared_coderd, agent, "POST", "app-health", {"healths": {"nope": "healthy"}})
    assert resp.status_code == 400
    resp = call(shared_coderd, agent, "POST", "report-stats", {"rx_bytes": "many"})
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "rx_bytes"


def test_stats_reports_add_rows_no_faster_than_the_interval(shared_coderd, agent):
    """An agent (its workspace's owner controls it) reporting stats as fast as it can adds
    no more than a row per half interval, and every counter is kept."""
    for _ in range(20):
        resp = call(shared_coderd, agent, "POST", "report-stats",
                    {"rx_bytes": 10, "connection_count": 1, "session_count_ssh": 2,
                     "connections_by_proto": {"ssh": 1}})
        assert resp.status_code == 200, resp.text
    (rows, rx_bytes, connections, ssh), = sql(
        shared_coderd.dsn, """SELECT count(*), sum(rx_bytes), sum(connection_count),
                                     max(session_count_ssh)
                              FROM workspace_agent_stats WHERE agent_id = %s""", (str(agent.id),))
    assert rows <= 2 and (rx_bytes, connections, ssh) == (200, 20, 2)
    for field, body in {"connections_by_proto": {"connections_by_proto": {f"p{i}": 1 for i in range(100)}},
                        "rx_bytes": {"rx_bytes": -1}, "tx_bytes": {"tx_bytes": 2 ** 63},
                        "connection_median_latency_ms": {"connection_median_latency_ms": 1e300}}.items():
        resp = call(shared_coderd, agent, "POST", "report-stats", body)
        assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == field, resp.text


def test_metadata_values_are_capped_as_coder_does(shared_coderd, shared_owner, agent):
    resp = call(shared_coderd, agent, "POST", "metadata", {"metadata": [
        {"key": "k", "collected_at": now(), "value": "v" * 5000, "error": ""},
        {"key": "undeclared", "collected_at": now(), "value": "ignored", "error": ""}]})
    assert resp.status_code == 204
    with requests.get(f"{shared_coderd.url}/api/v2/workspaceagents/{agent.id}/watch-metadata",
                      headers={"Coder-Session-Token": shared_owner.token}, stream=True,
                      timeout=10) as events:
        data = next(line for line in events.iter_lines(decode_unicode=True)
                    if line.startswith("data: "))
    (item,) = json.loads(data[6:])
    assert len(item["result"]["value"]) == 2048 and "exceeded" in item["result"]["error"]


def test_logs_are_listed_and_followed_and_capped(shared_coderd, shared_owner, agent):
    source = str(agent.script_sources["s"])
    ws = websocket.create_connection(
        f"{shared_coderd.url.replace('http', 'ws', 1)}/api/v2/workspaceagents/{agent.id}"
        "/logs?follow=true", header=[f"Coder-Session-Token: {shared_owner.token}"], timeout=10)
    try:
        for text in ("one", "two"):
            resp = call(shared_coderd, agent, "PATCH", "logs", {
                "log_source_id": source,
                "logs": [{"created_at": now(), "output": text, "level": "info"}]})
            assert resp.status_code == 200
        assert [json.loads(ws.recv())["output"] for _ in range(2)] == ["one", "two"]
    finally:
        ws.close()
    listed = [entry.output for entry in shared_owner.workspace_agent_logs(agent.id)]
    assert listed == ["one", "two"]
    big = [{"created_at": now(), "output": "x" * 1000, "level": "info"}] * 550
    resp = call(shared_coderd, agent, "POST", "logs", {"log_source_id": source, "logs": big})
    assert resp.status_code == 200 and not shared_owner.workspace_agent(agent.id).logs_overflowed
    resp = call(shared_coderd, agent, "POST", "logs", {"log_source_id": source, "logs": big})
    assert resp.status_code == 413
    assert shared_owner.workspace_agent(agent.id).logs_overflowed


def _slowest_answer_while(coderd, work) -> tuple[object, float]:
    """What ``work()`` returns, and the slowest of the other requests coderd answered
    meanwhile: an event loop held by ``work`` shows here."""
    done, slowest = threading.Event(), 0.0
    result = []
    worker = threading.Thread(target=lambda: (result.append(work()), done.set()))
    worker.start()
    while not done.is_set():
        start = time.monotonic()
        assert requests.get(f"{coderd.url}/api/v2/buildinfo", timeout=30).status_code == 200
        slowest = max(slowest, time.monotonic() - start)
        time.sleep(0.05)
    worker.join()
    return result[0], slowest


def test_a_flood_of_log_lines_is_bounded(shared_coderd, shared_owner, agent):
    """The review's attack: 140,000 empty lines in one PATCH were accepted (140k rows,
    logs_length 0, 13.6 s, the event loop held ~3 s), and could be sent again and again."""
    source = str(agent.script_sources["s"])
    flood = [{"created_at": "2026-12-03T20:00:00Z", "output": "", "level": "info"}] * 140_000
    body = json.dumps({"log_source_id": source, "logs": flood}).encode()  # 9.9 MB
    resp, slowest = _slowest_answer_while(shared_coderd, lambda: requests.patch(
        f"{shared_coderd.url}/api/v2/workspaceagents/me/logs", data=body, timeout=60,
        headers={"Coder-Session-Token": str(agent.token), "Content-Type": "application/json"}))
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "logs"
    # Parsing the 9.9 MB of JSON, as any body up to CODER_MAX_BODY_BYTES, takes ~0.4 s;
    # decoding the lines took 5 s more.
    assert slowest < 2, f"other requests waited {slowest:.1f} s"
    # Empty lines are not free: the 1 MiB budget runs out after a bounded number of them.
    batch = {"log_source_id": source, "logs": flood[:MAX_LOG_LINES_PER_REQUEST]}
    for sent in range(1, 100):
        resp = call(shared_coderd, agent, "PATCH", "logs", batch)
        if resp.status_code == 413:
            break
        assert resp.status_code == 200, resp.text
    rows, length = sql(shared_coderd.dsn, "SELECT count(*), max(a.logs_length) FROM "
                       "workspace_agent_logs l JOIN workspace_agents a ON a.id = l.agent_id "
                       "WHERE a.id = %s", (str(agent.id),))[0]
    assert rows == (sent - 1) * MAX_LOG_LINES_PER_REQUEST <= MAX_LOGS_BYTES // LOG_LINE_OVERHEAD
    assert length == rows * LOG_LINE_OVERHEAD
    # Reads come a page at a time; following sends the whole backlog, page after page.
    first = shared_owner.workspace_agent_logs(agent.id)
    assert len(first) == LOGS_PAGE
    assert shared_owner.workspace_agent_logs(agent.id, after=first[-1].id)[0].id > first[-1].id
    resp = requests.get(f"{shared_coderd.url}/api/v2/workspaceagents/{agent.id}/logs?limit=5",
                        headers={"Coder-Session-Token": shared_owner.token}, timeout=10)
    assert len(resp.json()) == 5
    ws = websocket.create_connection(
        f"{shared_coderd.url.replace('http', 'ws', 1)}/api/v2/workspaceagents/{agent.id}"
        "/logs?follow=true", header=[f"Coder-Session-Token: {shared_owner.token}"], timeout=10)
    try:
        def receive(count: int) -> float:
            start = time.monotonic()
            for _ in range(count):
                ws.recv()
            return time.monotonic() - start
        first_page = receive(LOGS_PAGE)
        # Two more full pages and a line of the next: no pause of POLL_SECONDS between them.
        assert receive(2 * LOGS_PAGE + 1) < 2 * first_page + 1.5 * POLL_SECONDS
    finally:
        ws.close()


def test_log_sources_per_agent_are_capped(shared_coderd, agent):
    def register(source_id):
        return call(shared_coderd, agent, "POST", "log-source",
                    {"id": str(source_id), "display_name": "flood"})
    sources = [uuid.uuid4() for _ in range(MAX_LOG_SOURCES)]
    assert all(register(s).status_code == 201 for s in sources)
    resp = register(uuid.uuid4())
    assert resp.status_code == 400 and resp.json()["validations"][0]["field"] == "id"
    assert register(sources[0]).status_code == 201  # renaming one registered is still fine
