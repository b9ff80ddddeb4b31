"""A provisioner daemon: register with coderd, then take and run jobs.

Used two ways: ``coderd provisionerd start`` for external daemons (with the
pre-shared key and tags), and the built-in daemons ``coderd server`` starts in
a child process. Either way it talks to coderd over HTTP(S) only. Each of
``count`` worker threads runs one job at a time; acquiring long-polls coderd,
which wakes on the job-posted notification.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from pathlib import Path

from appliance import __version__
from appliance.sdk.client import APIError
from appliance.sdk.provisionerd import ProvisionerDaemonClient, RegisterDaemonRequest

from .runner import JobRunner, RunnerConfig

log = logging.getLogger(__name__)


class Daemon:
    def __init__(self, client: ProvisionerDaemonClient, config: RunnerConfig, *, name: str = "",
                 tags: dict[str, str] | None = None, organization: str = "default",
                 count: int = 1, built_in: bool = False):
        self.client = client
        self.config = config
        self.name = name or socket.gethostname()
        self.tags = tags or {}
        self.organization = organization
        self.count = count
        self.built_in = built_in
        self.stopping = threading.Event()

    def _register(self, index: int) -> uuid.UUID:
        name = self.name if self.count == 1 else f"{self.name}-{index}"
        delay = 0.2
        while not self.stopping.is_set():
            try:
                resp = self.client.register(RegisterDaemonRequest(
                    name=name, organization=self.organization, tags=self.tags,
                    version=__version__, built_in=self.built_in))
                log.info("provisioner daemon %s registered as %s", name, resp.id)
                return resp.id
            except APIError as exc:
                if exc.status in (401, 403, 400, 404):
                    raise
                log.warning("registering %s failed (%s); retrying", name, exc)
            except OSError as exc:
                log.warning("coderd unreachable at %s (%s); retrying", self.client.url, exc)
            time.sleep(delay)
            delay = min(delay * 2, 10)
        raise SystemExit(0)

    def _work(self, index: int) -> None:
        daemon_id = self._register(index)
        delay = 0.2
        while not self.stopping.is_set():
            try:
                job = self.client.acquire(daemon_id)
                delay = 0.2
            except APIError as exc:
                if exc.status == 404:  # coderd forgot us (database reset): register again
                    daemon_id = self._register(index)
                    continue
                log.warning("acquiring a job failed: %s", exc)
                job = None
                self.stopping.wait(delay)
                delay = min(delay * 2, 10)
            except OSError as exc:
                log.warning("coderd unreachable (%s); retrying", exc)
                job = None
                self.stopping.wait(delay)
                delay = min(delay * 2, 10)
            if job is not None:
                log.info("running %s job %s", job.type, job.job_id)
                JobRunner(self.client, daemon_id, job, self.config).run()

    def serve(self) -> None:
        """Run until ``stop()``; a job in progress finishes first."""
        Path(self.config.work_root).mkdir(parents=True, exist_ok=True)
        threads = [threading.Thread(target=self._work, args=(i,), name=f"provisionerd-{i}", daemon=True)
                   for i in range(self.count)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)

    def stop(self) -> None:
        self.stopping.set()
