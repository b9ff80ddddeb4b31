"""Queueing a workspace build, as Coder's wsbuilder does.

One function used by workspace creation, ``POST /workspaces/{id}/builds`` and
the autostop executor: it refuses a build while another is still active,
picks the template version, resolves and validates the parameter values, and
writes the provisioner job and the build (with its parameters) in one
transaction, so a refused build leaves nothing behind.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Iterable

import psycopg2.errors

from appliance import cron
from appliance.sdk.types import ValidationError, WorkspaceBuildParameter
from provider.parameter import render_error
from provider.template_regex import TemplateRegexError, compile_regex

from .authz.querier import AuthzQuerier
from .httpapi import APIError
from .provisioner.workspacetags import TagError, evaluate, tag_expressions

ACTIVE_JOB_STATUSES = ("pending", "running", "canceling")


def _param_error(name: str, problem: str) -> APIError:
    return APIError(400, f"Parameter {name!r} {problem}.",
                    validations=[ValidationError(name, problem)])


def validate_value(param: dict, value: str, previous: str | None) -> None:
    """Check one value against its template parameter; APIError (400) naming it if wrong."""
    name, kind = param["name"], param["type"]
    problem = param["validation_error"] or ""
    options = [o["value"] for o in param["options"] or []]
    if kind == "list(string)":
        try:
            items = json.loads(value or "[]")
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _param_error(name, "must be a JSON array of strings")
        if options and any(i not in options for i in items):
            raise _param_error(name, f"must only hold values among {', '.join(options)}")
        return
    if options and value not in options:
        raise _param_error(name, f"must be one of: {', '.join(options)}")
    if kind == "bool" and value not in ("true", "false"):
        raise _param_error(name, "must be true or false")
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise _param_error(name, f"must be a number, not {value!r}") from None
        low, high = param["validation_min"], param["validation_max"]
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"between {low} and {high}" if low is not None and high is not None \
                else (f"at least {low}" if low is not None else f"at most {high}")
            raise _param_error(name, render_error(problem, low, high, value) or f"must be {bounds}")
        monotonic = param["validation_monotonic"]
        if monotonic and previous not in (None, ""):
            before = float(previous)
            if (monotonic == "increasing" and number < before) or \
                    (monotonic == "decreasing" and number > before):
                raise _param_error(name, f"must be {monotonic} (previous value {previous})")
    if kind == "string" and param["validation_regex"]:
        try:
            pattern = compile_regex(param["validation_regex"])
        except TemplateRegexError as exc:  # a version imported before regexes were checked as RE2
            raise _param_error(name, f"has a validation regex RE2 cannot run ({exc})") from None
        if not pattern.search(value):
            raise _param_error(name, problem or f"must match {param['validation_regex']}")


def _build_tags(s: AuthzQuerier, version: dict, version_job: dict,
                parameters: dict[str, str]) -> dict[str, str]:
    """The version's job tags with its workspace tags evaluated for this build's parameter
    values over them, as Coder's wsbuilder does: from what the version recorded when it was
    made, or, for a version made before it recorded them, from its archive."""
    expressions = version["workspace_tags"]
    if expressions is None:
        system = s.as_system("evaluate-workspace-tags")
        archive = system.get_file_by_id(version_job["file_id"])["data"]
        variables = {v["name"]: v["value"]
                     for v in system.get_template_version_variables(version["id"])}
        try:
            expressions = tag_expressions(archive, variables)
        except TagError as exc:
            raise APIError(400, "Failed to parse workspace tags.", detail=str(exc)) from None
    return {**version_job["tags"], **evaluate(expressions, parameters)}


def resolve_parameters(params: list[dict], explicit: Iterable[WorkspaceBuildParameter],
                       previous: dict[str, str] | None) -> list[tuple[str, str]]:
    """The values a build runs with: explicit, else the previous build's, else the default.

    ``previous`` is None for a workspace's first build; afterwards immutable
    parameters keep their value.
    """
    given = {v.name: v.value for v in explicit}
    known = {p["name"] for p in params}
    for name in given:
        if name not in known:
            raise _param_error(name, "is not defined by the template version")
    out = []
    for p in params:
        name = p["name"]
        before = (previous or {}).get(name)
        if name in given:
            value = given[name]
            if previous is not None and not p["mutable"] and before is not None and value != before:
                raise _param_error(name, "is immutable and cannot be changed after the workspace "
                                         "is created")
        elif before is not None and not p["ephemeral"]:
            value = before
        elif p["required"]:
            raise _param_error(name, "is required but was not provided")
        else:
            value = p["default_value"]
        validate_value(p, value, before)
        out.append((name, value))
    return out


def build(s: AuthzQuerier, workspace: dict, *, transition: str, initiator_id: uuid.UUID,
          template_version_id: uuid.UUID | None = None,
          values: Iterable[WorkspaceBuildParameter] = (), reason: str = "initiator",
          orphan: bool = False, state: bytes | None = None,
          now: dt.datetime | None = None) -> dict:
    """Queue a build of ``workspace``; returns the build row. APIError when refused.

    ``state``: the Terraform state to start from (``coder state push``); by default the
    previous build's, and none at all for an orphan delete."""
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        return _build(s, workspace, transition, initiator_id, template_version_id, values,
                      reason, b"" if orphan else state, now)
    except psycopg2.errors.UniqueViolation:
        # Another request queued build number N+1 between our read and our insert.
        raise APIError(409, "A workspace build is already active.",
                       "Another build was queued at the same time.") from None


def _build(s: AuthzQuerier, workspace: dict, transition: str, initiator_id: uuid.UUID,
           template_version_id: uuid.UUID | None, values: Iterable[WorkspaceBuildParameter],
           reason: str, state: bytes | None, now: dt.datetime) -> dict:
    with s.transaction():
        latest = next(iter(s.get_latest_workspace_builds_by_workspace_ids([workspace["id"]])), None)
        if latest is not None and latest["job_status"] in ACTIVE_JOB_STATUSES:
            raise APIError(409, "A workspace build is already active.",
                           f"Build #{latest['build_number']} ({latest['transition']}) is "
                           f"{latest['job_status']}; wait for it to finish or cancel it.")
        version_id = template_version_id or (latest["template_version_id"] if latest
                                             else workspace["template_active_version_id"])
        version = s.get_template_version_by_id(version_id)
        if version is None or version["template_id"] != workspace["template_id"]:
            raise APIError(400, "Template version not found for this workspace's template.",
                           validations=[ValidationError("template_version_id", "not found")])
        if version["archived"] and transition == "start":  # stopping and deleting still work
            raise APIError(400, "cannot use archived template versions",
                           validations=[ValidationError("template_version_id", "is archived")])
        version_job = s.get_provisioner_job_by_id(version["job_id"])
        if version_job["job_status"] != "succeeded":
            raise APIError(400, f"Template version {version['name']!r} cannot be built: its "
                                f"import is {version_job['job_status']}.",
                           validations=[ValidationError("template_version_id",
                                                        "import has not succeeded")])
        previous = None
        if latest is not None:
            previous = {p["name"]: p["value"] for p in s.get_workspace_build_parameters(latest["id"])}
        parameters = resolve_parameters(s.get_template_version_parameters(version["id"]),
                                        values, previous)
        deadline = None
        if transition == "start":
            ttl = workspace["ttl"] if workspace["ttl"] is not None else workspace["template_default_ttl"]
            if ttl:
                deadline = now + dt.timedelta(microseconds=ttl // 1000)
        if workspace["autostart_schedule"]:  # Coder's next_start_at moves on with each build
            s.update_workspace_next_start_at(
                workspace["id"], cron.next_start(workspace["autostart_schedule"], now))
        build_id = uuid.uuid4()
        job = s.insert_provisioner_job(
            organization_id=workspace["organization_id"], initiator_id=initiator_id,
            type="workspace_build",
            input={"workspace_build_id": str(build_id),
                   "workspace_owner_id": str(workspace["owner_id"])},
            file_id=version_job["file_id"],
            tags=_build_tags(s, version, version_job, dict(parameters)))
        return s.insert_workspace_build(
            id=build_id, workspace_id=workspace["id"], template_version_id=version["id"],
            build_number=(latest["build_number"] + 1) if latest else 1, transition=transition,
            initiator_id=initiator_id, job_id=job["id"],
            provisioner_state=state, deadline=deadline, reason=reason,
            parameters=parameters)
