"""The ``local`` template's start-agent.sh and stop-agent.sh on their own: every sandbox
started survives its start, even on a busy machine, and stop-agent.sh leaves nothing."""
from __future__ import annotations

import os
import subprocess
import time

import psutil

from tests.kit.localtemplate import TEMPLATE
from tests.kit.tools import tool

STARTS = 30


def _busy() -> list[subprocess.Popen]:
    """Four spinning processes per core: the scheduler then delays whichever process it likes."""
    return [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(4 * (os.cpu_count() or 2))]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree(pidfile) -> list[psutil.Process]:
    """start-agent.sh's shell and everything below it."""
    try:
        top = psutil.Process(int(pidfile.read_text()))
        return [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_every_sandbox_outlives_its_start_and_its_stop_leaves_nothing(tmp_path):
    tool("bwrap")
    # Without a user manager the sandbox is started with setsid, whose parent exits at once.
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    homes = [tmp_path / f"ws{i}" for i in range(STARTS)]
    busy = _busy()
    try:
        for home in homes:
            subprocess.run(["sh", str(TEMPLATE / "start-agent.sh")], check=True, timeout=60, env={
                **env, "CODER_AGENT_TOKEN": "not-a-token", "WORKSPACE_HOME": str(home),
                "INIT_SCRIPT": "exec sleep 300", "WORKSPACE_HOSTNAME": home.name,
                "PIDFILE": f"{home}.pid", "TOKENFILE": f"{home}.token", "WORKSPACE_UNIT": home.name})
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    started = []
    try:
        time.sleep(1)
        trees = {home.name: _tree(home.with_suffix(".pid")) for home in homes}
        started = [proc for tree in trees.values() for proc in tree]
        dead = [name for name, tree in trees.items() if "sleep" not in [p.name() for p in tree]]
        assert dead == [], f"{len(dead)} of {STARTS} sandboxes died as they started: {dead}"
    finally:
        for home in homes:
            subprocess.run(["sh", str(TEMPLATE / "stop-agent.sh"), f"{home}.pid", f"{home}.token",
                            home.name, "0"], check=True, timeout=60, env=env)
    deadline = time.monotonic() + 10
    while (left := [p for p in started if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
    assert not any(tmp_path.glob("*.pid")) and not any(tmp_path.glob("*.token"))
