"""Whether a workspace agent is there: its heartbeat and Coder's connection status.

Every call an agent makes with its token is a heartbeat; it reports stats once
per ``CODER_AGENT_STATS_REFRESH_INTERVAL`` at least. ``last_connected_at`` is
written at most every few seconds, and an agent silent for two intervals shows
as disconnected (Coder's AgentInactiveDisconnectTimeout). The relay, which
holds an agent's long-lived connection, reports it with ``mark_connected``
(on connect, then at each interval while the connection is open) and
``mark_disconnected`` (when it closes).
"""
from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app

from .authz.querier import AuthzQuerier

# The longest gap between two writes of last_connected_at for a live agent.
MAX_WRITE_INTERVAL = 5.0


def heartbeat_interval() -> float:
    return current_app.extensions["coderd"].settings.agent_stats_refresh_interval


def inactive_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=2 * heartbeat_interval())


def mark_connected(s: AuthzQuerier, agent_id: uuid.UUID) -> None:
    """The agent is there now (as itself, or as the relay's system actor)."""
    s.update_workspace_agent_connection(agent_id, min(heartbeat_interval() / 3, MAX_WRITE_INTERVAL))


def mark_disconnected(s: AuthzQuerier, agent_id: uuid.UUID) -> None:
    """The agent's connection closed; it shows disconnected until it is heard from again."""
    s.update_workspace_agent_disconnected(agent_id)


def status(row: dict, now: dt.datetime, inactive: dt.timedelta) -> tuple[str, dt.datetime | None]:
    """Coder's agent status and the disconnected_at to show, from the agent's row.

    connecting until first heard from (timeout once connection_timeout_seconds have
    passed since the build made the agent), then connected while heard from within
    ``inactive``, disconnected otherwise.
    """
    if row["first_connected_at"] is None:
        timeout = row["connection_timeout_seconds"]
        if timeout > 0 and now - row["created_at"] > dt.timedelta(seconds=timeout):
            return "timeout", row["disconnected_at"]
        return "connecting", row["disconnected_at"]
    last = row["last_connected_at"]
    if row["disconnected_at"] is not None and row["disconnected_at"] >= last:
        return "disconnected", row["disconnected_at"]
    if now - last > inactive:
        return "disconnected", last + inactive
    return "connected", row["disconnected_at"]
