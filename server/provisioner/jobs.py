"""Turning a queued job into what a daemon runs, and a daemon's result into rows.

A job's payload is built when it is acquired, so it carries the newest
state: the previous build's terraform state, this build's parameters, and a
session token for the workspace owner (Coder's
``CODER_WORKSPACE_OWNER_SESSION_TOKEN``). As in Coder, a workspace has one
such key: a start build replaces it, a stop or delete build deletes it, so
builds do not pile up full-scope keys that the template's terraform can read.
Results are written in one
transaction with the job's completion: a job is either done with everything
it produced stored, or not done.
"""
from __future__ import annotations

import base64
import uuid

from appliance.sdk import model
from appliance.sdk.provisionerd import (AcquiredJob, CompleteJobRequest, JobMetadata, TemplateVariable,
                                        VariableValue)
from appliance.sdk.types import WorkspaceBuildParameter

from ..apikeys import issue_key
from ..authz.querier import AuthzQuerier
from .agentscript import agent_scripts


class JobGone(Exception):
    """The job's template version or build no longer exists."""


def acquired_job(s: AuthzQuerier, job: dict, access_url: str, session_lifetime: int) -> AcquiredJob:
    coder_url = access_url.rstrip("/") + "/"
    if job["type"] in ("template_version_import", "template_version_dry_run"):
        return _version_job(s, job, coder_url)
    ctx = s.get_build_job_context(job["input"]["workspace_build_id"])
    if ctx is None:
        raise JobGone(f"workspace build {job['input']['workspace_build_id']} is gone")
    token = _workspace_session_token(s, ctx, session_lifetime)
    meta = JobMetadata(
        coder_url=coder_url, workspace_transition=ctx["transition"],
        workspace_name=ctx["workspace_name"], workspace_id=str(ctx["workspace_id"]),
        workspace_owner_session_token=token, **_owner_metadata(ctx),
        template_id=str(ctx["template_id"]), template_name=ctx["template_name"],
        template_version=ctx["template_version_name"], workspace_build_id=str(ctx["build_id"]))
    values = [WorkspaceBuildParameter(**p) for p in s.get_build_parameter_values(ctx["build_id"])]
    previous = [WorkspaceBuildParameter(**p) for p in s.get_build_parameter_values(ctx["previous_build_id"])] \
        if ctx["previous_build_id"] else []
    state = base64.b64encode(bytes(ctx["previous_state"])).decode() if ctx["previous_state"] else ""
    return AcquiredJob(job_id=job["id"], type=job["type"], file_id=job["file_id"], metadata=meta,
                       transition=ctx["transition"], rich_parameter_values=values,
                       previous_parameter_values=previous, state=state,
                       agent_scripts=agent_scripts(),
                       variable_values=terraform_values(
                           s.get_template_version_variables(ctx["template_version_id"])))


def _owner_metadata(ctx: dict) -> dict:
    """The workspace owner's CODER_WORKSPACE_OWNER_* values, from a job context's owner_*."""
    return dict(workspace_owner=ctx["owner_username"], workspace_owner_id=str(ctx["owner_id"]),
                workspace_owner_email=ctx["owner_email"], workspace_owner_name=ctx["owner_name"],
                workspace_owner_login_type=ctx["owner_login_type"],
                workspace_owner_rbac_roles=list(ctx["owner_roles"]) + ["member"])


def _version_job(s: AuthzQuerier, job: dict, coder_url: str) -> AcquiredJob:
    """An import, or a dry run: a plan of the version as a workspace of the job's initiator
    named as asked would get, with the given parameter values and the version's variables
    (as Coder's dry run, which has no workspace, uses the initiator as its owner)."""
    version_id = job["input"]["template_version_id"]
    ctx = s.get_version_job_context(version_id, job["initiator_id"])
    if ctx is None:
        raise JobGone(f"template version {version_id} is gone")
    template = dict(coder_url=coder_url, template_id=str(ctx["template_id"] or ""),
                    template_name=ctx["template_name"] or "",
                    template_version=ctx["template_version_name"])
    if job["type"] == "template_version_import":
        return AcquiredJob(job_id=job["id"], type=job["type"], file_id=job["file_id"],
                           metadata=JobMetadata(**template), agent_scripts=agent_scripts())
    meta = JobMetadata(
        **template, workspace_name=job["input"].get("workspace_name", ""), **_owner_metadata(ctx))
    return AcquiredJob(
        job_id=job["id"], type=job["type"], file_id=job["file_id"], metadata=meta,
        transition="start", agent_scripts=agent_scripts(),
        rich_parameter_values=[WorkspaceBuildParameter(name=p["name"], value=p["value"])
                               for p in job["input"].get("rich_parameter_values", [])],
        variable_values=terraform_values(s.get_template_version_variables(version_id)))


def terraform_values(variables: list[dict]) -> list[VariableValue]:
    """What every plan of a version is given, as Coder's asVariableValues: each variable's
    value (or its default), left out when empty and not required."""
    values = []
    for v in variables:
        value = v["value"] or v["default_value"]
        if value or v["required"]:
            values.append(VariableValue(name=v["name"], value=value, type=v["type"],
                                        sensitive=v["sensitive"]))
    return values


def store_template_variables(s: AuthzQuerier, job: dict, variables: list[TemplateVariable]
                             ) -> tuple[list[VariableValue], list[str]]:
    """Store the variables an import read, each with the value given at push or its default;
    (what its plans are given, the required variables left without a value). Stored even
    when some lack a value, as in Coder, so a client can ask which."""
    given = {v["name"]: v["value"] for v in job["input"].get("user_variable_values", [])}
    rows = [{**model.encode(v), "value": given.get(v.name, v.default_value)} for v in variables]
    with s.transaction():
        s.insert_template_version_variables(uuid.UUID(job["input"]["template_version_id"]), rows)
    missing = [r["name"] for r in rows if r["required"] and r["value"] == ""]
    return terraform_values(rows), missing


def _workspace_session_token(s: AuthzQuerier, ctx: dict, lifetime: int) -> str:
    """The owner's key for this workspace, minted anew for a start build, else none."""
    name = f"{ctx['owner_id']}_{ctx['workspace_id']}_session_token"  # Coder's name for it
    with s.transaction():
        for key in s.get_api_keys_by_user(ctx["owner_id"], login_type="none"):
            if key["token_name"] == name:
                s.delete_api_key(key["id"])
        if ctx["transition"] != "start":
            return ""
        token, _ = issue_key(s, ctx["owner_id"], login_type="none", lifetime=lifetime,
                             token_name=name)
        return token


def _plain(items) -> list[dict]:
    return [model.encode(i) for i in items]


def store_result(s: AuthzQuerier, job: dict, result: CompleteJobRequest) -> None:
    """Write what a job produced and mark it succeeded, all or nothing."""
    with s.transaction():
        if job["type"] == "template_version_import":
            version_id = uuid.UUID(job["input"]["template_version_id"])
            s.insert_template_version_parameters(version_id, _plain(result.rich_parameters))
            s.insert_template_version_presets(version_id, _plain(result.presets))
            s.insert_workspace_resources(job["id"], "start", _plain(result.start_resources))
            s.insert_workspace_resources(job["id"], "stop", _plain(result.stop_resources))
        elif job["type"] == "template_version_dry_run":
            s.insert_workspace_resources(job["id"], "start", _plain(result.resources))
        else:
            ctx = s.get_build_job_context(job["input"]["workspace_build_id"])
            s.update_workspace_build_state(ctx["build_id"], base64.b64decode(result.state))
            s.insert_workspace_resources(job["id"], ctx["transition"], _plain(result.resources))
            if ctx["transition"] == "delete":
                s.mark_workspace_deleted(ctx["workspace_id"])
        s.insert_provisioner_job_timings(job["id"], _plain(result.timings))
        s.complete_provisioner_job(job["id"])


def store_failure(s: AuthzQuerier, job: dict, error: str, error_code: str, state: str) -> None:
    """Fail the job; a build's partial state is kept so the next build knows what exists."""
    with s.transaction():
        if state and job["type"] == "workspace_build":
            ctx = s.get_build_job_context(job["input"]["workspace_build_id"])
            if ctx is not None:
                s.update_workspace_build_state(ctx["build_id"], base64.b64decode(state))
        s.complete_provisioner_job(job["id"], error=error or "The job failed.", error_code=error_code)
