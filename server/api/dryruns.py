"""Dry runs of a template version: a plan of the workspace a user would get, with the
parameter values given, which Coder's ``coder create`` and dashboard show before building.

A dry run is a provisioner job of its own (``template_version_dry_run``) on the version's
archive, guarded as a workspace of the user who started it: only they (and whoever may
read their workspaces) see its logs and resources. The daemon runs ``terraform plan``
only, with the version's variables, and stores the planned resources.
"""
from __future__ import annotations

import uuid

from flask import g

from appliance.sdk import types

from ..httpapi import APIError, read, write
from ..httpmw import store
from . import jobs
from .convert import from_row
from .router import Router
from .templates import version_param

router = Router("dryruns", "Templates")
route = router.route
DRY_RUN = "template_version_dry_run"
PATH = "/templateversions/<templateversion>/dry-run/<jobID>"
STALE_SECONDS = 90  # Coder's provisionerdserver.StaleInterval: a daemon unseen longer is not available


@route("POST", "/templateversions/<templateversion>/dry-run",
       summary="Plan a workspace of this version with the given parameter values",
       request=types.CreateTemplateVersionDryRunRequest, response=types.ProvisionerJob, status=201)
def create_dry_run(templateversion: str):
    version = version_param(templateversion)
    req = read(types.CreateTemplateVersionDryRunRequest)
    s = store()
    imported = s.get_provisioner_job_by_id(version["job_id"])
    if imported["completed_at"] is None:
        raise APIError(400, "Template version import job hasn't completed!")
    job_input = {"template_version_id": str(version["id"]), "workspace_name": req.workspace_name,
                 "rich_parameter_values": [{"name": p.name, "value": p.value}
                                           for p in req.rich_parameter_values or []]}
    with s.transaction():
        row = s.insert_provisioner_job(
            organization_id=version["organization_id"], initiator_id=g.subject.id, type=DRY_RUN,
            input=job_input, file_id=imported["file_id"], tags=imported["tags"])
    return write(201, jobs.job(row))


def dry_run_job(templateversion: str, jobID: str) -> dict:
    """The dry run ``jobID`` of this version, as Coder's fetchTemplateVersionDryRunJob finds
    it: a job ID that is no UUID is a 400, another kind of job or another version's dry
    run a 403; one of another user's workspaces the caller may not read, not found."""
    version = version_param(templateversion)
    try:
        job_id = uuid.UUID(jobID)
    except ValueError:
        raise APIError(400, f'Job ID "{jobID}" must be a valid UUID.') from None
    row = store().get_provisioner_job_by_id(job_id)
    if row is None:
        raise APIError(404, f'Provisioner job "{job_id}" not found.')
    if row["type"] != DRY_RUN or row["input"].get("template_version_id") != str(version["id"]):
        raise APIError(403, "Forbidden.", "This job is not a dry run of this template version.")
    return row


@route("GET", PATH, summary="Get a template version's dry run", response=types.ProvisionerJob)
def get_dry_run(templateversion: str, jobID: str):
    return write(200, jobs.job(dry_run_job(templateversion, jobID)))


@route("GET", PATH + "/resources", summary="The resources a dry run planned",
       response=list[types.WorkspaceResource])
def dry_run_resources(templateversion: str, jobID: str):
    row = dry_run_job(templateversion, jobID)
    if row["completed_at"] is None:  # as Coder's provisionerJobResources
        raise APIError(400, "Job hasn't completed!")
    return write(200, jobs.resources([row["id"]])[row["id"]])


jobs.log_routes(route, PATH + "/logs", "a dry run's",
                lambda templateversion, jobID: dry_run_job(templateversion, jobID)["id"],
                name="dry_run")


@route("PATCH", PATH + "/cancel", summary="Cancel a dry run", response=types.Response)
def cancel_dry_run(templateversion: str, jobID: str):
    row = dry_run_job(templateversion, jobID)
    return jobs.cancel(row["id"], jobs.DRY_RUN_CANCEL_MESSAGES)


@route("GET", PATH + "/matched-provisioners",
       summary="How many provisioner daemons could run this dry run",
       response=types.MatchedProvisioners)
def dry_run_matched_provisioners(templateversion: str, jobID: str):
    row = dry_run_job(templateversion, jobID)
    found = store().get_matched_provisioners(row["organization_id"], row["tags"],
                                             STALE_SECONDS)
    return write(200, from_row(types.MatchedProvisioners, found))
