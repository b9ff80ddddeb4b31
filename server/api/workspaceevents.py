"""What the dashboard follows of a workspace: its changes as they happen (Coder's
``/watch``, server-sent events, and ``/watch-ws``), and where a build's time went
(``/timings``: terraform's steps, the agents' connection and scripts)."""
from __future__ import annotations

from appliance.sdk import types

from ..db.queries.dashboard import workspace_channel
from ..httpapi import write
from ..httpmw import store
from . import events
from .convert import from_row
from .router import Router
from .workspaces import build_param, workspace_param, workspaces

router = Router("workspaceevents", "Workspaces")
route = router.route


def _current(workspace_id):
    """The workspace as GET /workspaces/{id} shows it (404 once it is gone)."""
    return lambda: workspaces([workspace_param(str(workspace_id))])[0]


@route("GET", "/workspaces/<workspace>/watch",
       summary="Watch a workspace (server-sent events: ping, then data on every change)",
       response=types.Workspace, content_type="text/event-stream")
def watch_workspace(workspace: str):
    row = workspace_param(workspace)
    return events.sse_response(workspace_channel(row["id"]), _current(row["id"]))


@route("GET", "/workspaces/<workspace>/watch-ws", websocket=True, checks_first=True,
       summary="Watch a workspace (websocket: each message a ServerSentEvent)",
       response=types.ServerSentEvent)
def watch_workspace_ws(workspace: str):
    row = workspace_param(workspace)
    return events.websocket_events(workspace_channel(row["id"]), _current(row["id"]))


def build_timings(job_id) -> types.WorkspaceBuildTimings:
    s = store()
    return types.WorkspaceBuildTimings(
        provisioner_timings=[from_row(types.ProvisionerTiming, t)
                             for t in s.get_provisioner_job_timings(job_id)],
        agent_script_timings=[from_row(types.AgentScriptTiming, t)
                              for t in s.get_workspace_agent_script_timings(job_id)],
        agent_connection_timings=[from_row(types.AgentConnectionTiming, t, stage="connect")
                                  for t in s.get_workspace_agent_connection_timings(job_id)])


@route("GET", "/workspaces/<workspace>/timings", summary="The timings of a workspace's latest build",
       response=types.WorkspaceBuildTimings)
def workspace_timings(workspace: str):
    row = workspace_param(workspace)
    latest = store().get_latest_workspace_builds_by_workspace_ids([row["id"]])[0]
    return write(200, build_timings(latest["job_id"]))


@route("GET", "/workspacebuilds/<workspacebuild>/timings", summary="A workspace build's timings",
       response=types.WorkspaceBuildTimings)
def workspace_build_timings(workspacebuild: str):
    return write(200, build_timings(build_param(workspacebuild)["job_id"]))
