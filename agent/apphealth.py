"""Checks the template's app health checks and reports changes, as Coder's agent.

Each app with a ``healthcheck`` (url, interval, threshold) is probed every
``interval`` seconds: any answer below 500 is healthy; ``threshold`` failures
in a row make it unhealthy. Only changes are sent. Probes ignore proxy
variables: the URL is inside the workspace.
"""
from __future__ import annotations

import logging
import threading
import uuid

import requests

from appliance.sdk.agentsdk import AgentClient
from appliance.sdk.types import WorkspaceApp

from . import retry

log = logging.getLogger(__name__)


class AppHealth:
    def __init__(self, client: AgentClient, apps: list[WorkspaceApp], stop: threading.Event):
        self.client = client
        self.stop = stop
        self.apps = [a for a in apps if a.healthcheck.url and a.healthcheck.interval > 0
                     and a.healthcheck.threshold > 0]
        self.lock = threading.Lock()
        self.health: dict[uuid.UUID, str] = {a.id: "initializing" for a in self.apps}
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self) -> None:
        for app in self.apps:
            threading.Thread(target=self._probe_loop, args=(app,), name=f"health-{app.slug}",
                             daemon=True).start()

    def _probe(self, url: str, timeout: float) -> bool:
        try:
            return self.http.get(url, timeout=timeout, allow_redirects=False).status_code < 500
        except requests.RequestException:
            return False

    def _probe_loop(self, app: WorkspaceApp) -> None:
        check = app.healthcheck
        failures = 0
        while not self.stop.wait(check.interval):
            if self._probe(check.url, min(float(check.interval), 10.0)):
                failures = 0
                new = "healthy"
            else:
                failures += 1
                new = "unhealthy" if failures >= check.threshold else None
            if new is not None:
                self._set(app, new)

    def _set(self, app: WorkspaceApp, health: str) -> None:
        with self.lock:  # one report at a time, so coderd sees changes in order
            if self.health[app.id] == health:
                return
            try:
                retry.call(f"reporting {app.slug} {health}",
                           lambda: self.client.post_app_health({app.id: health}), self.stop)
            except retry.Stopped:
                return
            except Exception as exc:
                log.error("coderd refused the health of app %s: %s", app.slug, exc)
                return
            log.info("app %s is %s", app.slug, health)
            self.health[app.id] = health
