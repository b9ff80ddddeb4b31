"""Sends script output to coderd as agent logs, per log source, in batches.

Lines are queued without blocking the scripts; one thread sends them in order,
retrying while coderd is away. Past coderd's limit (413) the rest is dropped,
once, with a warning. ``flush`` waits (bounded) for the queue to drain, so the
last lines of a shutdown script still arrive.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import uuid

from appliance.sdk.agentsdk import AgentClient, Log, PatchLogs
from appliance.sdk.client import APIError

from . import retry

log = logging.getLogger(__name__)
BATCH_LINES = 200
BATCH_BYTES = 256 * 1024
MAX_LINE = 64 * 1024
# Lines waiting beyond this (coderd away for long) are dropped, oldest first.
MAX_QUEUED = 50_000


class LogSender:
    def __init__(self, client: AgentClient):
        self.client = client
        self.queue: collections.deque[tuple[uuid.UUID, Log]] = collections.deque(maxlen=MAX_QUEUED)
        self.cond = threading.Condition()
        self.sending = False
        self.overflowed = False
        self.thread = threading.Thread(target=self._run, name="log-sender", daemon=True)
        self.thread.start()

    def enqueue(self, source_id: uuid.UUID, output: str, level: str = "info") -> None:
        if self.overflowed:
            return
        entry = Log(created_at=dt.datetime.now(dt.timezone.utc), output=output[:MAX_LINE],
                    level=level)
        with self.cond:
            self.queue.append((source_id, entry))
            self.cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued has been sent; False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.queue and not self.sending, timeout)

    def _batch(self) -> tuple[uuid.UUID, list[Log]]:
        """The oldest lines that share a source, within the batch limits (lock held)."""
        source_id = self.queue[0][0]
        lines: list[Log] = []
        size = 0
        while self.queue and self.queue[0][0] == source_id and len(lines) < BATCH_LINES \
                and size < BATCH_BYTES:
            line = self.queue.popleft()[1]
            lines.append(line)
            size += len(line.output)
        return source_id, lines

    def _run(self) -> None:
        # Sending goes on after stop is set (until the process exits) so that
        # shutdown scripts' lines get out; retries use a private event for that.
        never = threading.Event()
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.queue)
                source_id, lines = self._batch()
                self.sending = True
            try:
                retry.call("sending agent logs",
                           lambda: self.client.patch_logs(PatchLogs(log_source_id=source_id,
                                                                    logs=lines)), never)
            except APIError as exc:
                if exc.status == 413:
                    log.warning("coderd refuses more logs from this agent (%s); dropping "
                                "script output from now on", exc.message)
                    self.overflowed = True
                    with self.cond:
                        self.queue.clear()
                else:
                    log.error("coderd refused %d log lines: %s", len(lines), exc)
            finally:
                with self.cond:
                    self.sending = False
                    self.cond.notify_all()
