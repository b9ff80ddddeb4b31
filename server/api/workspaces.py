"""Workspaces and their builds, with Coder's paths and JSON.

Creating a workspace queues its first (start) build; every later start, stop
or delete is a build too (see server.wsbuilder). Members see and act on only
their own workspaces: the authorization layer answers 404 for the others.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt

import psycopg2.errors
from flask import current_app, g, request

from appliance import cron
from appliance.sdk import types

from .. import audit, wsbuilder
from ..authz.rbac import Action, Object, Resource
from ..db.queries.users import UserRow
from ..httpapi import APIError, found, not_found, parse_uuid, query_int, read, write
from ..httpmw import store
from . import jobs
from .convert import from_row
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
EXTEND_NOTICE = dt.timedelta(minutes=29)  # Coder's least extension ("at least 30 minutes")
AUTOMATIC_UPDATES = ("always", "never")
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
    return [from_row(types.WorkspaceBuild, r, job=by_job[r["job_id"]], resources=made[r["job_id"]])
            for r in rows]


def workspaces(rows: list[dict]) -> list[types.Workspace]:
    latest = {b.workspace_id: b for b in builds(
        store().get_latest_workspace_builds_by_workspace_ids([r["id"] for r in rows]))}
    out = []
    for r in rows:
        build = latest[r["id"]]
        failing = [a.id for res in build.resources for a in res.agents if not a.health.healthy]
        out.append(from_row(
            types.Workspace, r, latest_build=build,
            outdated=build.template_version_id != r["template_active_version_id"],
            ttl_ms=None if r["ttl"] is None else r["ttl"] // NS_PER_MS,
            deleting_at=None, dormant_at=None,  # no dormancy or auto-deletion here
            health=types.WorkspaceHealth(healthy=not failing, failing_agents=failing),
            allow_renames=_renames_allowed(),
            # As Coder: only the owner sees their own favorite.
            favorite=r["favorite"] and r["owner_id"] == g.subject.id))
    return out


def _renames_allowed() -> bool:
    return current_app.extensions["coderd"].settings.allow_workspace_renames


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


def _values(req_values: list[types.WorkspaceBuildParameter] | None) -> list[types.WorkspaceBuildParameter]:
    return list(req_values or [])


def _with_preset(s, version_id, preset_id, values: list[types.WorkspaceBuildParameter]
                 ) -> list[types.WorkspaceBuildParameter]:
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
        types.WorkspaceBuildParameter(name, value) for name, value in fixed.items()]


# --- workspaces ---------------------------------------------------------------------------

def create_workspace(req: types.CreateWorkspaceRequest, owner: UserRow, org: dict | None) -> dict:
    """Create ``owner``'s workspace and queue its first build, as the API and the dashboard's
    form do; the workspace's row. APIError (with the field's name in ``validations`` where
    one is wrong) when refused, leaving nothing behind."""
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
    _valid_schedule(req.autostart_schedule, "Invalid Autostart Schedule.")
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
    return row


def _create_workspace(owner: UserRow, org: dict | None):
    row = create_workspace(read(types.CreateWorkspaceRequest), owner, org)
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
    rows = store().get_workspaces(**filters, requester_id=g.subject.id,
                                  offset=query_int("offset", 0),
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


@route("PATCH", "/workspaces/<workspace>", summary="Rename a workspace (when the deployment "
       "allows renames, as Coder's --allow-workspace-renames)", request=types.UpdateWorkspaceRequest,
       status=204)
def update_workspace(workspace: str):
    row = workspace_param(workspace)
    req = read(types.UpdateWorkspaceRequest)
    if not req.name or req.name == row["name"]:
        return current_app.response_class(status=204)  # nothing changes, as in Coder
    if not _renames_allowed():
        raise APIError(400, "Workspace renames are not allowed.")
    try:
        store().update_workspace_name(row["id"], req.name)
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"Workspace {req.name!r} already exists.",
                       validations=[types.ValidationError(
                           "name", "This value is already in use and should be unique.")]) from None
    audit.record("write", "workspace", row["id"], req.name, organization_id=row["organization_id"],
                 changes=audit.diff(row, {"name": req.name}, ("name",)))
    return current_app.response_class(status=204)


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


def _valid_schedule(schedule: str | None, message: str) -> cron.Schedule | None:
    """Coder's validWorkspaceSchedule: null or "" is no autostart, else cron.Weekly's rules."""
    if not schedule:
        return None
    try:
        return cron.weekly(schedule)
    except cron.CronError as exc:
        raise APIError(400, message, validations=[types.ValidationError("schedule", str(exc))]) \
            from None


@route("PUT", "/workspaces/<workspace>/autostart", summary="Set a workspace's autostart "
       "schedule (Coder's cron: [CRON_TZ=Zone ]M H * * DOW)",
       request=types.UpdateWorkspaceAutostartRequest, status=204)
def update_workspace_autostart(workspace: str):
    row = workspace_param(workspace)
    req = read(types.UpdateWorkspaceAutostartRequest)
    parsed = _valid_schedule(req.schedule, "Invalid autostart schedule.")
    schedule = req.schedule if parsed else None  # stored as given, as Coder
    next_start = parsed.next(dt.datetime.now(dt.timezone.utc)) if parsed else None
    store().update_workspace_autostart(row["id"], schedule, next_start)
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 changes=audit.diff(row, {"autostart_schedule": schedule}, ("autostart_schedule",)))
    return current_app.response_class(status=204)


@route("PUT", "/workspaces/<workspace>/extend", summary="Move a running workspace's autostop "
       "deadline (at least 30 minutes ahead)", request=types.PutExtendWorkspaceRequest,
       response=types.Response)
def extend_workspace(workspace: str):
    row = workspace_param(workspace)
    deadline = read(types.PutExtendWorkspaceRequest).deadline.astimezone(dt.timezone.utc)
    s = store()
    with s.transaction():
        build = s.get_latest_workspace_builds_by_workspace_ids([row["id"]])[0]
        completed_at = s.get_provisioner_job_by_id(build["job_id"])["completed_at"]
        _check_extension(build, completed_at, deadline)
        s.update_workspace_build_deadline(row["id"], build["id"], deadline)
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 additional={"deadline": deadline.isoformat()})
    return write(200, types.Response(message="Deadline updated to "
                                     f"{deadline.strftime('%Y-%m-%dT%H:%M:%SZ')}."))


def _check_extension(build: dict, completed_at: dt.datetime | None, deadline: dt.datetime) -> None:
    """Coder's putExtendWorkspace refusals, in its words and status codes."""
    if build["transition"] != "start":
        raise APIError(409, f"Workspace must be started, current status: {build['transition']}")
    if completed_at is None:
        raise APIError(409, "Workspace is still building!")
    if build["deadline"] is None:
        raise APIError(409, "Workspace shutdown is manual.")
    if deadline < dt.datetime.now(dt.timezone.utc) + EXTEND_NOTICE:
        raise APIError(400, "Cannot extend workspace: new deadline must be at least 30 minutes "
                            "in the future")
    if deadline < completed_at:
        raise APIError(400, "Cannot extend workspace: new deadline must be before workspace "
                            "start time")
    if build["max_deadline"] is not None and deadline > build["max_deadline"]:
        raise APIError(400, "Cannot extend workspace beyond max deadline.")


def _favorite(workspace: str, favorite: bool):
    """Coder's rule: one marks only one's own workspaces, even a deployment owner."""
    row = workspace_param(workspace)
    if row["owner_id"] != g.subject.id:
        raise APIError(403, "You can only favorite workspaces that you own." if favorite
                       else "You can only un-favorite workspaces that you own.")
    store().update_workspace_favorite(row["id"], favorite)
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 changes=audit.diff(row, {"favorite": favorite}, ("favorite",)))
    return current_app.response_class(status=204)


@route("PUT", "/workspaces/<workspace>/favorite", summary="Add one's own workspace to one's "
       "favorites", status=204)
def favorite_workspace(workspace: str):
    return _favorite(workspace, True)


@route("DELETE", "/workspaces/<workspace>/favorite", summary="Remove one's own workspace from "
       "one's favorites", status=204)
def unfavorite_workspace(workspace: str):
    return _favorite(workspace, False)


@route("PUT", "/workspaces/<workspace>/autoupdates", summary="Set a workspace's automatic "
       "updates: always (start on the template's active version) or never",
       request=types.UpdateWorkspaceAutomaticUpdatesRequest, status=204)
def update_workspace_automatic_updates(workspace: str):
    row = workspace_param(workspace)
    policy = read(types.UpdateWorkspaceAutomaticUpdatesRequest).automatic_updates
    if policy not in AUTOMATIC_UPDATES:
        raise APIError(400, "Invalid request", validations=[types.ValidationError(
            "automatic_updates", "must be always or never")])
    store().update_workspace_automatic_updates(row["id"], policy)
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 changes=audit.diff(row, {"automatic_updates": policy}, ("automatic_updates",)))
    return current_app.response_class(status=204)


# --- builds --------------------------------------------------------------------------------

@route("POST", "/workspaces/<workspace>/builds", summary="Start, stop or delete a workspace",
       request=types.CreateWorkspaceBuildRequest, response=types.WorkspaceBuild, status=201)
def create_workspace_build(workspace: str):
    row = workspace_param(workspace)
    return write(201, builds([start_build(row, read(types.CreateWorkspaceBuildRequest))])[0])


def start_build(row: dict, req: types.CreateWorkspaceBuildRequest) -> dict:
    """Queue the build ``req`` asks of the workspace ``row`` (audited); the build row. The
    API's POST and the dashboard's action forms both come here, so both refuse alike."""
    if req.dry_run:
        raise APIError(400, "Dry-run builds are not supported.")
    if req.orphan and req.transition != "delete":
        raise APIError(400, "Orphan is only permitted when deleting a workspace.",
                       validations=[types.ValidationError("orphan", "only with transition delete")])
    build = wsbuilder.build(store(), row, transition=req.transition, initiator_id=g.subject.id,
                            template_version_id=req.template_version_id,
                            values=_values(req.rich_parameter_values), orphan=req.orphan,
                            state=_given_state(req, row))
    audit.record("write" if req.transition != "delete" else "delete", "workspace", row["id"],
                 row["name"], status=201, organization_id=row["organization_id"],
                 additional={"transition": req.transition, "build_number": build["build_number"]})
    return build


def _given_state(req: types.CreateWorkspaceBuildRequest, workspace: dict) -> bytes | None:
    """The Terraform state a build starts from, when ``coder state push`` gives one: as in
    Coder, only template admins may, and never with orphan."""
    if not req.state:
        return None
    if req.orphan:
        raise APIError(400, "ProvisionerState cannot be set alongside Orphan since state intent "
                            "is unclear.")
    if not store().can(Action.UPDATE, Object(Resource.TEMPLATE, workspace["template_id"],
                                             org_id=workspace["organization_id"])):
        raise APIError(403, "Only template managers may provide custom state.")
    return decode_state(req.state)


@route("GET", "/workspaces/<workspace>/builds", summary="List a workspace's builds, newest first",
       response=list[types.WorkspaceBuild],
       query=(QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def list_workspace_builds(workspace: str):
    row = workspace_param(workspace)
    rows = store().get_workspace_builds_by_workspace_id(
        row["id"], offset=query_int("offset", 0), limit=query_int("limit", 0, 0, 10000) or None)
    return write(200, builds(rows))


@route("GET", "/users/<user>/workspace/<workspacename>/builds/<buildnumber>",
       summary="Get a workspace build by its owner, workspace name and number",
       response=types.WorkspaceBuild)
def get_workspace_build_by_number(user: str, workspacename: str, buildnumber: str):
    try:
        number = int(buildnumber)
    except ValueError:
        raise APIError(400, "Failed to parse build number as integer.",
                       f"{buildnumber!r} is not a number.") from None
    s = store()
    row = s.get_workspace_by_owner_and_name(user_param(user).id, workspacename)
    if row is None:
        raise not_found("Workspace")
    build = s.get_workspace_build_by_number(row["id"], number)
    if build is None:
        raise APIError(404, f'Workspace "{workspacename}" Build {number} does not exist.')
    return write(200, builds([build])[0])


@route("GET", "/workspacebuilds/<workspacebuild>", summary="Get a workspace build",
       response=types.WorkspaceBuild)
def get_workspace_build(workspacebuild: str):
    return write(200, builds([build_param(workspacebuild)])[0])


@route("GET", "/workspacebuilds/<workspacebuild>/resources",
       summary="The resources a workspace build made", response=list[types.WorkspaceResource])
def workspace_build_resources(workspacebuild: str):
    job_id = build_param(workspacebuild)["job_id"]
    return write(200, jobs.resources([job_id])[job_id])


@route("GET", "/workspacebuilds/<workspacebuild>/parameters",
       summary="The parameter values a workspace build ran with",
       response=list[types.WorkspaceBuildParameter])
def workspace_build_parameters(workspacebuild: str):
    build = build_param(workspacebuild)
    return write(200, [from_row(types.WorkspaceBuildParameter, p)
                       for p in store().get_workspace_build_parameters(build["id"])])


def _template_admin_build(workspacebuild: str) -> dict:
    """The build, for one who may change its workspace's template (Coder's rule for
    Terraform state, which holds the workspace's secrets); 404 for everyone else."""
    build = build_param(workspacebuild)
    workspace = store().get_workspace_by_id(build["workspace_id"], include_deleted=True)
    if not store().can(Action.UPDATE, Object(Resource.TEMPLATE, workspace["template_id"],
                                             org_id=workspace["organization_id"])):
        raise not_found("Workspace build")
    return build


@route("GET", "/workspacebuilds/<workspacebuild>/state",
       summary="A workspace build's Terraform state (template admins only, as in Coder)",
       response=dict)
def workspace_build_state(workspacebuild: str):
    build = _template_admin_build(workspacebuild)
    state = store().as_system("state-pull-template-admin").get_workspace_build_state(build["id"])
    return current_app.response_class(state, status=200, mimetype="application/json")


@route("PUT", "/workspacebuilds/<workspacebuild>/state",
       summary="Replace a workspace build's Terraform state, without a build (template admins "
               "only, as in Coder)", request=types.UpdateWorkspaceBuildStateRequest, status=204)
def update_workspace_build_state(workspacebuild: str):
    build = _template_admin_build(workspacebuild)
    state = decode_state(read(types.UpdateWorkspaceBuildStateRequest).state)
    store().as_system("state-push-template-admin").update_workspace_build_state(build["id"], state)
    audit.record("write", "workspace", build["workspace_id"], build["workspace_name"],
                 organization_id=build["organization_id"],
                 additional={"state_replaced": build["build_number"]})
    return current_app.response_class(status=204)


def decode_state(value: str) -> bytes:
    """Coder's []byte in JSON: standard base64."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "Invalid state: it must be base64, as Coder's []byte in JSON.",
                       validations=[types.ValidationError("state", "must be base64")]) from None


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
