"""The ``local`` example template: a bubblewrap-sandboxed agent with a persistent home folder."""
from __future__ import annotations

import uuid
from pathlib import Path

import psutil

from ..tools import tool
from .workspacetest import Compute, exercise_template

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "local"
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
    proc = _sandbox(workspace_id)
    return proc is not None and "bwrap" in proc.cmdline()[0]


def leftovers(workspace_id: uuid.UUID) -> list[str]:
    paths = [WORKSPACES / f"{workspace_id}{suffix}" for suffix in ("", ".pid", ".token")]
    return [str(p) for p in paths if p.exists()] + [f"process {p.pid}" for p in _processes(workspace_id)]


def remove(workspace_id: uuid.UUID) -> None:
    for proc in _processes(workspace_id):
        proc.kill()


def test_local_template_end_to_end(owner_cli, templates_coderd, tmp_path):
    tool("bwrap")
    cli, owner = owner_cli
    exercise_template(cli, owner, templates_coderd.url, TEMPLATE, Compute(running, leftovers, remove),
                      tmp_path, variables={"workspaces_dir": WORKSPACES_DIR})
