"""Workspaces and their builds, with Coder's paths and JSON.

Creating a workspace queues its first (start) build; every later start, stop
or delete is a build too (see server.wsbuilder). Members see and act on only
their own workspaces: the authorization layer answers 404 for the others.
"""
from __future__ import annotations

import re

import psycopg2.errors
from flask import current_app, g, request

from appliance.sdk import types

from .. import audit, wsbuilder
from ..authz.rbac import Action, Object, Resource
from ..db.queries.users import UserRow
from ..httpapi import APIError, found, not_found, parse_uuid, query_int, read, write
from ..httpmw import store
from . import jobs
from .organizations import organization_param
from .router import QueryParam, Router
from .users import user_param

router = Router("workspaces", "Workspaces")
route = router.route
NS_PER_MS = 1_000_000
MIN_TTL_MS = 60_000  # Coder's bounds on a workspace's time until autostop, and its unit
MAX_TTL_MS = 30 * 24 * 3600 * 1000
STATUSES = ("pending", "starting", "running", "stopping", "stopped", "failed", "canceling",
            "canceled", "deleting", "deleted")
CRON = re.compile(r"(CRON_TZ=\S+ )?\S+ \S+ \S+ \S+ \S+")
INCLUDE_DELETED = QueryParam("include_deleted", "Also find a deleted workspace", "boolean")


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("true", "1")


def workspace_param(value: str) -> dict:
    row = store().get_workspace_by_id(parse_uuid(value, "workspace"),
                                      include_deleted=_flag("include_deleted"))
    return found(row, "Workspace")


def build_param(value: str) -> dict:
    row = store().get_workspace_build_by_id(parse_uuid(value, "workspacebuild"))
    return found(row, "Workspace build")


# --- rows to API types -------------------------------------------------------------------

def builds(rows: list[dict]) -> list[types.WorkspaceBuild]:
    job_ids = [r["job_id"] for r in rows]
    by_job = jobs.jobs_by_id(job_ids)
    made = jobs.resources(job_ids)
    return [types.WorkspaceBuild(
        id=r["id"], created_at=r["created_at"], updated_at=r["updated_at"],
        workspace_id=r["workspace_id"], workspace_name=r["workspace_name"],
        workspace_owner_id=r["workspace_owner_id"],
        workspace_owner_name=r["workspace_owner_name"],
        workspace_owner_avatar_url=r["workspace_owner_avatar_url"],
        template_version_id=r["template_version_id"],
        template_version_name=r["template_version_name"], build_number=r["build_number"],
        transition=r["transition"], initiator_id=r["initiator_id"],
        initiator_name=r["initiator_name"], job=by_job[r["job_id"]], reason=r["reason"],
        resources=made[r["job_id"]], deadline=r["deadline"], max_deadline=r["max_deadline"],
        status=r["status"], daily_cost=r["daily_cost"]) for r in rows]


def workspaces(rows: list[dict]) -> list[types.Workspace]:
    latest = {b.workspace_id: b for b in builds(
        store().get_latest_workspace_builds_by_workspace_ids([r["id"] for r in rows]))}
    out = []
    for r in rows:
        build = latest[r["id"]]
        failing = [a.id for res in build.resources for a in res.agents if not a.health.healthy]
        out.append(types.Workspace(
            id=r["id"], created_at=r["created_at"], updated_at=r["updated_at"],
            owner_id=r["owner_id"], owner_name=r["owner_name"],
            owner_avatar_url=r["owner_avatar_url"], organization_id=r["organization_id"],
            organization_name=r["organization_name"], template_id=r["template_id"],
            template_name=r["template_name"], template_display_name=r["template_display_name"],
            template_icon=r["template_icon"],
            template_allow_user_cancel_workspace_jobs=r["template_allow_user_cancel_workspace_jobs"],
            template_active_version_id=r["template_active_version_id"],
            template_require_active_version=r["template_require_active_version"],
            latest_build=build,
            outdated=build.template_version_id != r["template_active_version_id"],
            name=r["name"], autostart_schedule=r["autostart_schedule"],
            ttl_ms=None if r["ttl"] is None else r["ttl"] // NS_PER_MS,
            last_used_at=r["last_used_at"],
            deleting_at=None, dormant_at=None,
            health=types.WorkspaceHealth(healthy=not failing, failing_agents=failing),
            automatic_updates=r["automatic_updates"], allow_renames=False, favorite=False))
    return out


def _ttl_ns(ttl_ms: int | None) -> int | None:
    """Coder's rule: unset or 0 is no autostop; otherwise whole minutes (the rest is
    dropped), between one minute and 30 days."""
    if not ttl_ms:
        return None
    whole = ttl_ms - ttl_ms % MIN_TTL_MS
    if not MIN_TTL_MS <= whole <= MAX_TTL_MS:
        raise APIError(400, "Invalid time until autostop.",
                       validations=[types.ValidationError(
                           "ttl_ms", "must be between one minute and 30 days")])
    return whole * NS_PER_MS


def _values(req_values: list[types.WorkspaceBuildParameter] | None) -> list[wsbuilder.ParameterValue]:
    return [wsbuilder.ParameterValue(v.name, v.value) for v in req_values or []]


def _with_preset(s, version_id, preset_id, values: list[wsbuilder.ParameterValue]
                 ) -> list[wsbuilder.ParameterValue]:
    """``values`` with a preset's parameter values in place of the same names' (as Coder's
    wsbuilder, a preset's value wins); the preset must be one of the version's."""
    if preset_id is None:
        return values
    preset = next((p for p in s.get_template_version_presets(version_id) if str(p["id"]) == str(preset_id)),
                  None)
    if preset is None:
        raise APIError(400, "Preset not found.", validations=[types.ValidationError(
            "template_version_preset_id", "is not a preset of the template version")])
    fixed = {p["name"]: p["value"] for p in preset["parameters"]}
    return [v for v in values if v.name not in fixed] + [
        wsbuilder.ParameterValue(name, value) for name, value in fixed.items()]


# --- workspaces ---------------------------------------------------------------------------

def _create_workspace(owner: UserRow, org: dict | None):
    req = read(types.CreateWorkspaceRequest)
    s = store()
    if (req.template_id is None) == (req.template_version_id is None):
        raise APIError(400, "Give exactly one of template_id and template_version_id.",
                       validations=[types.ValidationError("template_id", "exactly one of "
                                                          "template_id, template_version_id")])
    version_id = req.template_version_id
    template_id = req.template_id
    if version_id is not None:
        version = s.get_template_version_by_id(version_id)
        template_id = version["template_id"] if version else None
    tmpl = s.get_template_by_id(template_id) if template_id else None
    if tmpl is None or (org is not None and tmpl["organization_id"] != org["id"]):
        field = "template_id" if req.template_id else "template_version_id"
        raise APIError(400, "Template not found.", validations=[types.ValidationError(field, "not found")])
    if req.autostart_schedule and not CRON.fullmatch(req.autostart_schedule):
        raise APIError(400, "Invalid autostart schedule.",
                       validations=[types.ValidationError(
                           "autostart_schedule", "must be a cron spec: [CRON_TZ=zone ]m h * * dow")])
    version_id = version_id or tmpl["active_version_id"]
    values = _with_preset(s, version_id, req.template_version_preset_id,
                          _values(req.rich_parameter_values))
    # As Coder: on creation, an unset or zero ttl_ms takes the template's default.
    ttl = _ttl_ns(req.ttl_ms) or (tmpl["default_ttl"] or None)
    if s.as_system("check-workspace-owner-membership").get_organization_member(
            tmpl["organization_id"], owner.id) is None:
        raise APIError(400, f"User {owner.username} is not a member of the template's "
                            "organization.")
    try:
        with s.transaction():
            row = s.insert_workspace(
                owner_id=owner.id, organization_id=tmpl["organization_id"],
                template_id=tmpl["id"], name=req.name,
                autostart_schedule=req.autostart_schedule or None,  # "" is no schedule, as null
                ttl=ttl, automatic_updates=req.automatic_updates or "never")
            wsbuilder.build(s, row, transition="start", initiator_id=g.subject.id,
                            template_version_id=version_id, values=values)
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"Workspace {req.name!r} already exists.",
                       validations=[types.ValidationError("name", "is already taken")]) from None
    audit.record("create", "workspace", row["id"], row["name"], status=201,
                 organization_id=row["organization_id"])
    return write(201, workspaces([row])[0])


@route("POST", "/users/<user>/workspaces", summary="Create a workspace for a user",
       request=types.CreateWorkspaceRequest, response=types.Workspace, status=201)
def create_user_workspace(user: str):
    return _create_workspace(user_param(user), None)


@route("POST", "/organizations/<organization>/members/<user>/workspaces",
       summary="Create a workspace for a member of an organization",
       request=types.CreateWorkspaceRequest, response=types.Workspace, status=201)
def create_member_workspace(organization: str, user: str):
    return _create_workspace(user_param(user), organization_param(organization))


def parse_workspace_query(q: str) -> dict:
    """Coder's ``q``: ``owner:me template:T status:S name:N deleted:true`` plus free text (name)."""
    filters = {"owner_username": "", "template_name": "", "status": "", "name": "",
               "deleted": False}
    keys = {"owner": "owner_username", "template": "template_name", "status": "status",
            "name": "name", "deleted": "deleted"}
    for term in q.split():
        key, sep, value = term.partition(":")
        if not sep:
            key, value = "name", term
        if key not in keys:
            raise APIError(400, f"Invalid query param {key!r}.",
                           validations=[types.ValidationError("q", f"unknown filter {key!r}; use "
                                                              "owner, template, status, name")])
        filters[keys[key]] = value
    if filters["owner_username"] == "me":
        filters["owner_username"] = g.subject.name
    if filters["status"] and filters["status"] not in STATUSES:
        raise APIError(400, f"Invalid status {filters['status']!r}.",
                       validations=[types.ValidationError("q", "status must be one of "
                                                          + ", ".join(STATUSES))])
    filters["deleted"] = str(filters["deleted"]).lower() == "true"
    return filters


@route("GET", "/workspaces", summary="List workspaces, with Coder's q filter",
       response=types.WorkspacesResponse,
       query=(QueryParam("q", "owner:me|USER template:NAME status:STATUS name:TEXT, or free text"),
              QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def list_workspaces():
    filters = parse_workspace_query(request.args.get("q", ""))
    rows = store().get_workspaces(**filters, offset=query_int("offset", 0),
                                  limit=query_int("limit", 0, 0, 10000) or None)
    count = rows[0]["count"] if rows else 0
    return write(200, types.WorkspacesResponse(workspaces=workspaces(rows), count=count))


@route("GET", "/workspaces/<workspace>", summary="Get a workspace", response=types.Workspace,
       query=(INCLUDE_DELETED,))
def get_workspace(workspace: str):
    return write(200, workspaces([workspace_param(workspace)])[0])


@route("GET", "/users/<user>/workspace/<workspacename>", summary="Get a user's workspace by name",
       response=types.Workspace, query=(INCLUDE_DELETED,))
def get_workspace_by_name(user: str, workspacename: str):
    owner = user_param(user)
    row = store().get_workspace_by_owner_and_name(owner.id, workspacename,
                                                  include_deleted=_flag("include_deleted"))
    if row is None:
        raise not_found("Workspace")
    return write(200, workspaces([row])[0])


@route("PUT", "/workspaces/<workspace>/ttl", summary="Set a workspace's time until autostop",
       request=types.UpdateWorkspaceTTLRequest, status=204)
def update_workspace_ttl(workspace: str):
    row = workspace_param(workspace)
    req = read(types.UpdateWorkspaceTTLRequest)
    ttl = _ttl_ns(req.ttl_ms)
    store().update_workspace_ttl(row["id"], ttl)
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 changes=audit.diff(row, {"ttl": ttl}, ("ttl",)))
    return current_app.response_class(status=204)


# --- builds --------------------------------------------------------------------------------

@route("POST", "/workspaces/<workspace>/builds", summary="Start, stop or delete a workspace",
       request=types.CreateWorkspaceBuildRequest, response=types.WorkspaceBuild, status=201)
def create_workspace_build(workspace: str):
    row = workspace_param(workspace)
    req = read(types.CreateWorkspaceBuildRequest)
    if req.dry_run:
        raise APIError(400, "Dry-run builds are not supported.")
    if req.orphan and req.transition != "delete":
        raise APIError(400, "Orphan is only permitted when deleting a workspace.",
                       validations=[types.ValidationError("orphan", "only with transition delete")])
    build = wsbuilder.build(store(), row, transition=req.transition, initiator_id=g.subject.id,
                            template_version_id=req.template_version_id,
                            values=_values(req.rich_parameter_values), orphan=req.orphan)
    audit.record("write" if req.transition != "delete" else "delete", "workspace", row["id"],
                 row["name"], status=201, organization_id=row["organization_id"],
                 additional={"transition": req.transition, "build_number": build["build_number"]})
    return write(201, builds([build])[0])


@route("GET", "/workspaces/<workspace>/builds", summary="List a workspace's builds, newest first",
       response=list[types.WorkspaceBuild],
       query=(QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def list_workspace_builds(workspace: str):
    row = workspace_param(workspace)
    rows = store().get_workspace_builds_by_workspace_id(
        row["id"], offset=query_int("offset", 0), limit=query_int("limit", 0, 0, 10000) or None)
    return write(200, builds(rows))


@route("GET", "/workspacebuilds/<workspacebuild>", summary="Get a workspace build",
       response=types.WorkspaceBuild)
def get_workspace_build(workspacebuild: str):
    return write(200, builds([build_param(workspacebuild)])[0])


@route("GET", "/workspacebuilds/<workspacebuild>/resources",
       summary="The resources a workspace build made", response=list[types.WorkspaceResource])
def workspace_build_resources(workspacebuild: str):
    job_id = build_param(workspacebuild)["job_id"]
    return write(200, jobs.resources([job_id])[job_id])


jobs.log_routes(route, "/workspacebuilds/<workspacebuild>/logs", "a workspace build's",
               lambda workspacebuild: build_param(workspacebuild)["job_id"])


@route("PATCH", "/workspacebuilds/<workspacebuild>/cancel", summary="Cancel a workspace build",
       response=types.Response)
def cancel_workspace_build(workspacebuild: str):
    build = build_param(workspacebuild)
    workspace = store().get_workspace_by_id(build["workspace_id"], include_deleted=True)
    template_admin = store().can(Action.UPDATE, Object(Resource.TEMPLATE, workspace["template_id"],
                                                       org_id=workspace["organization_id"]))
    if not workspace["template_allow_user_cancel_workspace_jobs"] and not template_admin:
        raise APIError(403, "The template does not allow users to cancel workspace builds.")
    resp = jobs.cancel(build["job_id"])
    audit.record("write", "workspace", workspace["id"], workspace["name"],
                 organization_id=workspace["organization_id"],
                 additional={"canceled_build": build["build_number"]})
    return resp
