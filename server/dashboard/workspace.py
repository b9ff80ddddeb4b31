"""One workspace: Coder's ``/@USER/WORKSPACE`` page, its action forms and the delete
confirmation.

Everything is read through the API's own queries and conversions (``server.api``), as
the viewer: a workspace the viewer may not see is the same 404 as one that does not
exist. The actions are offered by the same authorization layer (``store().can``) and by
the workspace's state, as Coder's (no start while running), and each form calls
``start_build``, the function behind ``POST /workspaces/{id}/builds``.

Live parts: ``static/workspace.js`` follows the workspace's ``/watch`` stream (server-sent
events) and asks htmx to fetch the page's live part again when what it shows changes
(the build, an agent's state; not an agent's heartbeat times) from what the part was
rendered from (carried in it as the workspace's JSON, ``data-workspace``), so the status
moves when the build does with one request open rather than a poll every few seconds; it
follows a running build's log over the API's websocket (``/logs?follow=true``). A
restart (and an update of a running workspace) is Coder's stop then start: the stop is
queued here, and the page, once the stop has succeeded, renders the start form marked for
the script to send (the viewer may also press it).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app, g, redirect, request, url_for

from appliance.sdk import model, types
from appliance.sdk.relay import SSH_HOST_PREFIX, app_link, app_url

from ..api import jobs
from ..api.general import app_host
from ..api.relay import listening_ports
from ..api.users import user_param
from ..api.workspaceagents import LOGS_PAGE, agent_log
from ..api.workspaces import builds as build_json, start_build, workspaces as workspace_json
from ..authz.querier import workspace_obj
from ..authz.rbac import Action, NotAuthorized
from ..httpapi import APIError
from ..httpmw import store
from .forms import read_form
from .pages import blueprint, page, signed_in
from .regions import region_path

blueprint.add_app_template_filter(region_path, "region_path")  # app links, per region
BUILDS_SHOWN = 25
# What each state allows, as Coder's dashboard (a build in progress allows none of these).
OFFERED = {
    "running": ("stop", "restart", "update", "delete"),
    "stopped": ("start", "update", "delete"),
    "failed": ("start", "stop", "delete"),
    "canceled": ("start", "stop", "delete"),
}
ACTIONS = ("start", "stop", "restart", "update", "delete")
# The stop first, then what follows it (``?then=``) once the stop has succeeded.
STOP_FIRST = {"restart": "start", "update": "update"}
NOT_FOUND = "Workspace not found, or you may not see it."


def _workspace_row(username: str, name: str) -> dict:
    """The workspace as the viewer may see it; one 404 for a missing user, a missing
    workspace and someone else's (nothing tells them apart)."""
    try:
        row = store().get_workspace_by_owner_and_name(user_param(username).id, name)
    except (APIError, NotAuthorized):
        row = None
    if row is None:
        raise APIError(404, NOT_FOUND)
    return row


def _by_state(ws: types.Workspace) -> list[str]:
    return [a for a in OFFERED.get(ws.latest_build.status, ()) if a != "update" or ws.outdated]


def _permitted(row: dict, action: str) -> bool:
    return store().can(Action.DELETE if action == "delete" else Action.UPDATE, workspace_obj(row))


def offered(ws: types.Workspace, row: dict) -> list[str]:
    """The actions this viewer may take on the workspace in its present state."""
    return [a for a in _by_state(ws) if _permitted(row, a)]


def check_offered(ws: types.Workspace, row: dict, action: str) -> None:
    """What a form is refused with when the page would not have offered its action."""
    if action not in ACTIONS:
        raise APIError(400, f"Unknown action {action!r}: use one of {', '.join(ACTIONS)}.")
    if action not in _by_state(ws):
        raise APIError(400, f"A workspace that is {ws.latest_build.status} cannot {action}.")
    if not _permitted(row, action):
        raise APIError(403, f"You may not {action} this workspace.")


@dataclass
class AgentView:
    agent: types.WorkspaceAgent
    logs: list[types.WorkspaceAgentLog]
    apps: list[tuple[types.WorkspaceApp, str]]  # each with its link ('' when it has none)
    ports: list[tuple[int, str, str]]  # port, process, link
    ports_error: str


def _agent_view(ws: types.Workspace, agent: types.WorkspaceAgent) -> AgentView:
    access, wildcard = current_app.extensions["coderd"].settings.effective_access_url, app_host()
    apps = [(a, "" if a.command else app_link(access, wildcard, ws, agent.name, a))
            for a in agent.apps if not a.hidden]
    ports, error = [], ""
    if agent.status == "connected":
        try:
            ports = [(p.port, p.process_name, app_url(access, wildcard, ws, agent.name, p.port, "port"))
                     for p in listening_ports(agent.id).ports]
        except APIError as exc:
            error = exc.message
    logs = [agent_log(r) for r in store().get_workspace_agent_logs_after(agent.id, 0, LOGS_PAGE)]
    return AgentView(agent, logs, apps, ports, error)


def _build_log(build: types.WorkspaceBuild) -> list[types.ProvisionerJobLog]:
    return [jobs.log(r) for r in store().get_provisioner_job_logs_after(build.job.id, 0)]


def _values(row: dict, chosen_number: int | None) -> dict:
    ws = workspace_json([row])[0]
    history = build_json(store().get_workspace_builds_by_workspace_id(row["id"], offset=0,
                                                                       limit=BUILDS_SHOWN))
    chosen_row = store().get_workspace_build_by_number(row["id"], chosen_number) \
        if chosen_number else None
    chosen = build_json([chosen_row])[0] if chosen_row else ws.latest_build
    then = request.args.get("then", "")
    follow_up = then if then in STOP_FIRST.values() and ws.latest_build.transition == "stop" \
        and ws.latest_build.status == "stopped" else ""
    agents = [a for res in ws.latest_build.resources for a in res.agents]
    return dict(ws=ws, rendered=model.dumps(ws).decode(), history=history, chosen=chosen,
                chosen_log=[] if chosen.job.completed_at is None else _build_log(chosen),
                actions=offered(ws, row), follow_up=follow_up,
                agents=[_agent_view(ws, a) for a in agents], ssh_lines=_ssh_lines(ws),
                page_url=url_for("dashboard.workspace", username=ws.owner_name, name=ws.name),
                now=dt.datetime.now(dt.timezone.utc))


def _ssh_lines(ws: types.Workspace) -> list[tuple[str, str, str]]:
    """``coder ssh`` and config-ssh's host for this workspace, as its viewer types them (the
    owner's name too, for someone else's)."""
    mine = ws.owner_id == g.subject.id
    return [("coder-ssh", "With the coder CLI",
             "coder ssh " + (ws.name if mine else f"{ws.owner_name}/{ws.name}")),
            ("config-ssh", "With OpenSSH, after coder config-ssh",
             f"ssh {SSH_HOST_PREFIX}" + (ws.name if mine else f"{ws.owner_name}--{ws.name}"))]


@blueprint.app_template_filter("job_seconds")
def job_seconds(job: types.ProvisionerJob, now: dt.datetime) -> float | None:
    """How long a build's job ran (so far, while it runs); None before it starts (shown by
    the ``duration`` filter)."""
    if job.started_at is None:
        return None
    return ((job.completed_at or now) - job.started_at).total_seconds()


@blueprint.get("/@<username>/<name>")
@signed_in
def workspace(username: str, name: str):
    live = bool(request.headers.get("HX-Request"))
    try:
        row = _workspace_row(username, name)
    except APIError:
        if not live:
            raise
        return _gone()  # deleted while the page was open
    number = request.args.get("build", "")
    values = _values(row, int(number) if number.isdigit() else None)
    return page("workspace_live.html" if live else "workspace.html", **values)


def _gone():
    """htmx's answer that sends the page to the workspaces list."""
    resp = current_app.response_class("", status=200)
    resp.headers["HX-Redirect"] = url_for("dashboard.workspaces")
    return resp


def _build_request(action: str, ws: types.Workspace) -> types.CreateWorkspaceBuildRequest:
    if action in STOP_FIRST and ws.latest_build.status == "running":
        return types.CreateWorkspaceBuildRequest(transition="stop")
    if action == "update":
        return types.CreateWorkspaceBuildRequest(
            transition="start", template_version_id=ws.template_active_version_id)
    return types.CreateWorkspaceBuildRequest(transition=action)


def _signed_in_form() -> dict[str, str]:
    """The posted form, its origin and token checked first: a form from another site is
    refused as such (403), whether or not its browser sent the session cookie."""
    form = read_form()
    if g.get("subject") is None:
        raise APIError(401, "Sign in to act on a workspace.")
    return form


def _act(row: dict, action: str) -> str:
    """Queue ``action``'s build, if the state and the viewer allow it (else a 4xx); what
    is to follow once a stop queued first has succeeded ('' when nothing is)."""
    ws = workspace_json([row])[0]
    check_offered(ws, row, action)
    req = _build_request(action, ws)
    start_build(row, req)
    return STOP_FIRST[action] if req.transition == "stop" and action in STOP_FIRST else ""


@blueprint.post("/@<username>/<name>/builds")
def workspace_action(username: str, name: str):
    form = _signed_in_form()
    row = _workspace_row(username, name)
    action = form.get("transition", "")
    if action == "delete":
        raise APIError(400, "A delete needs its confirmation page.")
    try:
        then = _act(row, action)
    except APIError as exc:
        return page("workspace.html", exc.status, action_error=exc.message, **_values(row, None))
    target = url_for("dashboard.workspace", username=username, name=name)
    return redirect(target + (f"?then={then}" if then else ""), code=303)


@blueprint.get("/@<username>/<name>/delete")
@signed_in
def workspace_delete(username: str, name: str):
    row = _workspace_row(username, name)
    ws = workspace_json([row])[0]
    try:
        check_offered(ws, row, "delete")
    except APIError as exc:  # said at once, not after the name is typed
        return page("workspace_delete.html", exc.status, ws=ws, refused=exc.message)
    return page("workspace_delete.html", ws=ws)


@blueprint.post("/@<username>/<name>/delete")
def workspace_delete_post(username: str, name: str):
    form = _signed_in_form()
    row = _workspace_row(username, name)
    ws = workspace_json([row])[0]
    if form.get("confirm", "") != ws.name:
        return page("workspace_delete.html", 400, ws=ws,
                    error=f"Type the workspace's name, {ws.name}, to delete it.")
    try:
        check_offered(ws, row, "delete")
        start_build(row, types.CreateWorkspaceBuildRequest(transition="delete"))
    except APIError as exc:
        return page("workspace_delete.html", exc.status, ws=ws, refused=exc.message)
    return redirect(url_for("dashboard.workspace", username=username, name=name), code=303)
