"""Workspace agents: the calls an agent makes with its token (``/workspaceagents/me/...``)
and what users read of an agent, with Coder's paths and JSON.

An agent's requests are authenticated by ``httpmw.authenticate_agent`` and act as
the agent's own subject, which reaches only its own rows. Every one of them is a
heartbeat (``agentconn.mark_connected``).
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent
from flask import current_app, g, request
from geventwebsocket.exceptions import WebSocketError

from appliance.sdk import agentsdk, model, types

from .. import agentconn, gitsshkey
from ..db.queries.agents import (LOGS_PAGE, MAX_LOG_SOURCES, agent_logs_channel,
                                 agent_metadata_channel)
from ..httpapi import INT64_MAX, APIError, not_found, parse_uuid, query_int, read, write
from ..httpmw import release_connection, store
from ..upgradecheck import websocket
from . import events, jobs
from .convert import from_row
from .router import QueryParam, Router

router = Router("workspaceagents", "Agents")
route = router.route
ME = "/workspaceagents/me"
# Coder's limits on one metadata value and its error.
MAX_METADATA_VALUE = 2048
# What one stats report may hold: counters below 2**48 (256 TiB of traffic), so summing the
# reports of one row (queries' merge_within) cannot overflow a bigint.
MAX_STATS_COUNTER = 2 ** 48
MAX_STATS_PROTOCOLS = 32
STATS_COUNTERS = ("connection_count", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes",
                  "session_count_vscode", "session_count_jetbrains",
                  "session_count_reconnecting_pty", "session_count_ssh")
# Without a notification, followers and watchers still look this often.
POLL_SECONDS = 1.0
LOGS_QUERY = (QueryParam("after", "Only logs with an ID above this one", "integer"),
              QueryParam("limit", f"At most this many lines (default and most: {LOGS_PAGE}); "
                                  "page on with after", "integer"),
              QueryParam("follow", "true: stream the logs over a websocket", "boolean"))
# Lines one request may append (the agent sends at most 200 at a time).
MAX_LOG_LINES_PER_REQUEST = 1000


def me() -> dict:
    """The calling agent's row; recording, on the way, that it is connected."""
    agentconn.mark_connected(store(), g.agent["id"])
    return g.agent


def ok(message: str) -> object:
    return write(200, types.Response(message=message))


def no_content() -> object:
    return current_app.response_class(status=204)


# --- what the agent calls -----------------------------------------------------------------

def manifest(row: dict) -> agentsdk.Manifest:
    settings = current_app.extensions["coderd"].settings
    port_proxy = ""
    if settings.app_host_suffix:
        access = urlsplit(settings.effective_access_url)
        suffix = settings.app_host_suffix
        port = f":{access.port}" if access.port else ""
        port_proxy = (f"{access.scheme}://{{{{port}}}}--{row['name']}--{row['workspace_name']}"
                      f"--{row['owner_name']}{suffix}{port}")
    agent = jobs.agent(row, dt.datetime.now(dt.timezone.utc))
    return from_row(
        agentsdk.Manifest, row, agent_id=row["id"], agent_name=row["name"], apps=agent.apps,
        scripts=agent.scripts, metadata=[metadata_description(m) for m in row["metadata"]],
        environment_variables=agent.environment_variables, vscode_port_proxy_uri=port_proxy)


@route("GET", f"{ME}/manifest", summary="The calling agent's manifest (agent token)",
       response=agentsdk.Manifest)
def agent_manifest():
    row = store().get_workspace_agent_by_id(me()["id"])
    return write(200, manifest(row))


@route("POST", f"{ME}/report-lifecycle", summary="Report the agent's lifecycle state (agent token)",
       request=agentsdk.PostLifecycleRequest, status=204)
def agent_report_lifecycle():
    agent_id = me()["id"]
    req = read(agentsdk.PostLifecycleRequest)
    store().update_workspace_agent_lifecycle(agent_id, req.state, req.changed_at)
    return no_content()


@route("POST", f"{ME}/startup", summary="Report the agent's version and directory (agent token)",
       request=agentsdk.PostStartupRequest, response=types.Response)
def agent_startup():
    agent_id = me()["id"]
    req = read(agentsdk.PostStartupRequest)
    store().update_workspace_agent_startup(agent_id, version=req.version,
                                           expanded_directory=req.expanded_directory,
                                           subsystems=req.subsystems, api_version="2.0")
    return ok("Startup recorded.")


@route("POST", f"{ME}/log-source", summary="Register a log source of the agent (agent token)",
       request=agentsdk.PostLogSourceRequest, response=types.WorkspaceAgentLogSource, status=201)
def agent_log_source():
    agent_id = me()["id"]
    req = read(agentsdk.PostLogSourceRequest)
    if not req.display_name.strip():
        raise APIError(400, "A log source needs a display name.",
                       validations=[types.ValidationError("display_name", "must not be empty")])
    s = store()
    if not s.insert_workspace_agent_log_source(agent_id, req.id, req.display_name, req.icon):
        raise APIError(400, "Too many log sources.",
                       f"An agent may register at most {MAX_LOG_SOURCES} log sources.",
                       [types.ValidationError("id", f"is past the limit of {MAX_LOG_SOURCES}")])
    row = next(r for r in s.get_workspace_agent_log_sources(agent_id) if r["id"] == req.id)
    return write(201, log_source(row))


@dataclass
class _UndecodedLogs:
    """``PatchLogs`` with its lines left as JSON until they are counted."""
    log_source_id: uuid.UUID
    logs: Any


def _read_logs() -> agentsdk.PatchLogs:
    """The request's lines, refused past MAX_LOG_LINES_PER_REQUEST before they are decoded:
    decoding 140,000 of them held the worker's event loop for seconds."""
    undecoded = read(_UndecodedLogs)
    if isinstance(undecoded.logs, list) and len(undecoded.logs) > MAX_LOG_LINES_PER_REQUEST:
        raise APIError(400, "Too many log lines.",
                       f"At most {MAX_LOG_LINES_PER_REQUEST} lines per request.",
                       [types.ValidationError("logs", f"must hold at most "
                                                      f"{MAX_LOG_LINES_PER_REQUEST} lines")])
    try:
        return model.decode(agentsdk.PatchLogs, {"log_source_id": str(undecoded.log_source_id),
                                                 "logs": undecoded.logs})
    except model.DecodeError as exc:  # as ``read`` answers it
        raise APIError(400, "Validation failed.", str(exc),
                       [types.ValidationError(v.field, v.detail) for v in exc.validations]) from None


def _append_logs():
    agent_id = me()["id"]
    req = _read_logs()
    if not req.logs:
        return ok("No logs to append.")
    s = store()
    if req.log_source_id not in {r["id"] for r in s.get_workspace_agent_log_sources(agent_id)}:
        raise APIError(400, f"Log source {req.log_source_id} not found.",
                       "Register it first with POST /api/v2/workspaceagents/me/log-source.",
                       [types.ValidationError("log_source_id", "is not this agent's")])
    lines = [(log.created_at, log.level, log.output) for log in req.logs]
    if not s.insert_workspace_agent_logs(agent_id, req.log_source_id, lines):
        raise APIError(413, "Logs limit exceeded.",
                       "This agent's logs passed 1 MiB; later lines are dropped.")
    return ok("Logs appended.")


@route("PATCH", f"{ME}/logs", summary="Append lines to the agent's logs (agent token)",
       request=agentsdk.PatchLogs, response=types.Response)
def agent_patch_logs():
    return _append_logs()


@route("POST", f"{ME}/logs", summary="Append lines to the agent's logs (agent token; as PATCH)",
       request=agentsdk.PatchLogs, response=types.Response)
def agent_post_logs():
    return _append_logs()


@route("POST", f"{ME}/report-stats", summary="Report stats, the agent's heartbeat (agent token)",
       request=agentsdk.Stats, response=agentsdk.StatsResponse)
def agent_report_stats():
    agent_id = me()["id"]
    req = read(agentsdk.Stats)
    _check_stats(req)
    store().insert_workspace_agent_stats(agent_id, model.encode(req),
                                         merge_within=agentconn.heartbeat_interval() / 2)
    return write(200, agentsdk.StatsResponse(
        report_interval=int(agentconn.heartbeat_interval() * 1_000_000_000)))


def _check_stats(req: agentsdk.Stats) -> None:
    """An agent's stats within what a real one reports (its workspace's owner controls it)."""
    wrong = []
    if len(req.connections_by_proto) > MAX_STATS_PROTOCOLS or \
            any(len(k) > 64 or not 0 <= v <= MAX_STATS_COUNTER for k, v in req.connections_by_proto.items()):
        wrong.append(types.ValidationError("connections_by_proto", f"at most {MAX_STATS_PROTOCOLS} "
                                           "protocols of up to 64 characters, counts in range"))
    for name in STATS_COUNTERS:
        if not 0 <= getattr(req, name) <= MAX_STATS_COUNTER:
            wrong.append(types.ValidationError(name, f"must be between 0 and {MAX_STATS_COUNTER}"))
    if not 0 <= req.connection_median_latency_ms <= MAX_STATS_COUNTER:  # also refuses NaN
        wrong.append(types.ValidationError("connection_median_latency_ms", "must be a latency"))
    if wrong:
        raise APIError(400, "Stats out of range.", validations=wrong)


@route("POST", f"{ME}/app-health", summary="Report the health of the agent's apps (agent token)",
       request=agentsdk.PostAppHealthsRequest, response=types.Response)
def agent_app_health():
    agent_id = me()["id"]
    req = read(agentsdk.PostAppHealthsRequest)
    healths = {parse_uuid(app_id, f"healths.{app_id}"): health
               for app_id, health in req.healths.items()}
    unknown = store().update_workspace_app_health(agent_id, healths)
    if unknown:
        raise APIError(400, f"App {unknown[0]} is not an app of this agent.",
                       validations=[types.ValidationError(f"healths.{a}", "is not this agent's")
                                    for a in unknown])
    return ok("App health updated.")


@route("POST", f"{ME}/metadata", summary="Report collected metadata values (agent token)",
       request=agentsdk.PostMetadataRequest, status=204)
def agent_metadata():
    agent_id = me()["id"]
    req = read(agentsdk.PostMetadataRequest)
    results = []
    for m in req.metadata:
        value, error = m.value, m.error
        if len(value) > MAX_METADATA_VALUE:
            error = f"value of {len(value)} bytes exceeded {MAX_METADATA_VALUE} bytes"
            value = value[:MAX_METADATA_VALUE]
        results.append({"key": m.key, "value": value, "error": error[:MAX_METADATA_VALUE],
                        "collected_at": m.collected_at})
    store().update_workspace_agent_metadata(agent_id, results)
    return no_content()


@route("GET", f"{ME}/gitsshkey", summary="The workspace owner's git SSH key (agent token)",
       response=agentsdk.GitSSHKey)
def agent_git_ssh_key():
    s = store()
    owner_id = s.get_workspace_agent_owner_id(me()["id"])
    if owner_id is None:
        raise not_found("Workspace")
    # The agent holds no role over users: it reads its own owner's key as the system.
    key = gitsshkey.of_user(s.as_system("agent-reads-owner-git-ssh-key"), owner_id)
    return write(200, from_row(agentsdk.GitSSHKey, key))


@route("POST", f"{ME}/script-completed",
       summary="Report a run of one of the agent's scripts, for its build's timings (agent token)",
       request=agentsdk.ScriptCompletedRequest, status=204)
def agent_script_completed():
    agent_id = me()["id"]
    t = read(agentsdk.ScriptCompletedRequest).timing
    if t.end < t.start:
        raise APIError(400, "A script cannot end before it starts.",
                       validations=[types.ValidationError("timing.end", "is before start")])
    if not store().insert_workspace_agent_script_timing(agent_id, t.script_id, t.start, t.end,
                                                        t.exit_code, t.stage, t.status):
        raise not_found("Workspace agent script")
    return no_content()


# --- what users read ------------------------------------------------------------------------

def agent_param(value: str) -> dict:
    row = store().get_workspace_agent_by_id(parse_uuid(value, "workspaceagent"))
    if row is None:
        raise not_found("Workspace agent")
    return row


def log_source(row: dict) -> types.WorkspaceAgentLogSource:
    return from_row(types.WorkspaceAgentLogSource, row)


def agent_log(row: dict) -> types.WorkspaceAgentLog:
    return from_row(types.WorkspaceAgentLog, row, source_id=row["log_source_id"])


@route("GET", "/workspaceagents/<workspaceagent>", summary="Get a workspace agent",
       response=types.WorkspaceAgent)
def get_workspace_agent(workspaceagent: str):
    return write(200, jobs.agent(agent_param(workspaceagent), dt.datetime.now(dt.timezone.utc)))


@route("GET", "/workspaceagents/<workspaceagent>/logs", query=LOGS_QUERY,
       summary="A workspace agent's logs (?follow=true over a websocket)",
       response=list[types.WorkspaceAgentLog])
def workspace_agent_logs(workspaceagent: str):
    return _logs_page(workspaceagent)


@route("GET", "/workspaceagents/<workspaceagent>/startup-logs", query=LOGS_QUERY,
       summary="Deprecated in Coder: the same as .../logs", response=list[types.WorkspaceAgentLog])
def workspace_agent_startup_logs(workspaceagent: str):
    return _logs_page(workspaceagent)


def _logs_page(workspaceagent: str):
    agent_id = agent_param(workspaceagent)["id"]
    if request.args.get("follow", "").lower() in ("true", "1"):
        raise APIError(400, "follow=true needs a websocket.",
                       "Connect with a websocket client (Upgrade: websocket) to follow the logs.")
    rows = store().get_workspace_agent_logs_after(agent_id, query_int("after", 0, maximum=INT64_MAX),
                                                  query_int("limit", LOGS_PAGE, 1, LOGS_PAGE))
    return write(200, [agent_log(r) for r in rows])


@route("GET", "/workspaceagents/<workspaceagent>/logs", query=LOGS_QUERY, websocket=True,
       summary="Follow a workspace agent's logs (websocket)",
       response=list[types.WorkspaceAgentLog])
def follow_workspace_agent_logs(workspaceagent: str):
    return _follow_logs(workspaceagent)


@route("GET", "/workspaceagents/<workspaceagent>/startup-logs", query=LOGS_QUERY, websocket=True,
       summary="Deprecated in Coder: the same as .../logs (websocket)",
       response=list[types.WorkspaceAgentLog])
def follow_workspace_agent_startup_logs(workspaceagent: str):
    return _follow_logs(workspaceagent)


def _follow_logs(workspaceagent: str):
    """Send the backlog, then each new line, as JSON text messages until the client closes."""
    ws = websocket()
    agent_id = agent_param(workspaceagent)["id"]
    after = query_int("after", 0, maximum=INT64_MAX)
    woken = threading.Event()  # cooperative under gevent's patching
    closed = gevent.spawn(events.read_until_closed, ws, woken)
    unsubscribe = events.subscribe(agent_logs_channel(agent_id), woken)
    try:
        while not closed.ready():
            woken.clear()
            rows = store().get_workspace_agent_logs_after(agent_id, after)
            release_connection()  # hold no database connection while waiting
            for row in rows:
                ws.send(model.dumps(agent_log(row)).decode())
                after = row["id"]
            if len(rows) < LOGS_PAGE:  # a full page: the next one is sent without waiting
                woken.wait(POLL_SECONDS)
    except WebSocketError:  # the client went away
        pass
    finally:
        unsubscribe()
        closed.kill(block=False)
        if not ws.closed:
            ws.close()
    return current_app.response_class(status=200)


def metadata(rows: list[dict], now: dt.datetime) -> list[types.WorkspaceAgentMetadata]:
    return [types.WorkspaceAgentMetadata(
        result=from_row(types.WorkspaceAgentMetadataResult, m,
                        age=max(0, int((now - m["collected_at"]).total_seconds()))),
        description=metadata_description(m)) for m in rows]


def metadata_description(row: dict) -> types.WorkspaceAgentMetadataDescription:
    return from_row(types.WorkspaceAgentMetadataDescription, row,
                    interval=row["interval_seconds"], timeout=row["timeout_seconds"])


@route("GET", "/workspaceagents/<workspaceagent>/watch-metadata",
       summary="Watch a workspace agent's metadata (server-sent events, as Coder)",
       response=list[types.WorkspaceAgentMetadata], content_type="text/event-stream")
def watch_workspace_agent_metadata(workspaceagent: str):
    """A ``data`` event with every value now and after each change, ``ping`` between."""
    return events.sse_response(*_metadata_events(workspaceagent))


@route("GET", "/workspaceagents/<workspaceagent>/watch-metadata-ws", websocket=True,
       checks_first=True, summary="Watch a workspace agent's metadata (websocket: each "
                                  "message a ServerSentEvent, as Coder)",
       response=types.ServerSentEvent)
def watch_workspace_agent_metadata_ws(workspaceagent: str):
    return events.websocket_events(*_metadata_events(workspaceagent))


def _metadata_events(workspaceagent: str):
    """The channel and the renderer of an agent's metadata, for ``events``."""
    agent_id = agent_param(workspaceagent)["id"]
    return agent_metadata_channel(agent_id), lambda: metadata(
        store().get_workspace_agent_metadata(agent_id), dt.datetime.now(dt.timezone.utc))
