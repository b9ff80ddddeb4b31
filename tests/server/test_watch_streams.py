"""Watch streams end with their client (issue 19, item 5): a client that goes away, however
abruptly, leaves no pubsub subscription and no greenlet behind in coderd, seen through
``tests.kit.coderdprobe``'s view into the process."""
from __future__ import annotations

import uuid

import pytest
import requests
import websocket

from appliance.sdk import types
from server.db.queries.agents import agent_metadata_channel
from server.db.queries.dashboard import workspace_channel

from tests.kit.agent import add_agent, wait_for
from tests.kit.coderd import create_first_user, start_coderd
from tests.kit.coderdprobe import PROBE_ENV
from tests.kit.postgres import free_port
from tests.kit.provisioning import complete_job, make_template

# Well under events.PING_SECONDS: the stream must notice the client left without
# waiting to write its next ping.
GONE_WITHIN = 5.0


@pytest.fixture(scope="module")
def probed(pg_server, pg_template):
    probe = f"127.0.0.1:{free_port()}"
    coderd = start_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                          env={PROBE_ENV: probe}, module="tests.kit.coderdprobe")
    coderd.probe = lambda channel: requests.get(f"http://{probe}/", params={"channel": channel},
                                                timeout=5).json()
    try:
        yield coderd
    finally:
        coderd.stop()


@pytest.fixture(scope="module")
def owner(probed):
    return create_first_user(probed)[0]


@pytest.fixture(scope="module")
def workspace(probed, owner):
    template = make_template(owner, probed.dsn)
    ws = owner.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template.id))
    complete_job(probed.dsn, ws.latest_build.job.id)
    return ws, add_agent(probed.dsn, ws.latest_build.job.id)


def _sse(probed, owner, path):
    resp = requests.get(f"{probed.url}/api/v2{path}", stream=True, timeout=20,
                        headers={"Coder-Session-Token": owner.token})
    assert resp.status_code == 200, resp.text
    lines = resp.iter_lines(decode_unicode=True)
    assert next(lines) == "event: ping"
    assert next(line for line in lines if line.startswith("event: ")) == "event: data"

    def go_away():
        lines.close()  # urllib3 drops the connection with its reader (this one kept it)
        resp.close()
    return go_away


def _websocket(probed, owner, path):
    conn = websocket.create_connection(probed.url.replace("http://", "ws://") + "/api/v2" + path,
                                       header=[f"Coder-Session-Token: {owner.token}"], timeout=20)
    assert '"ping"' in conn.recv() and '"data"' in conn.recv()
    return conn.shutdown  # the socket closed, no close frame


@pytest.mark.parametrize("kind", ["watch", "watch-ws", "watch-metadata", "watch-metadata-ws"])
def test_a_client_that_goes_leaves_nothing_behind(probed, owner, workspace, kind):
    ws, agent = workspace
    channel, path, open_stream = {
        "watch": (workspace_channel(ws.id), f"/workspaces/{ws.id}/watch", _sse),
        "watch-ws": (workspace_channel(ws.id), f"/workspaces/{ws.id}/watch-ws", _websocket),
        "watch-metadata": (agent_metadata_channel(agent.id),
                           f"/workspaceagents/{agent.id}/watch-metadata", _sse),
        "watch-metadata-ws": (agent_metadata_channel(agent.id),
                              f"/workspaceagents/{agent.id}/watch-metadata-ws", _websocket)}[kind]
    before = probed.probe(channel)
    assert before["listeners"] == 0
    go_away = open_stream(probed, owner, path)
    during = probed.probe(channel)
    assert during["listeners"] == 1 and during["greenlets"] > before["greenlets"]
    go_away()
    wait_for(lambda: (now := probed.probe(channel))["listeners"] == 0
             and now["greenlets"] <= before["greenlets"], GONE_WITHIN,
             what=f"the {kind} stream's subscription and greenlets to end")
