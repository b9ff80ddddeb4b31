"""Coder's port sharing: a workspace's owner opens a port of its agent, on its subdomain
(``PORT--AGENT--WORKSPACE--USER`` under the wildcard access URL), to every user, the
organization's members, or anyone; ``server.relay.apps`` lets them in by that level.
As Coder's open-source edition: no template caps the level. Ports are proxied over plain
HTTP, so ``https`` is refused."""
from __future__ import annotations

from flask import current_app

from appliance.sdk import types

from .. import audit
from ..httpapi import APIError, read, write
from ..httpmw import store
from .convert import from_row
from .router import Router
from .workspaces import workspace_param, workspaces

router = Router("portshares", "PortSharing")
route = router.route
SHARE_LEVELS = ("authenticated", "organization", "public")


def share(row: dict) -> types.WorkspaceAgentPortShare:
    return from_row(types.WorkspaceAgentPortShare, row)


@route("GET", "/workspaces/<workspace>/port-share", summary="A workspace's shared ports",
       response=types.WorkspaceAgentPortShares)
def list_port_shares(workspace: str):
    rows = store().get_workspace_port_shares(workspace_param(workspace)["id"])
    # Coder's nil slice: null when there are none.
    return write(200, types.WorkspaceAgentPortShares(shares=[share(r) for r in rows] or None))


@route("POST", "/workspaces/<workspace>/port-share",
       summary="Share a port of the workspace's agent (or change its level)",
       request=types.UpsertWorkspaceAgentPortShareRequest,
       response=types.WorkspaceAgentPortShare)
def upsert_port_share(workspace: str):
    row = workspace_param(workspace)
    req = read(types.UpsertWorkspaceAgentPortShareRequest)
    if req.share_level not in SHARE_LEVELS:
        raise APIError(400, "Port sharing level not allowed.", validations=[
            types.ValidationError("share_level", "Port sharing level not allowed.")])
    if not 9 <= req.port <= 65535:
        raise APIError(400, "Port must be between 9 and 65535.", validations=[
            types.ValidationError("port", "Port must be between 9 and 65535.")])
    if req.protocol != "http":
        raise APIError(400, "Port protocol not allowed.",
                       "coderd reaches shared ports over plain HTTP.")
    agents = {a.name for r in workspaces([row])[0].latest_build.resources for a in r.agents}
    if req.agent_name not in agents:
        raise APIError(400, "Agent not found.")
    saved = store().upsert_workspace_port_share(row["id"], req.agent_name, req.port,
                                                req.share_level, req.protocol)
    _audit(row, req.agent_name, req.port, req.share_level)
    return write(200, share(saved))


@route("DELETE", "/workspaces/<workspace>/port-share", summary="Stop sharing a port",
       request=types.DeleteWorkspaceAgentPortShareRequest)
def delete_port_share(workspace: str):
    row = workspace_param(workspace)
    req = read(types.DeleteWorkspaceAgentPortShareRequest)
    if not store().delete_workspace_port_share(row["id"], req.agent_name, req.port):
        raise APIError(404, "Port share not found.")
    _audit(row, req.agent_name, req.port, "owner")
    return current_app.response_class(status=200)


def _audit(row: dict, agent_name: str, port: int, level: str) -> None:
    audit.record("write", "workspace", row["id"], row["name"], organization_id=row["organization_id"],
                 additional={"port_share": {"agent_name": agent_name, "port": port,
                                            "share_level": level}})
