"""The relay's API: the agent's connection, and clients' streams into workspaces.

``/workspaceagents/me/relay`` is the agent's one websocket (agent token).
Clients open one connection per stream (``connect`` for SSH and TCP, by agent
ID or by workspace name; ``pty`` for Coder's reconnecting terminal) or ask
for the listening ports; coderd authorizes each as the workspace's owner (the
``ssh`` action) before any byte reaches the agent, and forwards it to the
process holding the agent. ``connect`` streams are websockets (binary
messages) or, with ``Upgrade: tcp``, the connection itself (see
``relay.tcpupgrade``).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Mapping

import gevent
from flask import current_app, g, request

from appliance.sdk import model
from appliance.sdk.rawstream import AGENT_NOT_CONNECTED
from appliance.sdk.relay import WorkspaceAgentListeningPortsResponse

from ..authz.rbac import Action, NotAuthorized
from ..httpapi import APIError, not_found, parse_uuid, query_int, write
from ..httpmw import release_connection, store, system_store
from ..relay import AgentUnavailable, relay, tcpupgrade
from ..relay.websocket import bridge, server_stream
from ..upgradecheck import websocket
from .router import QueryParam, Router
from .users import user_param

router = Router("relay", "Agents")
route = router.route

# What a workspace agent (which its workspace's owner controls) may answer to listening-ports.
MAX_LISTENING_PORTS = 1 << 20
LISTENING_PORTS_TIMEOUT = 10.0
TARGET = re.compile(r"^(ssh|tcp:([A-Za-z0-9.\-]+:)?\d{1,5})$")
TARGET_QUERY = QueryParam("target", "ssh, tcp:PORT or tcp:HOST:PORT (as seen from the agent)")
PTY_QUERY = (QueryParam("reconnect", "The terminal's ID: reconnecting with it resumes the same shell"),
             QueryParam("width", "Columns", "integer"), QueryParam("height", "Rows", "integer"),
             QueryParam("command", "Command to run instead of a login shell"))


def connect_target(agent_id: uuid.UUID) -> dict:
    """The agent, if the caller may open streams to it (404 when they may not see it)."""
    try:
        row = store().get_agent_connect_target(agent_id)
    except NotAuthorized as exc:
        if exc.action is Action.READ:
            raise not_found("Workspace agent") from None
        raise APIError(403, "Forbidden.", "You may not connect to this workspace.") from None
    if row is None:
        raise not_found("Workspace agent")
    return row


def open_stream(agent_id: uuid.UUID, target: str):
    release_connection()  # a stream can last hours: hold no database connection
    try:
        return relay().open(agent_id, target)
    except AgentUnavailable as exc:
        raise APIError(502, AGENT_NOT_CONNECTED, str(exc)) from exc
    except OSError as exc:  # the agent refused the target (nothing listening, bad port)
        raise APIError(502, "The workspace agent could not open the stream.", str(exc)) from exc


class _AgentTooSlow(Exception):
    pass


def _done():
    return current_app.response_class(status=200)


@route("GET", "/workspaceagents/me/relay", websocket=True, auth=False,
       summary="The agent's relay connection: clients' streams multiplexed on one websocket "
               "(agent token; a refused token closes with code 4401)")
def agent_relay():
    ws = websocket()
    if g.get("agent") is None:
        raise APIError(401, g.get("auth_error") or "A workspace agent token is required.")
    agent_id = g.agent["id"]
    release_connection()
    relay().serve_agent(agent_id, server_stream(ws))
    return _done()


@route("GET", "/workspaceagents/<workspaceagent>/connect", websocket=True, tcp_upgrade=True,
       query=(TARGET_QUERY,),
       summary="A byte stream to the agent's SSH server or a TCP port: a websocket of binary "
               "messages, or with 'Upgrade: tcp' the connection itself after 101")
def agent_connect(workspaceagent: str):
    agent_id = parse_uuid(workspaceagent, "workspaceagent")
    target = _target()
    connect_target(agent_id)
    return _serve_stream(agent_id, target)


@route("GET", "/users/<user>/workspace/<workspacename>/connect", websocket=True, tcp_upgrade=True,
       query=(TARGET_QUERY, QueryParam("agent", "The agent's name; needed when the workspace has several")),
       summary="Like /workspaceagents/{id}/connect, for a workspace named by owner and name: one "
               "request where a client would otherwise look the agent up first")
def workspace_connect(user: str, workspacename: str):
    target = _target()
    owner = user_param(user)
    agent_name = request.args.get("agent", "")
    agents = system_store("connect-by-name").get_agents_by_workspace_path(owner.username,
                                                                          workspacename)
    if agent_name:
        agents = [a for a in agents if a["name"] == agent_name]
    if not agents:
        raise APIError(404, "Workspace agent not found.",
                       f"Is workspace {workspacename!r} started" + (f", with an agent {agent_name!r}?"
                                                                   if agent_name else "?"))
    connect_target(agents[0]["id"])  # the caller may see this workspace before learning more
    if len(agents) > 1:
        names = ", ".join(a["name"] for a in agents)
        raise APIError(400, f"Workspace {workspacename!r} has several agents ({names}).",
                       "Name one with the agent query parameter.")
    return _serve_stream(agents[0]["id"], target)


def _target() -> str:
    """The stream's target, once the request is known to be an upgrade."""
    if request.environ.get("wsgi.websocket") is None and not tcpupgrade.requested(request.environ):
        raise APIError(400, "Expected a connection upgrade.",
                       "Send 'Connection: Upgrade' with 'Upgrade: tcp' or 'Upgrade: websocket'.")
    target = request.args.get("target", "ssh")
    if not TARGET.match(target):
        raise APIError(400, f"Invalid target {target!r}.", "Use ssh, tcp:PORT or tcp:HOST:PORT.")
    return target


def _serve_stream(agent_id: uuid.UUID, target: str):
    stream = open_stream(agent_id, target)
    ws = request.environ.get("wsgi.websocket")
    if ws is not None:
        bridge(ws, stream)
    else:
        tcpupgrade.bridge(request.environ, stream)
    return _done()


@route("GET", "/workspaceagents/<workspaceagent>/pty", websocket=True, query=PTY_QUERY,
       summary="Coder's reconnecting terminal (websocket: JSON {data, height, width} in, raw bytes out)")
def agent_pty(workspaceagent: str):
    agent_id = parse_uuid(workspaceagent, "workspaceagent")
    ws = websocket()
    target = pty_target()
    connect_target(agent_id)
    bridge(ws, open_stream(agent_id, target))
    return _done()


def pty_target(args: Mapping[str, str] | None = None) -> str:
    """The agent's target for the terminal the query (this request's, or ``args``) asks for
    (coderd's and proxies')."""
    query = request.args if args is None else args
    try:
        key = str(uuid.UUID(query.get("reconnect", "")))
    except ValueError:
        raise APIError(400, "Query parameter reconnect must be a UUID.") from None
    # A terminal's size is two 16-bit numbers (TIOCSWINSZ), as the agent takes it.
    width, height = (query_int(name, default, 1, 65535, args=args)
                     for name, default in (("width", 80), ("height", 24)))
    command = query.get("command", "")
    return f"pty:{key}:{width}:{height}" + (f":{command}" if command else "")


@route("GET", "/workspaceagents/<workspaceagent>/listening-ports",
       response=WorkspaceAgentListeningPortsResponse,
       summary="TCP ports listening inside the workspace, as the agent sees them")
def agent_listening_ports(workspaceagent: str):
    return write(200, listening_ports(parse_uuid(workspaceagent, "workspaceagent")))


def listening_ports(agent_id: uuid.UUID) -> WorkspaceAgentListeningPortsResponse:
    """The agent's listening ports, if the caller may connect to it (the API's route and the
    dashboard's workspace page); APIError when it may not, or the agent does not answer."""
    connect_target(agent_id)
    stream = open_stream(agent_id, "listening-ports")
    data = bytearray()
    try:
        with gevent.Timeout(LISTENING_PORTS_TIMEOUT, _AgentTooSlow):
            while chunk := stream.recv(65536):
                data += chunk
                if len(data) > MAX_LISTENING_PORTS:
                    raise APIError(502, "The workspace agent's answer is too large.",
                                   f"A list of listening ports is at most {MAX_LISTENING_PORTS} bytes.")
    except _AgentTooSlow:
        raise APIError(504, "The workspace agent did not answer in time.",
                       f"It has {LISTENING_PORTS_TIMEOUT:g}s to list its listening ports.") from None
    finally:
        stream.close()
    try:  # what reaches the caller is what the type holds, nothing else the agent wrote
        return model.decode(WorkspaceAgentListeningPortsResponse, json.loads(data))
    except ValueError as exc:  # not JSON, or not the type (model.DecodeError)
        raise APIError(502, "The workspace agent's answer is not a list of ports.", str(exc)) from None
