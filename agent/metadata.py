"""Collects the template's ``coder_agent.metadata`` items: each script runs every
``interval`` seconds (once when 0) with its ``timeout``; its output is the value."""
from __future__ import annotations

import datetime as dt
import logging
import subprocess
import threading

from appliance.sdk.agentsdk import AgentClient, MetadataResult
from appliance.sdk.types import WorkspaceAgentMetadataDescription

from . import retry
from .env import user_shell

log = logging.getLogger(__name__)


class Metadata:
    def __init__(self, client: AgentClient, items: list[WorkspaceAgentMetadataDescription],
                 env: dict[str, str], cwd: str, stop: threading.Event):
        self.client = client
        self.items = items
        self.env = env
        self.cwd = cwd
        self.stop = stop

    def start(self) -> None:
        for item in self.items:
            threading.Thread(target=self._loop, args=(item,), name=f"metadata-{item.key}",
                             daemon=True).start()

    def collect(self, item: WorkspaceAgentMetadataDescription) -> MetadataResult:
        value, error = "", ""
        try:
            done = subprocess.run([user_shell(), "-c", item.script], cwd=self.cwd, env=self.env,
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=item.timeout or None)
            value = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
            if done.returncode != 0:
                error = f"exit status {done.returncode}"
        except subprocess.TimeoutExpired:
            error = f"timed out after {item.timeout}s"
        except OSError as exc:
            error = f"could not run: {exc}"
        return MetadataResult(key=item.key, collected_at=dt.datetime.now(dt.timezone.utc),
                              value=value, error=error)

    def _loop(self, item: WorkspaceAgentMetadataDescription) -> None:
        while not self.stop.is_set():
            result = self.collect(item)
            try:
                retry.call(f"reporting metadata {item.key}",
                           lambda: self.client.post_metadata([result]), self.stop)
            except retry.Stopped:
                return
            except Exception as exc:
                log.error("coderd refused metadata %s: %s", item.key, exc)
            if item.interval <= 0 or self.stop.wait(item.interval):
                return
