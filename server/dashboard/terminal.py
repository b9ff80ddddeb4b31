"""The web terminal: Coder's ``/@{username}/{workspace}.{agent}/terminal`` page.

The page is xterm.js (vendored, see docs/dashboard.md) and ``static/terminal.js``,
which opens the API's reconnecting PTY (``/api/v2/workspaceagents/{id}/pty``) as a
websocket of this origin, authenticated by the session cookie: coderd's origin check
(``server.csrf``) refuses one opened by a page of any other origin. The page asks the
same questions as that websocket, through the API's own functions, before it offers a
terminal: the viewer may read the workspace (else 404, as Coder: a member opening
another's terminal learns nothing) and open streams to its agent (``connect_target``:
its owner, and deployment owners, as in Coder). The reconnect ID is in the page's URL
(``?reconnect=UUID``), so a reload, like a dropped connection, comes back to the same
shell and the output it missed.
"""
from __future__ import annotations

import uuid

from flask import request

from appliance.sdk import types

from ..api.relay import connect_target
from ..api.users import user_param
from ..api.workspaces import workspaces as workspace_json
from ..authz.rbac import NotAuthorized
from ..httpapi import APIError, not_found
from ..httpmw import store
from .pages import blueprint, page, signed_in


def pick_agent(workspace: types.Workspace, agent_name: str) -> types.WorkspaceAgent:
    """The agent named (any name when the workspace has exactly one agent)."""
    agents = [a for r in workspace.latest_build.resources for a in r.agents]
    named = [a for a in agents if a.name == agent_name] if agent_name else agents
    if not named:
        raise APIError(404, "Workspace agent not found.",
                       f"Is workspace {workspace.name!r} started"
                       + (f", with an agent {agent_name!r}?" if agent_name else "?"))
    if len(named) > 1:
        raise APIError(400, f"Workspace {workspace.name!r} has several agents.",
                       "Open the terminal of one: " + ", ".join(
                           f"{workspace.name}.{a.name}" for a in named) + ".")
    return named[0]


def reconnect_id() -> str:
    """The page's ``reconnect`` query parameter if it is a UUID, else a new one."""
    try:
        return str(uuid.UUID(request.args.get("reconnect", "")))
    except ValueError:
        return str(uuid.uuid4())


def viewable_workspace(username: str, name: str) -> types.Workspace:
    """The workspace, if the viewer may see it; else one 404 whatever the reason (no such
    user, no such workspace, not theirs to see), so the answer tells nothing."""
    try:
        row = store().get_workspace_by_owner_and_name(user_param(username).id, name)
    except (APIError, NotAuthorized) as exc:
        if isinstance(exc, APIError) and exc.status != 404:
            raise
        row = None
    if row is None:
        raise not_found("Workspace")
    return workspace_json([row])[0]


@blueprint.get("/@<username>/<workspace_and_agent>/terminal")
@signed_in
def terminal(username: str, workspace_and_agent: str):
    name, _, agent_name = workspace_and_agent.partition(".")
    workspace = viewable_workspace(username, name)
    agent = pick_agent(workspace, agent_name)
    connect_target(agent.id)
    return page("terminal.html", workspace=workspace, agent=agent, reconnect=reconnect_id())
