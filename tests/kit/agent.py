"""Workspaces with agents, and real agent processes, for the agent tests.

A workspace's build is completed and its agent rows written straight into the
database (what the provisioner would have read from the Terraform state), so
these tests need no terraform; the agent process is the real one
(``python -m agent``), talking to a real coderd.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from appliance.sdk import types
from appliance.sdk.client import Client

from tests.kit import process
from tests.kit.provisioning import complete_job, make_template, sql

REPO = Path(__file__).resolve().parents[2]
# How often the agent tests' coderd asks agents to report (CODER_AGENT_STATS_REFRESH_INTERVAL).
HEARTBEAT = 1.0


@dataclass
class AgentRow:
    id: uuid.UUID
    token: uuid.UUID
    app_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    script_sources: dict[str, uuid.UUID] = field(default_factory=dict)


def add_agent(dsn: str, job_id, *, name: str = "main", directory: str = "", env: dict | None = None,
              apps: list[dict] = (), scripts: list[dict] = (), metadata: list[dict] = (),
              connection_timeout: int = 120, token: uuid.UUID | None = None) -> AgentRow:
    """A resource with one agent (its apps, scripts, metadata) made by build ``job_id``."""
    token = token or uuid.uuid4()
    (resource_id,), = sql(dsn, """INSERT INTO workspace_resources (job_id, transition, type, name)
                                 VALUES (%s, 'start', 'null_resource', 'box') RETURNING id""",
                          (str(job_id),))
    (agent_id,), = sql(dsn, """INSERT INTO workspace_agents (name, resource_id, auth_token,
                              architecture, operating_system, environment_variables, directory,
                              connection_timeout_seconds)
                          VALUES (%s, %s, %s, 'amd64', 'linux', %s, %s, %s) RETURNING id""",
                       (name, resource_id, str(token), json.dumps(env or {}), directory,
                        connection_timeout))
    row = AgentRow(uuid.UUID(str(agent_id)), token)
    for i, app in enumerate(apps):
        (app_id,), = sql(dsn, """INSERT INTO workspace_apps (agent_id, slug, url, healthcheck_url,
                                    healthcheck_interval, healthcheck_threshold, health,
                                    display_order)
                                VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                         (agent_id, app["slug"], app.get("url", ""), app.get("healthcheck_url", ""),
                          app.get("interval", 0), app.get("threshold", 0),
                          "initializing" if app.get("healthcheck_url") else "disabled", i))
        row.app_ids[app["slug"]] = uuid.UUID(str(app_id))
    for s in scripts:
        (source_id,), = sql(dsn, """INSERT INTO workspace_agent_scripts (workspace_agent_id,
                                       display_name, script, run_on_start, run_on_stop,
                                       start_blocks_login, timeout_seconds, cron)
                                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                                   RETURNING log_source_id""",
                            (agent_id, s["display_name"], s["script"], s.get("run_on_start", True),
                             s.get("run_on_stop", False), s.get("start_blocks_login", False),
                             s.get("timeout", 0), s.get("cron", "")))
        row.script_sources[s["display_name"]] = uuid.UUID(str(source_id))
    for i, m in enumerate(metadata):
        sql(dsn, """INSERT INTO workspace_agent_metadata (workspace_agent_id, key, display_name,
                       script, interval_seconds, timeout_seconds, display_order)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (agent_id, m["key"], m.get("display_name", m["key"]), m["script"],
             m.get("interval", 1), m.get("timeout", 5), i))
    return row


def workspace_with_agent(owner: Client, dsn: str, **agent) -> tuple[types.Workspace, AgentRow]:
    """A running workspace (its start build 'succeeded') whose build made one agent."""
    template = make_template(owner, dsn)
    ws = owner.create_workspace(types.CreateWorkspaceRequest(
        name="w" + uuid.uuid4().hex[:10], template_id=template.id))
    complete_job(dsn, ws.latest_build.job.id)
    return ws, add_agent(dsn, ws.latest_build.job.id, **agent)


@dataclass
class AgentProcess:
    proc: subprocess.Popen
    log_dir: str

    def log(self) -> str:
        try:
            return Path(self.log_dir, "coder-agent.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        return process.stop(self.proc, sig, timeout)


def agent_env(url: str, token, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env.update({"CODER_AGENT_URL": url, "CODER_AGENT_TOKEN": str(token),
                "PYTHONPATH": str(REPO), **extra})
    return env


def start_agent(url: str, token, *, log_dir: str | None = None, cmd: list[str] | None = None,
                **extra: str) -> AgentProcess:
    log_dir = log_dir or tempfile.mkdtemp(prefix="agent-test-")
    env = agent_env(url, token, CODER_AGENT_LOG_DIR=log_dir, **extra)
    proc = subprocess.Popen(cmd or [sys.executable, "-m", "agent"], env=env, cwd=log_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return AgentProcess(proc, log_dir)


def wait_for(check, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """``check()``'s first truthy value, polling; fails naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def coder_cli(config_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The real ``coder`` CLI with the session in ``config_dir`` (see ``cli_config``)."""
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                           str(config_dir), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def cli_config(tmp: Path, client: Client) -> Path:
    """A ``coder`` config folder logged in as ``client``."""
    config = tmp / "coder-config"
    config.mkdir()
    (config / "url").write_text(client.url)
    (config / "session").write_text(client.token)
    return config


def bare_repo(path: Path, files: dict[str, str]) -> Path:
    """A bare git repository at ``path`` whose one commit (branch main) holds ``files``;
    a file named like ``install.sh`` is made executable."""
    work = path.with_name(path.name + "-work")
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
        if name.endswith(".sh"):
            (work / name).chmod(0o755)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(path)], check=True)
    return path


def read_until(stream, marker: bytes, timeout: float = 10) -> bytes:
    """What a terminal stream sent up to and with ``marker``."""
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        assert time.monotonic() < deadline, got
        got += stream.recv()
    return got


def remote_sleepers(marker: str) -> str:
    """The workspace processes (local ones, here) whose command line holds ``marker``."""
    return subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout


def the_agent(owner: Client, name: str) -> types.WorkspaceAgent:
    workspace = owner.workspace_by_owner_and_name("me", name)
    agents = [a for r in workspace.latest_build.resources for a in r.agents]
    assert len(agents) == 1, agents
    return agents[0]


def wait_ready(owner: Client, name: str, timeout: float = 90) -> types.WorkspaceAgent:
    """Until the workspace's agent is connected and ``ready``; its state on failure."""
    agent_id = the_agent(owner, name).id
    seen = []

    def ready():
        agent = owner.workspace_agent(agent_id)
        seen[:] = [agent.status, agent.lifecycle_state]
        assert agent.lifecycle_state not in ("start_error", "start_timeout"), seen
        return agent if (agent.status, agent.lifecycle_state) == ("connected", "ready") else None
    try:
        return wait_for(ready, timeout, 0.2, f"the agent of {name} to be connected and ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {seen}") from None
