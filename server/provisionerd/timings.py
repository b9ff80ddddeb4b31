"""Where a job's time went, as Coder's provisioner measures it (``provisioner/terraform/
timings.go``): one span per terraform step (``init``, ``plan``, ``graph``, ``apply``), and
within plan and apply one span per resource action, paired from terraform's ``-json``
hook messages (``apply_start`` with ``apply_complete`` or ``apply_errored``, the same for
``provision_*`` and ``refresh_*``) by category, action, resource and provider. Progress
messages, and a start never ended, give no span. The spans go to coderd with the job's
completion and are stored as ``provisioner_job_timings``.
"""
from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from typing import Iterator

from appliance.sdk.provisionerd import Timing

# terraform -json message type -> (category, whether it starts or ends a span)
_HOOKS = {f"{category}_{kind}": (category, kind != "start")
          for category in ("apply", "provision")
          for kind in ("start", "complete", "errored")}
_HOOKS.update({"refresh_start": ("refresh", False), "refresh_complete": ("refresh", True)})
# Refresh messages carry no action: Coder names it for the category.
_REFRESH_ACTION = "state refresh"
# What Coder calls the span of converting a plan into resources (its ``terraform graph``).
GRAPH = ("terraform", "building terraform dependency graph", "state file")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Timings:
    """Collects one job's spans; ``stage`` brackets a terraform step, ``observe`` reads
    each of its ``-json`` messages."""

    def __init__(self) -> None:
        self.stage_name = ""
        self.started: dict[tuple, dt.datetime] = {}
        self.spans: list[Timing] = []
        self.lock = threading.Lock()  # stdout is read on the runner's thread, stages on another

    @contextmanager
    def stage(self, name: str, span: tuple[str, str, str] | None = None) -> Iterator[None]:
        """Time a step of the job as stage ``name`` (the span Coder calls
        ``coder_stage_<name>`` unless ``span`` names another (source, action, resource));
        a step that fails still gets its span, as Coder records ``stage_error``."""
        self.stage_name = name
        source, action, resource = span or ("coder", "terraform", f"coder_stage_{name}")
        started = now()
        try:
            yield
        finally:
            self._add(started, now(), source, action, resource)

    def observe(self, message: dict) -> None:
        """One ``terraform -json`` message: a hook's start is kept until its end comes."""
        kind = _HOOKS.get(message.get("type", ""))
        hook = message.get("hook")
        if kind is None or not isinstance(hook, dict):
            return
        category, ends = kind
        resource = hook.get("resource") or {}
        source = str(resource.get("implied_provider", ""))
        action = str(hook.get("action") or (_REFRESH_ACTION if category == "refresh" else category))
        key = (category, action, str(resource.get("addr", "")), source)
        at = _timestamp(message.get("@timestamp"))
        with self.lock:
            if not ends:
                self.started[key] = at
                return
            started = self.started.pop(key, None)
        if started is not None:
            self._add(min(started, at), at, source, action, key[2])

    def _add(self, started: dt.datetime, ended: dt.datetime, source: str, action: str,
             resource: str) -> None:
        with self.lock:
            self.spans.append(Timing(started_at=started, ended_at=ended,
                                     stage=self.stage_name, source=source, action=action,
                                     resource=resource))


def _timestamp(text) -> dt.datetime:
    """terraform's ``@timestamp`` (RFC 3339 with microseconds); now when it has none."""
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc)
    except (TypeError, ValueError):
        return now()
