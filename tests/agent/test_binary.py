"""The agent as init scripts get it: served at /bin/, downloaded with curl by the
provisioner's init script, built by PyInstaller, importing nothing from server/."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from server.provisioner.agentscript import agent_scripts

from tests.kit.agent import REPO, agent_env, start_agent, wait_for, workspace_with_agent

BUILD = [sys.executable, str(REPO / "packaging" / "build_agent.py")]


def _bin_dir(coderd) -> Path:
    return Path(coderd.env["CODER_AGENT_BINARY_DIR"])


def test_init_script_downloads_the_agent_from_coderd_with_curl(agent_coderd, agent_owner,
                                                                tmp_path):
    assert shutil.which("curl"), "curl is needed (apt-get install curl)"
    subprocess.run([*BUILD, "--wrapper", "--out", str(_bin_dir(agent_coderd))], check=True,
                   capture_output=True)
    _, row = workspace_with_agent(agent_owner, agent_coderd.dsn,
                                  scripts=[{"display_name": "s", "script": "echo booted"}])
    script = (agent_scripts()["linux_amd64"].replace("${ACCESS_URL}", agent_coderd.url + "/")
              .replace("${AUTH_TYPE}", "token"))
    download = tmp_path / "download"
    download.mkdir()
    env = agent_env("", row.token, CODER_AGENT_BINARY_DIR=str(download),
                    CODER_AGENT_LOG_DIR=str(tmp_path))
    del env["CODER_AGENT_URL"]  # the init script sets it from ACCESS_URL
    proc = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: agent_owner.workspace_agent(row.id).lifecycle_state == "ready", 30,
                 what="ready from the init script")
        assert (download / "coder-agent").read_bytes() == \
            (_bin_dir(agent_coderd) / "coder-agent-linux-amd64").read_bytes()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_a_missing_platform_is_a_404_naming_it(agent_coderd):
    resp = requests.get(f"{agent_coderd.url}/bin/coder-agent-darwin-arm64", timeout=10)
    assert resp.status_code == 404
    assert "darwin/arm64" in resp.json()["message"]
    assert "CODER_AGENT_BINARY_DIR" in resp.json()["detail"]
    assert requests.get(f"{agent_coderd.url}/bin/..%2Fcoderd.log", timeout=10).status_code == 404


def test_the_agent_imports_nothing_from_server():
    """Every agent module imports with server/ made unimportable."""
    code = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "server" or name.startswith("server."):
            raise ImportError("agent imported " + name)
sys.meta_path.insert(0, Block())
import agent
for m in pkgutil.walk_packages(agent.__path__, "agent."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
assert not [n for n in sys.modules if n == "server" or n.startswith("server.")]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.slow
def test_pyinstaller_agent_served_by_coderd_reaches_ready(agent_coderd, agent_owner, tmp_path):
    done = subprocess.run([*BUILD, "--pyinstaller", "--out", str(_bin_dir(agent_coderd))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    binary = tmp_path / "coder-agent"
    binary.write_bytes(requests.get(f"{agent_coderd.url}/bin/coder-agent-linux-amd64",
                                    timeout=30).content)
    binary.chmod(0o755)
    _, row = workspace_with_agent(agent_owner, agent_coderd.dsn,
                                  scripts=[{"display_name": "s", "script": "echo pyinstaller"}])
    started = time.monotonic()
    agent = start_agent(agent_coderd.url, row.token, cmd=[str(binary), "agent"])
    try:
        wait_for(lambda: agent_owner.workspace_agent(row.id).lifecycle_state == "ready", 60,
                 interval=0.05, what=f"ready; log:\n{agent.log()}")
        print(f"pyinstaller agent: ready {time.monotonic() - started:.2f}s after exec")
    finally:
        assert agent.stop() == 0
