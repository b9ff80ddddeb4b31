"""What a developer does with a workspace of an example template, end to end.

Through the real ``coder`` CLI against a real coderd: push the template,
create a workspace, wait until its agent (the PyInstaller binary the init
script downloaded) is connected and ``ready``, then reach it only through
coderd: ``coder ssh``, the real OpenSSH ``ssh`` and ``scp`` after ``coder
config-ssh``, ``coder port-forward``, the template's path-based ``files`` app
and the web terminal. Then stop (the compute goes, the agent reports ``off``),
start (the home folder's content is still there) and delete (nothing is left).
The template's own checks (is the compute running, what is left over) come
from each test as a ``Compute``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from appliance.sdk import relay
from appliance.sdk.client import Client

from tests.kit.agent import read_until, the_agent, wait_for, wait_ready
from tests.kit.cli import CoderCLI
from tests.kit.postgres import free_port
from tests.kit.tools import tool

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Compute:
    """A template's compute, seen from the host: ``running(workspace_id)``,
    ``leftovers(workspace_id)`` (whatever a delete should have removed) and
    ``remove(workspace_id)``, to clean up after a failed test."""
    running: Callable[[uuid.UUID], bool]
    leftovers: Callable[[uuid.UUID], list[str]]
    remove: Callable[[uuid.UUID], None]


@dataclass
class Timings:
    marks: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)

    def mark(self, what: str) -> None:
        now = time.monotonic()
        self.marks[what] = now - self.last
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.marks.items())


class Developer:
    """One developer's CLI and SDK client against one workspace."""

    def __init__(self, cli: CoderCLI, owner: Client, name: str, tmp: Path):
        self.cli, self.owner, self.name, self.tmp = cli, owner, name, tmp
        self.ssh_config = tmp / "ssh_config"

    def ssh(self, *args: str, input: bytes = b"") -> subprocess.CompletedProcess:
        """The real OpenSSH client, with the block ``coder config-ssh`` wrote."""
        return subprocess.run([tool("ssh"), "-F", str(self.ssh_config), *args], input=input,
                              capture_output=True, timeout=60, env=self.cli.env, check=False)

    def coder_ssh(self, command: str) -> str:
        proc = self.cli.run("ssh", self.name, "--", command)
        return proc.stdout

    def check_ssh(self, marker: str) -> None:
        assert self.coder_ssh("echo hi") == "hi\n"
        self.coder_ssh(f"echo {marker} > ~/marker")
        self.cli.run("config-ssh", "-y", "--ssh-config-file", str(self.ssh_config))
        r = self.ssh(f"coder.{self.name}", "uname -n; cat ~/marker; pwd; exit 3")
        assert r.returncode == 3, r.stderr
        assert r.stdout.decode().split("\n") == [self.name.lower(), marker, "/home/coder", ""], r.stdout

    def check_scp(self) -> None:
        payload = self.tmp / "payload.bin"
        payload.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
        host = f"coder.{self.name}"
        for src, dst in ((str(payload), f"{host}:payload.bin"), (f"{host}:payload.bin", str(self.tmp / "back"))):
            r = subprocess.run([tool("scp"), "-F", str(self.ssh_config), src, dst], capture_output=True,
                               timeout=60, env=self.cli.env, check=False)
            assert r.returncode == 0, r.stderr
        assert (self.tmp / "back").read_bytes() == payload.read_bytes()

    def check_app(self, coderd_url: str, marker: str) -> int:
        """The ``files`` app serves the home folder at its path; returns its port."""
        agent = the_agent(self.owner, self.name)
        app = next(a for a in agent.apps if a.slug == "files")
        url = f"{coderd_url}/@{self.owner.user('me').username}/{self.name}/apps/files/marker"
        cookies = {"coder_session_token": self.owner.token}
        # The start script put the server in the background: it may still be binding.
        def answered():
            r = requests.get(url, cookies=cookies, timeout=10)
            return r if r.status_code == 200 else None
        assert wait_for(answered, 20, 0.2, f"{url} to answer").text == marker + "\n"
        assert requests.get(url, timeout=10).status_code == 401  # owner-only
        wait_for(lambda: next(a for a in the_agent(self.owner, self.name).apps
                              if a.slug == "files").health == "healthy", 30, 0.5, "the app to be healthy")
        return int(app.url.rstrip("/").rsplit(":", 1)[1])

    def check_port_forward(self, remote: int, marker: str) -> None:
        local = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli.main", "port-forward", self.name, "--tcp", f"{local}:{remote}"],
                                env=self.cli.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert b"Forwarding" in proc.stdout.readline(), proc.stderr.read() if proc.poll() else b""
            for _ in range(2):
                r = requests.get(f"http://127.0.0.1:{local}/marker", timeout=10)
                assert r.status_code == 200 and r.text == marker + "\n"
            with socket.create_connection(("127.0.0.1", local), timeout=10) as s:
                s.sendall(b"GET /payload.bin HTTP/1.0\r\n\r\n")
                got = b"".join(iter(lambda: s.recv(65536), b""))
            assert got.endswith((self.tmp / "payload.bin").read_bytes())
        finally:
            proc.terminate()
            proc.wait(10)

    def check_web_terminal(self, marker: str) -> None:
        agent = the_agent(self.owner, self.name)
        key = uuid.uuid4()
        term = relay.reconnecting_pty(self.owner, agent.id, key, 100, 30)
        term.send_text(json.dumps({"data": "cat ~/marker; echo $((6 * 7)) $HOME; stty size\r"}))
        out = read_until(term, b"30 100")
        assert marker.encode() in out and b"42 /home/coder" in out, out
        term.close()


def exercise_template(cli: CoderCLI, owner: Client, coderd_url: str, template: Path,
                      compute: Compute, tmp: Path, parameters: dict[str, str] | None = None,
                      variables: dict[str, str] | None = None) -> Timings:
    """The whole life of one workspace of ``template`` (pushed with terraform ``variables``);
    returns how long each step took."""
    t = Timings()
    given = [a for k, v in (variables or {}).items() for a in ("--variable", f"{k}={v}")]
    cli.run("templates", "push", template.name, "-d", str(template), "-y", *given)
    t.mark("push")
    name = "ws" + uuid.uuid4().hex[:6]
    params = [a for k, v in (parameters or {}).items() for a in ("--parameter", f"{k}={v}")]
    cli.run("create", name, "-t", template.name, "-y", *params)
    workspace_id = owner.workspace_by_owner_and_name("me", name).id
    dev = Developer(cli, owner, name, tmp)
    try:
        assert compute.running(workspace_id)
        t.mark("create")
        first = wait_ready(owner, name)
        t.mark("ready")
        marker = f"kept-{uuid.uuid4().hex[:8]}"
        dev.check_ssh(marker)
        t.mark("ssh")
        dev.check_scp()
        t.mark("scp")
        port = dev.check_app(coderd_url, marker)
        t.mark("app")
        dev.check_port_forward(port, marker)
        t.mark("port-forward")
        dev.check_web_terminal(marker)
        t.mark("web terminal")

        stop = cli.run("stop", name, "-y")
        assert not compute.running(workspace_id)
        # The agent was told to stop, and said so before it went.
        stopped = owner.workspace_agent(first.id)
        assert stopped.lifecycle_state == "off", (stopped.lifecycle_state, stop.stdout)
        t.mark("stop")
        cli.run("start", name, "-y")
        assert compute.running(workspace_id)
        wait_ready(owner, name)
        t.mark("start")
        assert dev.coder_ssh("cat ~/marker") == marker + "\n"

        cli.run("delete", name, "-y")
        assert compute.leftovers(workspace_id) == []
        t.mark("delete")
    finally:
        if compute.leftovers(workspace_id):
            cli.run("delete", name, "-y", expect=None)
            compute.remove(workspace_id)
    print(f"{template.name}: {t}")
    return t
