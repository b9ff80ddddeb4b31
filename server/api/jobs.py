"""What template versions and workspace builds share: their provisioner job,
its logs (listed, or followed over a websocket), its cancellation, and the
resources it made, in Coder's shapes.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Callable

from flask import current_app, request
from geventwebsocket.exceptions import WebSocketError

from appliance.sdk import model, types

from .. import agentconn
from ..db.queries.provisioner import job_logs_channel
from ..httpapi import INT64_MAX, APIError, query_int, write
from ..httpmw import release_connection, store
from ..upgradecheck import websocket
from .convert import from_row
from .router import QueryParam

LOGS_QUERY = (QueryParam("after", "Only logs with an ID above this one", "integer"),
              QueryParam("follow", "true: stream the logs over a websocket until the job ends",
                         "boolean"))
# Without a notification (pubsub down or absent), followers still look this often.
FOLLOW_POLL_SECONDS = 1.0


def job(row: dict) -> types.ProvisionerJob:
    position, size = 0, 0
    if row["job_status"] == "pending":
        position, size = store().get_queue_position(row["id"])
    inp = row["input"] or {}
    return from_row(
        types.ProvisionerJob, row, error=row["error"] or "", error_code=row["error_code"] or "",
        status=row["job_status"], queue_position=position, queue_size=size,
        input=types.ProvisionerJobInput(
            template_version_id=_maybe_uuid(inp.get("template_version_id")),
            workspace_build_id=_maybe_uuid(inp.get("workspace_build_id"))))


def _maybe_uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def jobs_by_id(job_ids: list[uuid.UUID]) -> dict[uuid.UUID, types.ProvisionerJob]:
    return {r["id"]: job(r) for r in store().get_provisioner_jobs_by_ids(job_ids)}


def log(row: dict) -> types.ProvisionerJobLog:
    return from_row(types.ProvisionerJobLog, row, log_source=row["source"], log_level=row["level"])


def logs(job_id: uuid.UUID):
    """``GET .../logs``: the logs after ``?after``; ``?follow`` needs the websocket route."""
    if request.args.get("follow", "").lower() in ("true", "1"):
        raise APIError(400, "follow=true needs a websocket.",
                       "Connect with a websocket client (Upgrade: websocket) to follow the logs.")
    rows = store().get_provisioner_job_logs_after(job_id, query_int("after", 0, maximum=INT64_MAX))
    return write(200, [log(r) for r in rows])


def follow_logs(job_id: uuid.UUID):
    """Send each log line as a JSON text message, the backlog first, then live ones as
    they are appended, and close once the job has completed, as Coder does."""
    ws = websocket()
    after = query_int("after", 0, maximum=INT64_MAX)
    store().get_provisioner_job_by_id(job_id)  # authorizes before anything is sent
    coderd = current_app.extensions["coderd"]
    woken = threading.Event()  # cooperative under gevent's patching
    unsubscribe = coderd.pubsub.subscribe(job_logs_channel(job_id), lambda _: woken.set()) \
        if coderd.pubsub is not None else None
    try:
        while True:
            woken.clear()
            # The job first: logs written before it completed are then all visible.
            done = store().get_provisioner_job_by_id(job_id)["completed_at"] is not None
            rows = store().get_provisioner_job_logs_after(job_id, after)
            release_connection()  # hold no database connection while waiting
            for row in rows:
                ws.send(model.dumps(log(row)).decode())
                after = row["id"]
            if done:
                break
            woken.wait(FOLLOW_POLL_SECONDS)
    except WebSocketError:  # the client went away: nothing more to send
        pass
    finally:
        if unsubscribe is not None:
            unsubscribe()
        if not ws.closed:
            ws.close()
    return current_app.response_class(status=200)


def log_routes(route: Callable, path: str, what: str, job_id_of: Callable[..., uuid.UUID],
               name: str = "job") -> None:
    """Declare ``GET path`` twice: the websocket that follows, and the plain list.

    Werkzeug routes a websocket request only to a rule declared for websockets,
    so the one path needs both rules (DESIGN.md). ``name`` tells one blueprint's
    log routes apart.
    """
    def follow_job_logs(**params: str):
        return follow_logs(job_id_of(**params))

    def job_logs(**params: str):
        return logs(job_id_of(**params))

    follow_job_logs.__name__, job_logs.__name__ = f"follow_{name}_logs", f"{name}_logs"
    route("GET", path, websocket=True, summary=f"Follow {what} logs (websocket)",
          query=LOGS_QUERY, response=list[types.ProvisionerJobLog])(follow_job_logs)
    route("GET", path, summary=f"List {what} logs (?follow=true over a websocket)",
          query=LOGS_QUERY, response=list[types.ProvisionerJobLog])(job_logs)


# Coder's words when canceling an import or a build, and a dry run's.
CANCEL_MESSAGES = ("Job has already completed!", "Job has already been marked as canceled!",
                   "Job has been marked as canceled...")
DRY_RUN_CANCEL_MESSAGES = ("Job has already completed.", "Job has already been marked as canceled.",
                           "Job has been marked as canceled.")


def cancel(job_id: uuid.UUID, messages: tuple[str, str, str] = CANCEL_MESSAGES):
    completed, canceled, done = messages
    row = store().get_provisioner_job_by_id(job_id)
    if row["completed_at"] is not None:
        raise APIError(400, completed)
    if row["canceled_at"] is not None:
        raise APIError(400, canceled)
    store().cancel_provisioner_job(job_id)
    return write(200, types.Response(message=done))


def require_completed(row: dict) -> None:
    if row["completed_at"] is None:
        raise APIError(400, "Template version job hasn't completed!",
                       f"The import is {row['job_status']}; try again when it has finished.")


# --- what a job made ----------------------------------------------------------------

def resources(job_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[types.WorkspaceResource]]:
    """The resources each job made, with their agents and apps, by job id."""
    out: dict[uuid.UUID, list[types.WorkspaceResource]] = {j: [] for j in job_ids}
    if not job_ids:
        return out
    now = dt.datetime.now(dt.timezone.utc)
    for r in store().get_workspace_resources_by_job_ids(job_ids):
        out.setdefault(r["job_id"], []).append(from_row(
            types.WorkspaceResource, r, workspace_transition=r["transition"],
            agents=[agent(a, now) for a in r["agents"]],
            metadata=[from_row(types.WorkspaceResourceMetadata, m, value=m["value"] or "")
                      for m in r["metadata"]]))
    return out


def agent(row: dict, now: dt.datetime) -> types.WorkspaceAgent:
    status, disconnected_at = agentconn.status(row, now, agentconn.inactive_timeout())
    lifecycle = row["lifecycle_state"]
    reason = ""
    if status != "connected":
        reason = "agent is not connected"
    elif lifecycle in ("start_timeout", "start_error", "shutdown_timeout", "shutdown_error"):
        reason = f"agent lifecycle state is {lifecycle}"
    return from_row(
        types.WorkspaceAgent, row, disconnected_at=disconnected_at, status=status,
        environment_variables=row["environment_variables"] or {},
        apps=[app(a) for a in row["apps"]],
        health=types.WorkspaceAgentHealth(healthy=not reason, reason=reason),
        display_apps=list(row["display_apps"]),
        scripts=[from_row(types.WorkspaceAgentScript, s,
                          timeout=s["timeout_seconds"] * 1_000_000_000) for s in row["scripts"]],
        log_sources=[from_row(types.WorkspaceAgentLogSource, src, workspace_agent_id=row["id"])
                     for src in row.get("log_sources", ())],
        subsystems=list(row["subsystems"]))


def app(row: dict) -> types.WorkspaceApp:
    return from_row(
        types.WorkspaceApp, row, command=row["command"] or "", url=row["url"] or "",
        healthcheck=types.Healthcheck(url=row["healthcheck_url"],
                                      interval=row["healthcheck_interval"],
                                      threshold=row["healthcheck_threshold"]))
