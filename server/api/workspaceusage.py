"""What a workspace's use and its next automatic start need: marking it used (Coder's
``/usage``, which the dashboard and ``coder ssh`` call) and whether its next autostart
would lack a parameter value (``/resolve-autostart``)."""
from __future__ import annotations

from flask import current_app

from appliance.sdk import types

from .. import wsbuilder
from ..authz.querier import workspace_obj
from ..authz.rbac import Action
from ..httpapi import APIError, write
from ..httpmw import store
from .router import Router
from .workspaces import workspace_param

router = Router("workspaceusage", "Workspaces")
route = router.route


@route("POST", "/workspaces/<workspace>/usage", status=204,
       summary="Mark a workspace as used now (its last_used_at); the body Coder reads only "
               "under its workspace-usage experiment is ignored, as Coder does without it")
def post_workspace_usage(workspace: str):
    row = workspace_param(workspace)
    s = store()
    if not s.can(Action.UPDATE, workspace_obj(row)):
        raise APIError(403, "Forbidden.")
    s.update_workspace_last_used(row["id"])
    return current_app.response_class(status=204)


@route("GET", "/workspaces/<workspace>/resolve-autostart",
       summary="Whether the workspace's next autostart would lack a parameter value",
       response=types.ResolveAutostartResponse)
def resolve_autostart(workspace: str):
    """As Coder: only a workspace that starts on the active version (the template requires
    it, or its automatic updates are on) and is not on it yet can mismatch."""
    row = workspace_param(workspace)
    s = store()
    latest = s.get_latest_workspace_builds_by_workspace_ids([row["id"]])[0]
    active = row["template_active_version_id"]
    on_active = row["template_require_active_version"] or row["automatic_updates"] == "always"
    if not on_active or latest["template_version_id"] == active:
        return write(200, types.ResolveAutostartResponse())
    previous = {p["name"]: p["value"] for p in s.get_workspace_build_parameters(latest["id"])}
    try:
        wsbuilder.resolve_parameters(s.get_template_version_parameters(active), (), previous)
    except APIError:
        return write(200, types.ResolveAutostartResponse(parameter_mismatch=True))
    return write(200, types.ResolveAutostartResponse())
