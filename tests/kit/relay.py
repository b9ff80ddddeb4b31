"""A workspace built by real terraform, and the agent's relay (``python -m agent.relay``) in
a subprocess.

The template makes only a ``coder_agent``, two ``coder_app``s and a ``null_resource``:
enough for a real agent token. The agent side runs on this machine with that token, so the
real OpenSSH client, scp, sftp and rsync reach it only through coderd.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from appliance.sdk.client import Client

from tests.kit import process
from tests.kit.agent import cli_config, remote_sleepers
from tests.kit.coderd import Coderd, create_first_user
from tests.kit.postgres import free_port
from tests.kit.provisioning import Rows


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
    return Workspace(coderd, owner, name, agent["id"], str(agent["auth_token"]), cli_config(tmp, owner))


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
        process.stop(self.proc, sig, timeout=10)


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


def coder(workspace: Workspace, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real ``coder`` CLI, as the workspace owner."""
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                           str(workspace.config_dir), *args], cwd=ROOT, capture_output=True,
                          timeout=kwargs.pop("timeout", 60), **kwargs)


def ssh_running(ws: Workspace, command: str) -> subprocess.Popen:
    """``coder ssh`` into the workspace, running ``command`` there (seen running)."""
    session = subprocess.Popen([sys.executable, "-m", "appliance.cli.main", "--global-config",
                                str(ws.config_dir), "ssh", ws.name, "--", f"echo up; {command}"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert session.stdout.readline() == b"up\n"
    assert remote_sleepers(command)
    return session
