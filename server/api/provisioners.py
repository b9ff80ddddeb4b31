"""The provisioner daemons and jobs of an organization, as ``coder provisioner list``
and ``coder provisioner jobs list`` show them (Coder's
``GET /organizations/{org}/provisionerdaemons`` and ``.../provisionerjobs``). A daemon
has a status (busy while it runs a job, offline once it has missed its heartbeats, idle
otherwise) and its current or previous job, shown where the caller may see what it builds;
the jobs pages are for those who manage the organization's jobs (owners and template
admins; anyone else gets 404), as Coder's are."""
from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app, request

from appliance.sdk import types

from ..httpapi import APIError, not_found, parse_uuid, query_int, write
from ..httpmw import store
from .convert import from_row
from .jobs import job
from .organizations import organization_param
from .router import QueryParam, Router

router = Router("provisioners", "Provisioning")
route = router.route
BUILT_IN_KEY = "built-in"
PSK_KEY = "psk"
# Missed heartbeats before a daemon counts as offline.
OFFLINE_AFTER_HEARTBEATS = 2
JOB_STATUSES = ("pending", "running", "succeeded", "canceling", "canceled", "failed")
JOBS_QUERY = (QueryParam("limit", "At most this many jobs, newest first (default 50)", "integer"),
              QueryParam("status", "Only jobs in these statuses, comma-separated"))


@route("GET", "/organizations/<organization>/provisionerdaemons",
       summary="List an organization's provisioner daemons", response=list[types.ProvisionerDaemon])
def provisioner_daemons(organization: str):
    org = organization_param(organization)
    s = store()
    daemons = s.get_provisioner_daemons(org["id"])
    jobs = {j["worker_id"]: j for j in
            s.get_latest_provisioner_jobs_by_workers([d["id"] for d in daemons])}
    return write(200, [_daemon(d, jobs.get(d["id"])) for d in daemons])


def _daemon(row: dict, last_job: dict | None) -> types.ProvisionerDaemon:
    running = last_job is not None and last_job["completed_at"] is None
    job = last_job and from_row(types.ProvisionerDaemonJob, last_job, status=last_job["job_status"])
    return from_row(
        types.ProvisionerDaemon, row, key_id=uuid.UUID(int=0),
        provisioners=list(row["provisioners"]),
        key_name=BUILT_IN_KEY if row["built_in"] else PSK_KEY,
        status="busy" if running else "offline" if _stale(row) else "idle",
        current_job=job if running else None, previous_job=None if running else job)


def _stale(row: dict) -> bool:
    every = current_app.extensions["coderd"].settings.provisioner_stale_after
    silent = dt.datetime.now(dt.timezone.utc) - row["last_seen_at"]
    return silent.total_seconds() > OFFLINE_AFTER_HEARTBEATS * every


@route("GET", "/organizations/<organization>/provisionerjobs",
       summary="List an organization's provisioner jobs", query=JOBS_QUERY,
       response=list[types.ProvisionerJob])
def provisioner_jobs(organization: str):
    org = organization_param(organization)
    statuses = [x for x in request.args.get("status", "").split(",") if x]
    unknown = [x for x in statuses if x not in JOB_STATUSES]
    if unknown:
        raise APIError(400, "Invalid query parameters.", validations=[types.ValidationError(
            "status", f"{unknown[0]!r} is not one of {', '.join(JOB_STATUSES)}")])
    rows = store().get_provisioner_jobs_by_organization(org["id"], statuses,
                                                        query_int("limit", 50, minimum=1))
    return write(200, [job(r) for r in rows])


@route("GET", "/organizations/<organization>/provisionerjobs/<jobid>",
       summary="Get a provisioner job", response=types.ProvisionerJob)
def provisioner_job(organization: str, jobid: str):
    org = organization_param(organization)
    rows = store().get_provisioner_jobs_by_organization(org["id"], [], 1,
                                                        [parse_uuid(jobid, "job")])
    if not rows:
        raise not_found("Provisioner job")
    return write(200, job(rows[0]))
