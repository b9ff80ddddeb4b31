"""The ``local`` example template: a sandboxed process with a persistent home folder."""
from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from ..coderdtest import create_first_user
from ..provisioning import Rows, template_files

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "local"


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (PID 1 here may be slow to reap)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _alive(pidfile: Path) -> psutil.Process | None:
    try:
        proc = psutil.Process(int(pidfile.read_text()))
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None
    return proc if _running(proc) else None


@pytest.fixture
def rows(provisioning_coderd):
    _, first = create_first_user(provisioning_coderd)
    r = Rows(provisioning_coderd.dsn, first.user_id, first.organization_id)
    yield r
    r.conn.close()


def test_local_template_start_stop_start_delete(rows):
    version_id, job_id = rows.import_version(template_files(TEMPLATE))
    job = rows.wait(job_id)
    assert job["job_status"] == "succeeded", job["error"]
    start = [(r["name"], r["agent"]) for r in rows.resources(job_id) if r["transition"] == "start"]
    assert ("agent", "main") in start and ("home", None) in start

    workspace_id = rows.workspace(rows.template(version_id))
    build_id, job_id = rows.build(workspace_id, version_id, "start")
    job = rows.wait(job_id)
    assert job["job_status"] == "succeeded", job["error"]
    state = json.loads(bytes(rows.q("SELECT provisioner_state FROM workspace_builds WHERE id = %s",
                                    (build_id,))[0]["provisioner_state"]))
    home = Path(next(r for r in state["resources"] if r["name"] == "home")
                ["instances"][0]["attributes"]["triggers"]["path"])
    pidfile = Path(str(home) + ".pid")
    try:
        proc = _alive(pidfile)
        assert proc is not None, "the sandboxed agent process is not running"
        assert "bwrap" in " ".join(proc.cmdline())
        # The init script runs inside: it is fetching the agent from coderd's /bin/.
        deadline = time.monotonic() + 20
        log = home / ".coder-agent.log"
        while "coder-agent" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the init script never ran"
            time.sleep(0.2)
        (home / "notes.txt").write_text("kept")

        _, job_id = rows.build(workspace_id, version_id, "stop")
        assert rows.wait(job_id)["job_status"] == "succeeded"
        assert _alive(pidfile) is None and not _running(proc)
        assert (home / "notes.txt").read_text() == "kept"

        _, job_id = rows.build(workspace_id, version_id, "start")
        assert rows.wait(job_id)["job_status"] == "succeeded"
        assert _alive(pidfile) is not None
        assert (home / "notes.txt").read_text() == "kept"

        _, job_id = rows.build(workspace_id, version_id, "delete")
        assert rows.wait(job_id)["job_status"] == "succeeded"
        assert _alive(pidfile) is None
        assert not home.exists()
    finally:
        leftover = _alive(pidfile)
        if leftover is not None:
            leftover.kill()
