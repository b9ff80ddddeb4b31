"""A real coderd, a workspace built by real terraform, and the agent's relay in a subprocess.

The template makes only a ``coder_agent``, a ``coder_app`` and a
``null_resource``: enough for a real agent token. The agent side
(``python -m agent.relay``) runs on this machine with that token, so the real
OpenSSH client, scp, sftp and rsync reach it only through coderd.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from appliance.sdk.client import Client

from tests.kit.coderd import Coderd, create_first_user, start_coderd
from tests.kit.postgres import free_port
from ..server.test_provisioner import Rows

ROOT = Path(__file__).resolve().parents[2]
APP_PORT = free_port()
TEMPLATE = f'''
terraform {{
  required_providers {{
    coder = {{ source = "coder/coder" }}
    null  = {{ source = "hashicorp/null" }}
  }}
}}
data "coder_workspace" "me" {{}}
resource "coder_agent" "main" {{
  os   = "linux"
  arch = "amd64"
  env  = {{ GREETING = "hello from the manifest" }}
}}
resource "coder_app" "web" {{
  agent_id = coder_agent.main.id
  slug     = "web"
  url      = "http://localhost:{APP_PORT}/base"
  share    = "owner"
}}
resource "coder_app" "pub" {{
  agent_id = coder_agent.main.id
  slug     = "pub"
  url      = "http://localhost:{APP_PORT}"
  share    = "public"
}}
resource "null_resource" "box" {{
  count    = data.coder_workspace.me.start_count
  triggers = {{ token = coder_agent.main.token }}
}}
'''


@dataclass
class Workspace:
    coderd: Coderd
    owner: Client
    name: str
    agent_id: uuid.UUID
    token: str
    config_dir: Path


@pytest.fixture(scope="module")
def relay_coderd(pg_server, pg_template, provider_mirror):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    c = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1",
                               "CODER_WILDCARD_ACCESS_URL": "*.apps.test"})
    yield c
    c.stop()


def build_workspace(coderd: Coderd, tmp: Path) -> Workspace:
    owner, first = create_first_user(coderd)
    rows = Rows(coderd.dsn, first.user_id, first.organization_id)
    try:
        version_id, job_id = rows.import_version({"main.tf": TEMPLATE})
        assert rows.wait(job_id)["job_status"] == "succeeded"
        workspace_id = rows.workspace(rows.template(version_id))
        _, job_id = rows.build(workspace_id, version_id, "start")
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
        agent = rows.q("""SELECT a.id, a.auth_token FROM workspace_agents a
                          JOIN workspace_resources r ON r.id = a.resource_id WHERE r.job_id = %s""",
                       (job_id,))[0]
        name = rows.q("SELECT name FROM workspaces WHERE id = %s", (workspace_id,))[0]["name"]
    finally:
        rows.conn.close()
    config = tmp / "coder-config"
    config.mkdir()
    (config / "url").write_text(coderd.url)
    (config / "session").write_text(owner.token)
    return Workspace(coderd, owner, name, agent["id"], str(agent["auth_token"]), config)


@pytest.fixture(scope="module")
def workspace(relay_coderd, tmp_path_factory) -> Workspace:
    return build_workspace(relay_coderd, tmp_path_factory.mktemp("relay"))


class AgentProcess:
    """``python -m agent.relay`` for one agent token."""

    def __init__(self, url: str, token: str, home: Path, extra_env: dict | None = None):
        self.url, self.token, self.home, self.extra_env = url, token, home, extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log = home / "agent.log"

    def start(self) -> "AgentProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
        env.update({"CODER_AGENT_URL": self.url, "CODER_AGENT_TOKEN": self.token,
                    "CODER_AGENT_DATA_DIR": str(self.home / "agent-data"),
                    "CODER_AGENT_TEST_MANIFEST": '{"environment_variables": '
                                                 '{"GREETING": "hello from the manifest"}}',
                    "PYTHONPATH": str(ROOT), **self.extra_env})
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.relay"], env=env, cwd=ROOT,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: int = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def agent_row_status(dsn: str, agent_id) -> str:
    """What the agent's row says once no coderd runs: the shutdown recorded its disconnect."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT disconnected_at >= last_connected_at FROM workspace_agents "
                        "WHERE id = %s", (str(agent_id),))
            return "disconnected" if cur.fetchone()[0] else "connected"
    finally:
        conn.close()


def wait_connected(client: Client, agent_id, timeout: float = 20) -> None:
    """Until a stream reaches the agent (listening-ports answers)."""
    from appliance.sdk.client import APIError
    from appliance.sdk.relay import listening_ports

    deadline = time.monotonic() + timeout
    while True:
        try:
            listening_ports(client, agent_id)
            return
        except APIError as exc:
            if exc.status != 502 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture(scope="module")
def agent(workspace, tmp_path_factory):
    proc = AgentProcess(workspace.coderd.url, workspace.token, tmp_path_factory.mktemp("agent")).start()
    wait_connected(workspace.owner, workspace.agent_id)
    yield proc
    proc.stop()


def coder(workspace: Workspace, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real ``coder`` CLI, as the workspace owner."""
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                           str(workspace.config_dir), *args], cwd=ROOT, capture_output=True,
                          timeout=kwargs.pop("timeout", 60), **kwargs)


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
