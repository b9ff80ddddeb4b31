"""Port forwarding, the reconnecting PTY, listening ports, apps, and who may open streams."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
import websocket

from appliance.sdk import rawstream, relay
from appliance.sdk.client import APIError, Client

from tests.kit.agent import read_until
from tests.kit.coderd import create_another_user
from tests.kit.httpserve import GetServer
from tests.kit.postgres import free_port
from tests.kit.relay import APP_PORT, ROOT, wait_connected


@pytest.fixture(scope="module")
def app_server():
    """The app inside the workspace: answers with the path and the cookies it received."""
    def answer(request):
        return 200, "application/json", json.dumps(
            {"path": request.path, "cookie": request.headers.get("Cookie", "")}).encode()

    with GetServer(answer, port=APP_PORT) as server:
        yield server


@pytest.mark.parametrize("command", ["port-forward", "tunnel"])  # Coder's alias
def test_port_forward_echo(command, workspace, agent, echo_server):
    local = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli.main", "--global-config",
                             str(workspace.config_dir), command, workspace.name, "--tcp",
                             f"{local}:{echo_server}"], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert b"Forwarding" in proc.stdout.readline()
        for _ in range(2):  # two connections, one after the other
            with socket.create_connection(("127.0.0.1", local), timeout=10) as s:
                s.sendall(b"x" * 300_000)
                s.shutdown(socket.SHUT_WR)  # passed on: the echo server answers, then ends
                got = b""
                while chunk := s.recv(65536):
                    got += chunk
                assert got == b"x" * 300_000
    finally:
        proc.terminate()
        proc.wait(10)


def test_listening_ports(workspace, agent, echo_server):
    ports = [p.port for p in relay.listening_ports(workspace.owner, workspace.agent_id).ports]
    assert echo_server in ports


def test_reconnecting_pty_replays_missed_output(workspace, agent):
    key = uuid.uuid4()
    term = relay.reconnecting_pty(workspace.owner, workspace.agent_id, key, 100, 30)
    term.send_text(json.dumps({"data": "export MARK=one; stty size\r"}))
    assert b"30 100" in read_until(term, b"30 100")
    term.close()
    # Output produced while nobody is attached is replayed on reconnect, same shell.
    again = relay.reconnecting_pty(workspace.owner, workspace.agent_id, key, 100, 30)
    again.send_text(json.dumps({"data": "echo mark=$MARK\r", "width": 120, "height": 40}))
    out = read_until(again, b"mark=one")
    assert b"30 100" in out
    again.send_text(json.dumps({"data": "stty size\r"}))
    read_until(again, b"40 120")
    again.close()


def test_path_app_and_sharing(workspace, agent, app_server):
    url = f"{workspace.coderd.url}/@admin/{workspace.name}/apps/web/x/y?q=1"
    r = requests.get(url, cookies={"coder_session_token": workspace.owner.token, "other": "v"})
    assert r.status_code == 200, r.text
    assert r.json() == {"path": "/base/x/y?q=1", "cookie": "other=v"}  # session cookie stripped
    assert requests.get(url).status_code == 401  # owner-only app, anonymous
    other, _ = create_another_user(workspace.owner)
    assert requests.get(url, cookies={"coder_session_token": other.token}).status_code == 404
    public = f"{workspace.coderd.url}/@admin/{workspace.name}/apps/pub/"
    assert requests.get(public).status_code == 401  # path apps are not shared (test_app_security)
    port = f"{workspace.coderd.url}/@admin/{workspace.name}.main/port/{APP_PORT}/z"
    assert requests.get(port, headers={"Coder-Session-Token": workspace.owner.token}).json()["path"] == "/z"
    assert requests.get(port).status_code == 401  # ports are the owner's only
    assert requests.get(port, cookies={"coder_session_token": other.token}).status_code == 404


def test_other_users_streams_refused(workspace, agent):
    other, _ = create_another_user(workspace.owner)
    with pytest.raises(APIError) as err:  # refused before any byte reached the agent
        relay.dial(other, workspace.agent_id, "ssh")
    assert err.value.status == 404
    with pytest.raises(APIError) as err:
        relay.listening_ports(other, workspace.agent_id)
    assert err.value.status == 404


def connect_by_name(client, spec: str, target: str):
    path, query = rawstream.workspace_path(spec)
    return rawstream.connect(client.url, path, {**query, "target": target}, client.token)


def test_connect_by_workspace_name_with_half_close(workspace, agent, echo_server):
    s = connect_by_name(workspace.owner, f"admin/{workspace.name}.main", f"tcp:{echo_server}")
    s.sendall(b"x" * 300_000)
    s.shutdown(socket.SHUT_WR)  # the end of input reaches the echo server, which then ends
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    assert got == b"x" * 300_000
    s.close()
    other, _ = create_another_user(workspace.owner)
    refusals = [(workspace.owner, "no-such-workspace", "ssh", 404, "not found"),
                (workspace.owner, f"{workspace.name}.nosuchagent", "ssh", 404, "nosuchagent"),
                (workspace.owner, workspace.name, "tcp:99999999", 400, "Invalid target"),
                (other, f"admin/{workspace.name}", "ssh", 404, "not found")]
    for client, spec, target, status, text in refusals:
        with pytest.raises(APIError) as err:
            connect_by_name(client, spec, target)
        assert err.value.status == status and text in err.value.describe(), (spec, err.value)
    with pytest.raises(APIError) as err:  # never written into the request's head
        rawstream.connect(workspace.owner.url, "/api/v2/x", {}, "id-secret\r\nX-Injected: 1")
    assert err.value.status == 401 and "malformed" in err.value.message
    # Without an upgrade: a plain 400 naming what is expected.
    path, _ = rawstream.workspace_path(workspace.name)
    r = requests.get(workspace.coderd.url + path, headers={"Coder-Session-Token": workspace.owner.token})
    assert r.status_code == 400 and "Upgrade: tcp" in r.json()["detail"]


def test_connect_as_a_websocket(workspace, agent, echo_server):
    """Clients that speak websocket (binary messages) get the same streams."""
    stream = relay.open_websocket(workspace.owner, f"/api/v2/workspaceagents/{workspace.agent_id}/connect",
                                  {"target": f"tcp:{echo_server}"})
    stream.sendall(b"over a websocket")
    assert stream.recv() == b"over a websocket"
    stream.close()


def test_websocket_refusals_are_close_codes_whatever_refuses(workspace, agent):
    """After gevent-websocket's 101, a client reads only the close frame: a session refused
    before any view, the authorization layer's refusal and a view's own 400 each arrive as
    4000 + status with the message, on the stream routes and the terminal's."""
    other, _ = create_another_user(workspace.owner)
    bogus = Client(workspace.coderd.url, "abcdefghij-abcdefghijabcdefghijab")
    pty = f"/api/v2/workspaceagents/{workspace.agent_id}/pty"
    connect = f"/api/v2/users/admin/workspace/{workspace.name}/connect"
    cases = [(bogus, pty, {"reconnect": str(uuid.uuid4())}, 401),
             (bogus, connect, {}, 401),
             (other, pty, {"reconnect": str(uuid.uuid4())}, 404),
             (other, connect, {}, 404),
             (workspace.owner, pty, {"reconnect": "not-a-uuid"}, 400),
             (workspace.owner, pty, {"reconnect": str(uuid.uuid4()), "width": "65536"}, 400),
             (workspace.owner, pty, {"reconnect": str(uuid.uuid4()), "height": "0"}, 400)]
    for client, path, query, status in cases:
        stream = relay.open_websocket(client, path, query)
        with pytest.raises(APIError) as err:
            stream.recv()
        assert err.value.status == status, (path, query, err.value)
        assert err.value.message, (path, err.value)
        stream.close()
    assert "Traceback" not in workspace.coderd.log()


def test_wrong_agent_token_is_refused(workspace):
    url = workspace.coderd.url.replace("http", "ws") + "/api/v2/workspaceagents/me/relay"
    ws = websocket.create_connection(url, header={"Coder-Session-Token": str(uuid.uuid4())})
    with pytest.raises(APIError) as err:  # refused after the upgrade: close code 4401
        relay.WebSocketStream(ws).recv()
    assert err.value.status == 401 and "token is invalid" in err.value.message


def test_client_disconnect_frees_streams_and_agent_restart(workspace, agent, echo_server):
    s = relay.dial(workspace.owner, workspace.agent_id, f"tcp:{echo_server}")
    s.sendall(b"hi")
    assert s.recv(16) == b"hi"
    s.close()
    deadline = time.monotonic() + 10
    while True:  # the agent's side of the stream is gone too: only the echo server holds none
        out = subprocess.run(["ss", "-tn", "state", "established", f"( dport = :{echo_server} )"],
                             capture_output=True, text=True).stdout
        if out.count("\n") <= 1:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    agent.stop(9)
    with pytest.raises(APIError) as err:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            relay.listening_ports(workspace.owner, workspace.agent_id)
            time.sleep(0.2)
    assert err.value.status == 502
    agent.start()
    wait_connected(workspace.owner, workspace.agent_id)


WS_APP = '''
import sys
from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]
    ws.send("hello " + environ["PATH_INFO"] + " cookie=" + environ.get("HTTP_COOKIE", ""))
    while (m := ws.receive()) is not None:
        ws.send("echo:" + m if isinstance(m, str) else m[::-1], binary=not isinstance(m, str))
    return []

WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler, log=None).serve_forever()
'''


@pytest.fixture(scope="module")
def ws_app():
    """A websocket app (gevent-websocket) listening inside the workspace."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", WS_APP, str(port)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the websocket app did not start"
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


def test_app_websocket_through_the_relay(workspace, agent, ws_app):
    url = (workspace.coderd.url.replace("http", "ws", 1)
           + f"/@admin/{workspace.name}.main/port/{ws_app}/socket?x=1")
    ws = websocket.create_connection(url, cookie=f"coder_session_token={workspace.owner.token}; a=b",
                                     timeout=10)
    assert ws.recv() == "hello /socket cookie=a=b"  # the session cookie does not reach the app
    ws.send("text")
    assert ws.recv() == "echo:text"
    ws.send_binary(bytes(range(200)) * 500)
    assert ws.recv() == (bytes(range(200)) * 500)[::-1]
    ws.close()
    # Anonymous: refused before anything reaches the app, as a close code.
    with pytest.raises(APIError) as err:
        relay.WebSocketStream(websocket.create_connection(url, timeout=10)).recv()
    assert err.value.status == 401


def test_subdomain_apps(workspace, agent, app_server, ws_app):
    host = f"web--main--{workspace.name}--admin.apps.test"
    auth = {"Coder-Session-Token": workspace.owner.token}
    r = requests.get(workspace.coderd.url + "/a/b?c=d", headers={"Host": host, **auth})
    assert r.status_code == 200 and r.json()["path"] == "/base/a/b?c=d", r.text
    # Without credentials: sent through coderd to sign in (test_app_security follows it).
    r = requests.get(workspace.coderd.url + "/", headers={"Host": host}, allow_redirects=False)
    assert r.status_code == 307 and "/api/v2/applications/auth-redirect?" in r.headers["Location"]
    public = f"pub--main--{workspace.name}--admin.apps.test"
    assert requests.get(workspace.coderd.url + "/p", headers={"Host": public}).json()["path"] == "/p"
    r = requests.get(workspace.coderd.url + "/", headers={"Host": "nonsense.apps.test"})
    assert r.status_code == 404
    # The API answers as usual on the access URL's own host.
    assert requests.get(workspace.coderd.url + "/healthz").status_code == 200
    # Websockets too, on a port's subdomain.
    ws = websocket.create_connection(workspace.coderd.url.replace("http", "ws", 1) + "/live",
                                     host=f"{ws_app}--main--{workspace.name}--admin.apps.test",
                                     header=[f"Coder-Session-Token: {workspace.owner.token}"],
                                     timeout=10)
    assert ws.recv().startswith("hello /live")
    ws.send("sub")
    assert ws.recv() == "echo:sub"
    ws.close()
