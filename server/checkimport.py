"""``coderd check-import DIR``: prove that a running coderd imports a template.

The installer's last check (docs/install.md): /healthz says coderd answers; this
says its provisioner daemons run terraform with the bundle's provider mirror.
It runs beside coderd, as coderd's user with coderd's settings, and reaches the
database as coderd does (``CODER_PG_CONNECTION_URL``, or the embedded
PostgreSQL that coderd started). On a first install there is no user yet, so
the import is initiated by the system user (migration 000008), acting as the
system actor ``install-check`` through the authorization layer.

It stores DIR and queues a version of no template, as ``coder templates push``
does for a first version, through the API's own code (``files.store_upload``,
``provisioner.imports.queue_import``); the job's notification wakes the
daemons as any job's does. The last check's rows are kept (no one sees them)
and removed by the next check, so repeated installs keep at most one. A check
that times out or is interrupted (Ctrl-C) cancels its job and keeps its rows
the same way; one interrupted before its job is queued has written nothing.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from appliance import archives
from appliance.sdk.types import VariableValue

from . import files
from .authz.querier import AuthzQuerier
from .authz.rbac import system
from .db.pool import Pool
from .db.queries import Queries
from .db.queries.users import SYSTEM_USER_ID
from .provisioner.imports import queue_import

POLL_SECONDS = 0.5
PROGRESS_SECONDS = 10.0
VERSION_NAME = "install-check"


class CheckFailed(Exception):
    """The check did not pass; the message says why, for the installer's output."""

    exit_code = 1


class Interrupted(CheckFailed):
    """Ctrl-C once the job was queued: the job is canceled, as at the timeout."""

    exit_code = 130  # as a shell reports a command that SIGINT ended


def _say(message: str) -> None:
    print(f"coderd check-import: {message}", file=sys.stderr, flush=True)


def template_archive(directory: Path) -> bytes:
    """DIR packed as ``coder templates push`` packs it. Raises CheckFailed."""
    try:
        return archives.template_tar(directory)
    except archives.TemplateFolderError as exc:
        raise CheckFailed(f"{exc}. {exc.hint}" if exc.hint else str(exc)) from None


def check_import(dsn: str, directory: Path, archive: bytes, timeout: float,
                 values: list[VariableValue] = ()) -> float:
    """Import ``archive`` (``template_archive(directory)``) with the terraform variables'
    ``values`` and wait for the job; the seconds it took. Raises CheckFailed."""
    pool = Pool(dsn, size=1)  # a connection set up as coderd's are
    try:
        with pool.connection() as conn:
            return _check(AuthzQuerier(Queries(conn), system("install-check")), directory,
                          archive, timeout, values)
    finally:
        pool.close()


def _check(s: AuthzQuerier, directory: Path, archive: bytes, timeout: float,
           values: list[VariableValue]) -> float:
    """Remove the earlier checks, store and queue this one, wait for it."""
    removed = s.delete_import_checks()
    if removed:
        _say(f"removed {removed} earlier check")
    org = s.get_default_organization()
    if org is None:
        raise CheckFailed("the database has no default organization: has coderd started?")
    # Ctrl-C from here on is a flag the wait reads between queries, not a KeyboardInterrupt
    # raised wherever the program is: in a query it would leave the connection unusable for
    # the cancel, in a finalizer Python would print it and carry on waiting, and between the
    # job's queueing and the wait it would leave the job queued for a daemon to run.
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        with s.transaction():  # the file and the job together: never one without the other
            try:
                stored = files.store_upload(s, archive, files.TAR_MIMETYPE, SYSTEM_USER_ID)
            except files.ArchiveError as exc:
                raise CheckFailed(f"coderd would refuse {directory} as a template: {exc}") from None
            version = queue_import(s, organization_id=org["id"], file_id=stored["id"],
                                   archive=archive, created_by=SYSTEM_USER_ID, name=VERSION_NAME,
                                   message=f"coderd check-import {directory}",
                                   user_variable_values=list(values))
        _say(f"queued the import of {directory} (job {version['job_id']})")
        return _wait(s, version["job_id"], timeout, interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait(s: AuthzQuerier, job_id, timeout: float, interrupted: threading.Event) -> float:
    started = time.monotonic()
    status, told = "", started
    while True:
        if interrupted.is_set():
            s.cancel_provisioner_job(job_id)
            raise Interrupted("interrupted: the import was canceled")
        job = s.get_provisioner_job_by_id(job_id)
        elapsed = time.monotonic() - started
        if job["job_status"] != status or time.monotonic() - told >= PROGRESS_SECONDS:
            status, told = job["job_status"], time.monotonic()
            _say(f"{status} ({elapsed:.0f} s)")
        if job["completed_at"] is not None:
            break
        if elapsed > timeout:
            s.cancel_provisioner_job(job_id)
            if status == "pending":
                raise CheckFailed(f"no provisioner daemon took the job in {timeout:.0f} s: is "
                                  "coderd running, with CODER_PROVISIONER_DAEMONS above 0?")
            raise CheckFailed(f"the import did not finish in {timeout:.0f} s; it was canceled")
        interrupted.wait(POLL_SECONDS)
    if job["job_status"] != "succeeded":
        logs = s.get_provisioner_job_logs_after(job_id)
        for line in logs:
            print(f"  {line['output']}", file=sys.stderr)
        # Said once: terraform's error is in its logs already; coderd's own (a variable
        # without a value) is not.
        said = "\n".join(line["output"] for line in logs)
        error = (job["error"] or "").strip()
        why = (error if error and error.splitlines()[0] not in said
               else "its logs are above" if logs else "no error given")
        raise CheckFailed(f"the import {job['job_status']}: {why}")
    return elapsed
