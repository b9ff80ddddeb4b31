"""What ``coder templates push`` and the workspace commands share: following a
provisioner job's logs live and turning its end into an exit status."""
from __future__ import annotations

import sys
from typing import TextIO

from appliance.sdk import types
from appliance.sdk.client import Client

from ..base import CommandError


def follow(client: Client, path: str, get_job, what: str, out: TextIO | None = None,
           silent: bool = False) -> types.ProvisionerJob:
    """Print a job's logs as they come (``path``: ``templateversions/ID``,
    ``templateversions/ID/dry-run/JOB`` or ``workspacebuilds/ID``) until it ends;
    CommandError if it did not succeed. ``out``: stdout unless given (``coder ssh
    --stdio`` keeps its stdout for the SSH stream); ``silent``: the logs only if it
    failed, as Coder's CLI shows a dry run's."""
    out = out or sys.stdout
    lines: list[str] = []
    emit = lines.append if silent else (lambda line: print(line, file=out, flush=True))
    stage = ""
    for log in client.follow_job_logs(path):
        if log.stage and log.stage != stage:
            stage = log.stage
            emit(f"==> {stage}")
        prefix = f"{log.log_level.upper()}: " if log.log_level in ("warn", "error") else ""
        emit(f"    {prefix}{log.output}")
    job = get_job()
    if job.status != "succeeded":
        for line in lines:
            print(line, file=out, flush=True)
        reason = job.error or f"the job is {job.status}"
        raise CommandError(f"{what} {job.status}: {reason}",
                           hint="The log above shows what terraform said.")
    return job


def parse_assignments(pairs: list[str] | None,
                      refusal: str = "format key=value expected, but got {}") -> dict[str, str]:
    """``name=value`` flags (``--parameter``, ``--variable``, ``--provisioner-tag``) into a
    dict, a later one winning; one without ``=`` is refused with Coder's words for it."""
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(refusal.format(pair), code=2)
        out[name] = value
    return out


def warn(text: str) -> None:
    print(text, file=sys.stderr)
