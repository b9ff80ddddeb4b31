"""The API provisioner daemons call: register, acquire, update, complete, fail.

Daemons authenticate with the pre-shared key (``CODER_PROVISIONER_DAEMON_PSK``,
compared in constant time) or, for the built-in daemons coderd starts, with a
key made fresh at each start. Without a configured PSK external daemons are
refused. Acquire long-polls: it waits for the job-posted notification, with a
short backup poll in case a notification was missed.
"""
from __future__ import annotations

import hmac
import os
import time
import uuid

from flask import current_app, request

from appliance.sdk import provisionerd as pd
from appliance.sdk import types

from ..authz.querier import AuthzQuerier
from ..db.queries.provisioner import JOB_POSTED
from ..httpapi import APIError, client_disconnected, parse_uuid, read, write
from ..httpmw import release_connection, system_store, vouch
from ..provisioner import jobs
from .router import Router

router = Router("provisionerd", "Provisioner daemons")
route = router.route
BUILTIN_PSK_ENV = "CODERD_BUILTIN_PROVISIONER_PSK"
ACQUIRE_WAIT_SECONDS = 10.0
BACKUP_POLL_SECONDS = 2.0


def _authenticate() -> AuthzQuerier:
    _check_key()
    return system_store("provisionerd")


def _check_key() -> None:
    """The daemon's pre-shared key, checked without the database."""
    given = request.headers.get(pd.PSK_HEADER, "")
    settings = current_app.extensions["coderd"].settings
    keys = [k for k in (settings.provisioner_daemon_psk, os.environ.get(BUILTIN_PSK_ENV, "")) if k]
    if not given or not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        if not settings.provisioner_daemon_psk:
            raise APIError(401, "External provisioner daemons are not enabled.",
                           "Set CODER_PROVISIONER_DAEMON_PSK on coderd and give the daemon the same key.")
        raise APIError(401, "The provisioner daemon's pre-shared key is wrong.")
    vouch("provisioner daemon key")


def _daemon(s: AuthzQuerier, daemon: str) -> dict:
    row = s.get_provisioner_daemon_by_id(parse_uuid(daemon, "daemon"))
    if row is None:
        raise APIError(404, "Provisioner daemon not registered.", "Register again.")
    return row


def _held_job(daemon: str, job: str, request_type: type):
    """Authenticate, then the request body and the job this daemon holds: (store, daemon, job, body).
    The body is read before a database connection is taken."""
    _check_key()
    req = read(request_type)
    s = system_store("provisionerd")
    d = _daemon(s, daemon)
    return s, d, _job(s, d, job), req


def _job(s: AuthzQuerier, daemon_row: dict, job: str) -> dict:
    row = s.get_provisioner_job_by_id(parse_uuid(job, "job"))
    if row is None or row["worker_id"] != daemon_row["id"]:
        raise APIError(404, "This daemon does not hold that job.")
    if row["completed_at"] is not None:
        raise APIError(409, "The job is already complete.", row["error"] or "")
    return row


@route("POST", "/provisionerd/register", summary="Register a provisioner daemon", auth=False,
       request=pd.RegisterDaemonRequest, response=pd.RegisterDaemonResponse)
def register():
    _check_key()
    req = read(pd.RegisterDaemonRequest)
    s = system_store("provisionerd")
    if req.organization == "default":
        org = s.get_default_organization()
    else:
        try:
            org = s.get_organization_by_id(uuid.UUID(req.organization))
        except ValueError:
            org = s.get_organization_by_name(req.organization)
    if org is None:
        raise APIError(400, f"Organization {req.organization!r} not found.",
                       validations=[types.ValidationError("organization", "not found")])
    row = s.upsert_provisioner_daemon(daemon_id=None, name=req.name, organization_id=org["id"],
                                      provisioners=req.provisioners, tags=req.tags,
                                      version=req.version, built_in=req.built_in)
    return write(200, pd.RegisterDaemonResponse(id=row["id"], organization_id=org["id"]))


@route("POST", "/provisionerd/<daemon>/acquire", summary="Wait for and take the next job",
       auth=False, response=pd.AcquiredJob)
def acquire(daemon: str):
    s = _authenticate()
    d = _daemon(s, daemon)
    s.update_provisioner_daemon_seen(d["id"])
    coderd = current_app.extensions["coderd"]
    deadline = time.monotonic() + ACQUIRE_WAIT_SECONDS
    while True:
        if coderd.stopping.is_set():  # a job taken now would be cut off: another coderd's
            return current_app.response_class(status=204)
        job = s.acquire_provisioner_job(daemon_id=d["id"], organization_id=d["organization_id"],
                                        provisioners=d["provisioners"], tags=d["tags"])
        if job is not None:
            try:
                payload = jobs.acquired_job(s, job, coderd.settings.effective_access_url,
                                            int(coderd.settings.session_duration))
            except jobs.JobGone as exc:
                s.complete_provisioner_job(job["id"], error=str(exc), error_code="gone")
                continue
            return write(200, payload)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return current_app.response_class(status=204)
        # A long poll must not hold a database connection while it waits.
        release_connection()
        coderd.wait_for(JOB_POSTED, min(remaining, BACKUP_POLL_SECONDS))
        if client_disconnected():
            return current_app.response_class(status=204)
        s = system_store("provisionerd")


@route("GET", "/provisionerd/<daemon>/jobs/<job>/archive", summary="Download a held job's template archive",
       auth=False, response=dict, content_type="application/x-tar")
def download_archive(daemon: str, job: str):
    s = _authenticate()
    row = _job(s, _daemon(s, daemon), job)
    archive = s.get_job_archive(row["id"])
    return current_app.response_class(archive["data"], mimetype=archive["mimetype"])


@route("POST", "/provisionerd/<daemon>/jobs/<job>/update",
       summary="Append logs and prove the job is alive; answers whether it was canceled",
       auth=False, request=pd.UpdateJobRequest, response=pd.UpdateJobResponse)
def update_job(daemon: str, job: str):
    s, d, row, req = _held_job(daemon, job, pd.UpdateJobRequest)
    s.update_provisioner_job_heartbeat(row["id"], d["id"])
    s.insert_provisioner_job_logs(row["id"], [vars(log) for log in req.logs])
    return write(200, pd.UpdateJobResponse(canceled=row["canceled_at"] is not None))


@route("POST", "/provisionerd/<daemon>/jobs/<job>/variables",
       summary="Store the terraform variables an import read; answers what its plans are given",
       auth=False, request=pd.TemplateVariablesRequest, response=pd.TemplateVariablesResponse)
def template_variables(daemon: str, job: str):
    s, _, row, req = _held_job(daemon, job, pd.TemplateVariablesRequest)
    if row["type"] != "template_version_import":
        raise APIError(400, "Only a template import reads the template's variables.")
    values, missing = jobs.store_template_variables(s, row, req.variables)
    if missing:  # Coder's UpdateJob answers this, and the import fails with it
        raise APIError(400, f"required template variables need values: {', '.join(missing)}")
    return write(200, pd.TemplateVariablesResponse(variable_values=values))


@route("POST", "/provisionerd/<daemon>/jobs/<job>/complete", summary="Report a job succeeded",
       auth=False, request=pd.CompleteJobRequest, status=204)
def complete_job(daemon: str, job: str):
    s, _, row, req = _held_job(daemon, job, pd.CompleteJobRequest)
    if row["canceled_at"] is not None:
        jobs.store_failure(s, row, "The job was canceled.", "canceled", req.state)
    else:
        jobs.store_result(s, row, req)
    return current_app.response_class(status=204)


@route("POST", "/provisionerd/<daemon>/jobs/<job>/fail", summary="Report a job failed",
       auth=False, request=pd.FailJobRequest, status=204)
def fail_job(daemon: str, job: str):
    s, _, row, req = _held_job(daemon, job, pd.FailJobRequest)
    jobs.store_failure(s, row, req.error, req.error_code, req.state)
    return current_app.response_class(status=204)
