"""What coderd reads from workspace agents, apps' visitors and websockets is bounded
(docs/security.md, "Bounded reads").

The agent runs in this process: the real agent's stream server, except that its
answer to ``listening-ports`` is whatever the test sets, as a hostile workspace
could make it. Apps are servers on 127.0.0.1 reached through that agent.
"""
from __future__ import annotations

import http.server
import struct
import threading
import time

import pytest
import requests
import websocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve as websocket_server

from agent import relay as agent_relay
from appliance import mux, wsframes
from server.adapters import gevent_websocket

from tests.kit import rawhttp, wsfuzz
from tests.kit.agent import wait_for, workspace_with_agent
from tests.kit.coderd import create_first_user, running_coderd
from tests.kit.postgres import free_port
from tests.kit.provisioning import sql
from tests.kit.relay import wait_connected

SUFFIX = ".apps.test"


class Agent(agent_relay.StreamServer):
    """The real agent's streams; ``ports_answer`` says how it answers listening-ports."""
    ports_answer = "honest"

    def __call__(self, stream: mux.Stream) -> None:
        if stream.target != "listening-ports" or self.ports_answer == "honest":
            return super().__call__(stream)
        stream.accept()
        try:
            if self.ports_answer == "flood":
                while True:
                    stream.sendall(b"[" * 65536)
            elif self.ports_answer == "not ports":
                stream.sendall(b'{"ports": [{"port": "x"}], "note": "<script>"}')
                stream.shutdown_write()
            stream.recv()  # "silent" says nothing: until coderd gives up
        except OSError:
            pass
        stream.close()


class CountingApp:
    """An HTTP app that answers each request with how many body bytes it read."""

    def __init__(self, port: int):
        self.requests = 0
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                app.requests += 1
                n = 0
                for piece in self._pieces():
                    n += len(piece)
                body = str(n).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST

            def _pieces(self):
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    yield from self._read(int(self.headers.get("Content-Length") or 0))
                    return
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    yield from self._read(size)
                    self.rfile.readline()
                self.rfile.readline()

            def _read(self, left: int):
                while left:
                    piece = self.rfile.read(min(left, 1 << 16))
                    left -= len(piece)
                    yield piece

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def deployment(pg_server, pg_template, tmp_path_factory):
    """A coderd, its owner (admin), a workspace whose agent runs here, and its apps:
    ``web`` (the owner's) and ``pub`` (public), both the counting app."""
    app_port = free_port()
    with running_coderd(pg_server, pg_template, env={"CODER_WILDCARD_ACCESS_URL": "*" + SUFFIX}) as coderd:
        owner, _ = create_first_user(coderd)
        url = f"http://127.0.0.1:{app_port}"
        ws, row = workspace_with_agent(owner, coderd.dsn, apps=[{"slug": "web", "url": url},
                                                                {"slug": "pub", "url": url}])
        sql(coderd.dsn, "UPDATE workspace_apps SET sharing_level = 'public' WHERE id = %s",
            (str(row.app_ids["pub"]),))
        server = Agent(host_key_path=tmp_path_factory.mktemp("agent") / "host_key")
        session = agent_relay.serve_session(
            wsframes.client_stream(agent_relay.connect(coderd.url, str(row.token))), server)
        threading.Thread(target=session.serve, daemon=True).start()
        app = CountingApp(app_port)
        try:
            wait_connected(owner, row.id)
            yield coderd, owner, ws.name, row.id, server, app
        finally:
            server.ports_answer = "honest"
            session.close()
            app.stop()


@pytest.mark.parametrize("answer, status", [("flood", 502), ("not ports", 502), ("silent", 504)])
def test_an_agents_listening_ports_answer_is_bounded(deployment, answer, status):
    coderd, owner, _, agent_id, agent, _ = deployment
    agent.ports_answer = answer
    coderd.reset_peak_memory()
    before = coderd.peak_memory()
    started = time.monotonic()
    try:
        resp = requests.get(f"{coderd.url}/api/v2/workspaceagents/{agent_id}/listening-ports",
                            headers={"Coder-Session-Token": owner.token}, timeout=20)
    finally:
        agent.ports_answer = "honest"
    assert resp.status_code == status, resp.text
    assert "<script>" not in resp.text
    assert time.monotonic() - started < 15
    assert coderd.peak_memory() - before < 16 << 20


def _pieces(total: int, piece: int = 1 << 20):
    for _ in range(total // piece):
        yield b"x" * piece


def test_app_request_bodies_are_streamed_not_held(deployment):
    """A body on its way to an app (anonymous, for a public app) is passed on as it
    comes: coderd's memory does not grow with it."""
    coderd, owner, workspace, _, _, _ = deployment
    size = 96 << 20
    port = coderd.url.rsplit(":", 1)[1]
    coderd.reset_peak_memory()
    before = coderd.peak_memory()
    path_app = f"{coderd.url}/@admin/{workspace}/apps/web/upload"
    resp = requests.post(path_app, data=b"x" * size, timeout=60,
                         headers={"Coder-Session-Token": owner.token})
    assert resp.status_code == 200 and resp.text == str(size), resp.text[:200]
    public = requests.post(f"http://127.0.0.1:{port}/upload", data=_pieces(size), timeout=60,
                           headers={"Host": f"pub--main--{workspace}--admin{SUFFIX}:{port}"})
    assert public.status_code == 200 and public.text == str(size), public.text[:200]
    grown = coderd.peak_memory() - before
    assert grown < 32 << 20, f"coderd's peak memory grew by {grown >> 20} MiB"


def test_control_characters_never_reach_an_app(deployment):
    coderd, owner, workspace, _, _, app = deployment
    seen = app.requests
    for value in (b"a\rb", b"a\x00b", b"a\rInjected: 1"):
        answer = rawhttp.exchange(coderd.url, b"GET /@admin/%s/apps/web/ HTTP/1.1\r\nHost: x\r\n"
                                  b"Coder-Session-Token: %s\r\nX-A: %s\r\n\r\n"
                                  % (workspace.encode(), owner.token.encode(), value), timeout=5)
        assert answer.statuses == [400] and answer.closed, (value, answer)
    assert app.requests == seen


def _close_code(ws: websocket.WebSocket) -> int | None:
    """The code of the close frame coderd sends next, skipping anything else."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None


def test_websocket_messages_to_an_app_are_bounded(deployment, websocket_echo_app):
    coderd, owner, workspace, _, _, _ = deployment
    url = (coderd.url.replace("http", "ws", 1)
           + f"/@admin/{workspace}/port/{websocket_echo_app}/")
    header = [f"Coder-Session-Token: {owner.token}"]
    ws = websocket.create_connection(url, header=header, timeout=15)
    try:
        ws.send("x" * (1 << 20))
        assert ws.recv() == "x" * (1 << 20)  # a large message within the limit passes
        # A frame that says it is larger than the limit is refused before its payload.
        ws.sock.sendall(wsframes.frame_header(websocket.ABNF.OPCODE_TEXT, gevent_websocket.MAX_MESSAGE + 1,
                                              b"abcd") + b"x" * 1024)
        assert _close_code(ws) == gevent_websocket.MESSAGE_TOO_BIG
    finally:
        ws.close()
    ws = websocket.create_connection(url, header=header, timeout=15)
    try:  # and so is a message of many frames, each within it
        piece = b"x" * (1 << 20)
        ws.send_frame(websocket.ABNF.create_frame(piece, websocket.ABNF.OPCODE_BINARY, fin=0))
        for _ in range(gevent_websocket.MAX_MESSAGE >> 20):
            ws.send_frame(websocket.ABNF.create_frame(piece, websocket.ABNF.OPCODE_CONT, fin=0))
        assert _close_code(ws) == gevent_websocket.MESSAGE_TOO_BIG
    finally:
        ws.close()


@pytest.fixture
def flooding_websocket_app():
    """A websocket app that answers "big N" with one message of N bytes (text if asked
    "big-text N"), and records that its connection ended."""
    closes = []

    def answer(conn):
        try:
            for message in conn:
                kind, size = message.split()
                conn.send("x" * int(size) if kind == "big-text" else b"x" * int(size))
        except ConnectionClosed as exc:
            closes.append(exc.rcvd.code if exc.rcvd else None)
        else:
            closes.append(conn.protocol.close_rcvd.code if conn.protocol.close_rcvd else None)

    port = free_port()
    server = websocket_server(answer, "127.0.0.1", port, max_size=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, closes
    server.shutdown()


@pytest.mark.parametrize("kind", ["big", "big-text"])
def test_websocket_messages_from_an_app_are_bounded(deployment, flooding_websocket_app, kind):
    """What an app sends back has the limit of what a browser sends it: a message over it
    closes the browser's websocket with 1009 (and the app's: it is told 1009 too, unless
    the agent's socket is reset under the flood first), and coderd's memory does not grow
    with it."""
    coderd, owner, workspace, _, _, _ = deployment
    port, closes = flooding_websocket_app
    url = coderd.url.replace("http", "ws", 1) + f"/@admin/{workspace}/port/{port}/"
    ws = websocket.create_connection(url, header=[f"Coder-Session-Token: {owner.token}"], timeout=15)
    try:
        ws.send(f"{kind} {gevent_websocket.MAX_MESSAGE}")  # at the limit: passed on
        assert len(ws.recv()) == gevent_websocket.MAX_MESSAGE
        coderd.reset_peak_memory()
        before = coderd.peak_memory()
        ws.send(f"{kind} {8 * gevent_websocket.MAX_MESSAGE}")
        assert _close_code(ws) == gevent_websocket.MESSAGE_TOO_BIG
        grown = coderd.peak_memory() - before
    finally:
        ws.close()
    wait_for(lambda: closes, 10, what="the app's websocket to close")
    assert closes in ([gevent_websocket.MESSAGE_TOO_BIG], [None])
    assert grown < 16 << 20, f"coderd's peak memory grew by {grown >> 20} MiB"


def test_text_messages_cost_coderd_little_time(deployment, websocket_echo_app):
    """gevent-websocket checked text in pure Python (about 0.2 s a MiB, twice), stalling
    every connection of coderd's process for over a second per 4 MiB message; anyone can
    send them to a public app."""
    coderd, owner, workspace, _, _, _ = deployment
    url = coderd.url.replace("http", "ws", 1) + f"/@admin/{workspace}/port/{websocket_echo_app}/"
    ws = websocket.create_connection(url, header=[f"Coder-Session-Token: {owner.token}"], timeout=30)
    text = "é" * (gevent_websocket.MAX_MESSAGE // 2)
    try:
        before = wsfuzz.cpu_seconds(coderd.proc.pid)
        for _ in range(3):
            ws.send(text)
            assert ws.recv() == text
        used = wsfuzz.cpu_seconds(coderd.proc.pid) - before
    finally:
        ws.close()
    assert used < 1.5, f"coderd took {used:.2f} s of CPU for three 4 MiB text messages"
