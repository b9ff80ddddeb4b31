"""The ``local`` example template on this machine: where its workspaces live, what of them
runs, and workspaces of it made for a test or a benchmark (``local_workspaces``)."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import psutil

from appliance.sdk.client import Client

from tests.kit.agent import wait_ready
from tests.kit.cli import CoderCLI
from tests.kit.coderd import create_first_user, start_coderd
from tests.kit.postgres import free_port
from tests.kit.tools import tool

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "examples" / "templates" / "local"
# Not the template's default workspaces_dir: pushed with --variable, so a workspace found
# here proves the value reached terraform's plan and apply.
WORKSPACES_DIR = "/var/lib/coder-appliance/test-workspaces"
WORKSPACES = Path(WORKSPACES_DIR) / "admin"


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (PID 1 here may be slow to reap)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _sandbox(workspace_id: uuid.UUID) -> psutil.Process | None:
    try:
        proc = psutil.Process(int((WORKSPACES / f"{workspace_id}.pid").read_text()))
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None
    return proc if _running(proc) else None


def _processes(workspace_id: uuid.UUID) -> list[psutil.Process]:
    """Everything running for the workspace: the sandbox names its home folder."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(workspace_id) in " ".join(proc.info["cmdline"] or ()) and _running(proc):
            found.append(proc)
    return found


def running(workspace_id: uuid.UUID) -> bool:
    """start-agent.sh's shell alive with bwrap below it."""
    proc = _sandbox(workspace_id)
    try:
        return proc is not None and any("bwrap" in child.cmdline()[0] for child in proc.children())
    except psutil.NoSuchProcess:
        return False


def leftovers(workspace_id: uuid.UUID) -> list[str]:
    paths = [WORKSPACES / f"{workspace_id}{suffix}" for suffix in ("", ".pid", ".token")]
    return [str(p) for p in paths if p.exists()] + [f"process {p.pid}" for p in _processes(workspace_id)]


def remove(workspace_id: uuid.UUID) -> None:
    for proc in _processes(workspace_id):
        proc.kill()


def build_shipped_agent(out: Path) -> Path:
    """``out`` holding coder-agent-linux-amd64, the PyInstaller build (cached by source hash):
    the templates' init scripts download it into the sandbox, where no venv exists."""
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build_agent.py"), "--pyinstaller",
                           "--out", str(out)], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"building the agent failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "coder-agent-linux-amd64").is_file()
    return out


@contextlib.contextmanager
def local_workspaces(cli: CoderCLI, owner: Client, wanted: list[tuple[Client, str]]):
    """The template pushed (as ``local``, its workspaces under ``WORKSPACES_DIR``) by
    ``cli``, logged in as the deployment's ``owner``, and one running workspace (its agent
    ready) for each ``(client, name)``, owned by the client's user; deleted afterwards."""
    cli.run("templates", "push", "local", "-d", str(TEMPLATE), "-y",
            "--variable", f"workspaces_dir={WORKSPACES_DIR}")
    made = []
    try:
        for client, name in wanted:
            path = f"{client.user('me').username}/{name}"
            cli.run("create", path, "-t", "local", "-y")
            made.append((path, client.workspace_by_owner_and_name("me", name).id))
        for client, name in wanted:
            wait_ready(client, name)
        yield
    finally:
        for path, workspace_id in made:
            cli.run("delete", path, "-y", expect=None)
            remove(workspace_id)


@contextlib.contextmanager
def local_template_coderd(dsn: str, provider_mirror: str, agent_binaries: Path):
    """A coderd whose provisioner daemon builds the template (the provider mirror, the
    shipped agent at ``/bin/``), and its first user. Its access URL is on ``localhost``:
    the agent, in its sandbox, resolves names with the machine's own resolver."""
    tool("bwrap")
    port = free_port()
    coderd = start_coderd(dsn, env={
        "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}", "CODER_ACCESS_URL": f"http://localhost:{port}",
        "CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_PROVISIONER_DAEMONS": "1",
        "CODER_AGENT_BINARY_DIR": str(agent_binaries)})
    try:
        owner, _ = create_first_user(coderd)
        yield coderd, owner
    finally:
        coderd.stop()
