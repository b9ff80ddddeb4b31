"""Reports lifecycle states to coderd in the order they happened, retrying each
until coderd has it, so a state reached while coderd was away still arrives."""
from __future__ import annotations

import datetime as dt
import logging
import queue
import threading

from appliance.sdk.agentsdk import AgentClient

from . import retry

log = logging.getLogger(__name__)


class LifecycleReporter:
    def __init__(self, client: AgentClient):
        self.client = client
        self.pending: queue.Queue[tuple[str, dt.datetime]] = queue.Queue()
        self.state = "created"
        # Reports outlive stop (shutting_down and off are sent while stopping).
        self._never = threading.Event()
        threading.Thread(target=self._run, name="lifecycle", daemon=True).start()

    def set(self, state: str) -> None:
        log.info("lifecycle: %s -> %s", self.state, state)
        self.state = state
        self.pending.put((state, dt.datetime.now(dt.timezone.utc)))

    def flush(self, timeout: float) -> bool:
        """Wait until every state set so far has been reported; False on timeout."""
        done = threading.Event()
        threading.Thread(target=lambda: (self.pending.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            state, changed_at = self.pending.get()
            try:
                retry.call(f"reporting lifecycle {state}",
                           lambda: self.client.post_lifecycle(state, changed_at), self._never)
            except Exception as exc:
                log.error("coderd refused lifecycle state %s: %s", state, exc)
            finally:
                self.pending.task_done()
