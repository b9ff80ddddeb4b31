"""Fixtures of the relay tests: a real coderd, a workspace built by real terraform, and the
agent's relay in a subprocess (the helpers are tests/kit/relay.py)."""
from __future__ import annotations

import socket
import threading

import pytest

from tests.kit.coderd import start_coderd
from tests.kit.postgres import free_port
from tests.kit.relay import AgentProcess, Workspace, build_workspace, wait_connected


@pytest.fixture(scope="module")
def relay_coderd(pg_server, pg_template, provider_mirror):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    c = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1",
                               "CODER_WILDCARD_ACCESS_URL": "*.apps.test"})
    yield c
    c.stop()


@pytest.fixture(scope="module")
def workspace(relay_coderd, tmp_path_factory) -> Workspace:
    return build_workspace(relay_coderd, tmp_path_factory.mktemp("relay"))


@pytest.fixture(scope="module")
def agent(workspace, tmp_path_factory):
    proc = AgentProcess(workspace.coderd.url, workspace.token, tmp_path_factory.mktemp("agent")).start()
    wait_connected(workspace.owner, workspace.agent_id)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def echo_server():
    """A TCP echo server \"inside the workspace\" (on this machine): its port."""
    server = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn:  # closed at the client's end of input, as an echo service does
            for data in iter(lambda: conn.recv(65536), b""):
                conn.sendall(data)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed at teardown
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def websocket_echo_app():
    """A websocket app \"inside the workspace\" that echoes every message, however large
    (the limits are coderd's): its port."""
    from websockets.sync.server import serve

    def echo(conn):
        for message in conn:
            conn.send(message)

    server = serve(echo, "127.0.0.1", free_port(), max_size=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.socket.getsockname()[1]
    server.shutdown()
