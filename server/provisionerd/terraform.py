"""Running real terraform for one job, offline.

Each job gets its own working folder and its own ``TF_CLI_CONFIG_FILE`` whose
``provider_installation`` names only the appliance's mirrors, with
``CHECKPOINT_DISABLE=1``: no run ever contacts a registry, and a provider
missing from the mirror fails ``init`` with terraform's message naming it.
Terraform's ``-json`` output becomes log lines with levels and, for Coder's
timings, spans (``timings``); a cancel sends SIGINT (terraform stops cleanly and
saves state), then SIGKILL if it lingers.
"""
from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .timings import GRAPH, Timings

LogFn = Callable[[str, str, str], None]  # level, stage, output
CANCEL_GRACE_SECONDS = 30
# How long terraform's pipes may stay quiet after it exits before they are left.
DRAIN_SECONDS = 0.5


class TerraformError(Exception):
    """Terraform failed; the message is what terraform said."""


class Canceled(Exception):
    """The job was canceled while terraform ran."""


@dataclass
class MirrorConfig:
    filesystem_mirror: str = ""
    network_mirror_url: str = ""
    plugin_cache_dir: str = ""


def cli_config(mirrors: MirrorConfig) -> str:
    """A CLI configuration that installs providers only from the appliance's mirrors."""
    blocks = []
    if mirrors.filesystem_mirror:
        path = Path(mirrors.filesystem_mirror)
        if (path / "providers").is_dir():  # the root of an ``appliance mirror-sync`` folder
            path = path / "providers"
        blocks.append(f'  filesystem_mirror {{\n    path = {json.dumps(str(path))}\n  }}')
    if mirrors.network_mirror_url:
        blocks.append(f'  network_mirror {{\n    url = {json.dumps(mirrors.network_mirror_url)}\n  }}')
    if not blocks:
        raise TerraformError("no provider mirror is configured: set CODER_PROVIDER_MIRROR_DIR "
                             "or CODER_PROVIDER_NETWORK_MIRROR_URL")
    text = "provider_installation {\n" + "\n".join(blocks) + "\n}\n"
    if mirrors.plugin_cache_dir:
        text += f"plugin_cache_dir = {json.dumps(mirrors.plugin_cache_dir)}\n"
    return text + "disable_checkpoint = true\n"


# Types whose -var value terraform takes as a literal string; any other is an expression.
LITERAL_TYPES = ("", "string", "number", "bool")
_HCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hcl_string(value: str) -> str:
    """``value`` as an HCL string literal: escaped, and with no template sequence left."""
    out = "".join(_HCL_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 else c)
                  for c in value)
    return '"' + out.replace("${", "$${").replace("%{", "%%{") + '"'


def var_file_text(values) -> str:
    """A .tfvars file giving terraform what Coder gives as ``-var NAME=VALUE``: the value as
    a literal for a string, number or bool (or untyped) variable, else as an expression.
    A file (0600, in the job's folder) rather than arguments, which any local user can
    read in ``ps``; its values never reach a log line."""
    return "".join(f"{v.name} = {_hcl_string(v.value) if v.type in LITERAL_TYPES else v.value}\n"
                   for v in values)


class Terraform:
    def __init__(self, binary: str, workdir: Path, env: dict[str, str], log: LogFn,
                 canceled: threading.Event, var_file: Path | None = None,
                 timings: Timings | None = None):
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self.log = log
        self.canceled = canceled
        self.var_file = var_file  # given to every plan
        self.timings = timings or Timings()

    def _run(self, args: list[str], stage: str, *, json_output: bool) -> None:
        """Run terraform, streaming its output as logs; raise with its errors on failure."""
        if self.canceled.is_set():
            raise Canceled()
        proc = subprocess.Popen([self.binary, *args], cwd=self.workdir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        watcher = threading.Thread(target=self._watch_cancel, args=(proc,), daemon=True)
        watcher.start()
        errors: list[str] = []
        stderr_lines: list[str] = []

        def on_stdout(line: str) -> None:
            if not line:
                return
            if json_output:
                message = json_message(line)
                if message is not None:
                    self.timings.observe(message)
                level, output = log_line(message, line)
                if level == "error":
                    errors.append(output)
            else:
                level, output = "info", line
            if output:
                self.log(level, stage, output)

        def on_stderr(line: str) -> None:
            if line.strip() and not set(line.strip()) <= set("│╷╵─ "):
                text = line.strip("│╷╵ ").strip()
                if text:
                    stderr_lines.append(text)
                    self.log("error", stage, text)

        pump_lines(proc, {proc.stdout: on_stdout, proc.stderr: on_stderr})
        proc.wait()
        if self.canceled.is_set():
            raise Canceled()
        if proc.returncode != 0:
            message = "\n".join(errors or stderr_lines) or f"terraform {args[0]} exited {proc.returncode}"
            raise TerraformError(message)

    def _watch_cancel(self, proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            if self.canceled.wait(0.2):
                _signal(proc, signal.SIGINT)
                try:
                    proc.wait(CANCEL_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _signal(proc, signal.SIGKILL)
                return

    def init(self) -> None:
        with self.timings.stage("init"):
            self._run(["init", "-input=false", "-no-color", "-backend=false"],
                      "Initializing terraform", json_output=False)

    def plan(self, stage: str, *, destroy: bool = False, refresh: bool = True) -> dict:
        args = ["plan", "-input=false", "-no-color", "-json", "-out=terraform.tfplan",
                f"-refresh={'true' if refresh else 'false'}"]
        if destroy:
            args.append("-destroy")
        if self.var_file is not None:
            args.append(f"-var-file={self.var_file}")
        with self.timings.stage("plan"):
            self._run(args, stage, json_output=True)
        with self.timings.stage("graph", GRAPH):
            return self.show("terraform.tfplan")

    def apply(self, stage: str) -> None:
        with self.timings.stage("apply"):
            self._run(["apply", "-input=false", "-no-color", "-json", "-auto-approve",
                       "terraform.tfplan"], stage, json_output=True)

    def show(self, path: str = "") -> dict:
        proc = self._capture(["show", "-json", "-no-color"] + ([path] if path else []))
        if proc.returncode != 0:
            raise TerraformError(proc.stderr.strip() or "terraform show failed")
        return json.loads(proc.stdout or "{}")

    def required_providers(self) -> dict[str, list[str]]:
        """Each provider the configuration (its local modules included) and the state need,
        with the version constraints written for it, as terraform itself lists them: before
        ``init``, so that a lock file can be given first. Empty when terraform cannot tell
        (a module it cannot fetch): ``init`` then says why."""
        if self._capture(["get", "-no-color"]).returncode != 0:
            return {}
        proc = self._capture(["providers", "-no-color"])
        return parse_providers(proc.stdout) if proc.returncode == 0 else {}

    def _capture(self, args: list[str]) -> subprocess.CompletedProcess:
        """A quick terraform command whose output is read, not logged."""
        return subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True)


_PROVIDER_LINE = re.compile(r"provider\[([^\]]+)\]\s*(.*)$")


def parse_providers(text: str) -> dict[str, list[str]]:
    """``terraform providers``' tree -> source -> the constraints given for it anywhere."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _PROVIDER_LINE.search(line)
        if match:
            constraints = found.setdefault(match.group(1), [])
            if match.group(2).strip() and match.group(2).strip() not in constraints:
                constraints.append(match.group(2).strip())
    return found


def pump_lines(proc: subprocess.Popen, handlers: dict) -> None:
    """Hand each pipe's lines to its handler until the process has exited and its pipes are quiet.

    Not until EOF: a process a template starts in the background (a local-exec
    that detaches a workspace agent) can inherit the pipes' write ends and keep
    them open for the workspace's whole life, and the build would wait for it.
    """
    selector = selectors.DefaultSelector()
    partial: dict = {}
    for pipe, handler in handlers.items():
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe, selectors.EVENT_READ, handler)
        partial[pipe] = b""
    quiet_since = None
    try:
        while selector.get_map():
            events = selector.select(timeout=0.1)
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                *lines, partial[key.fileobj] = (partial[key.fileobj] + chunk).split(b"\n")
                for line in lines:
                    key.data(line.decode("utf-8", "replace"))
            if proc.poll() is None or events:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= DRAIN_SECONDS:
                break
    finally:
        selector.close()
        for pipe, handler in handlers.items():
            if partial[pipe]:
                handler(partial[pipe].decode("utf-8", "replace"))
            pipe.close()


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "warn": "warn", "error": "error"}


def json_message(line: str) -> dict | None:
    """One line of ``terraform -json`` output as its message; None for a plain line."""
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def log_line(msg: dict | None, line: str) -> tuple[str, str]:
    """A ``terraform -json`` message -> (level, text); a plain line passes as info."""
    if msg is None:
        return "info", line
    level = _LEVELS.get(msg.get("@level", "info"), "info")
    kind = msg.get("type", "")
    if kind == "version":
        return "debug", msg.get("@message", "")
    if kind == "diagnostic":
        diag = msg.get("diagnostic") or {}
        level = "error" if diag.get("severity") == "error" else "warn"
        text = diag.get("summary", "")
        if diag.get("detail"):
            text += ": " + diag["detail"]
        if diag.get("address"):
            text = f"{diag['address']}: {text}"
        return level, text
    return level, msg.get("@message", "")
