"""The lifecycle executor, as Coder's: running workspaces past their deadline get a
stop build (autostop), stopped ones whose autostart time has come a start build.

``tick`` is called periodically by one coderd (under an advisory lock). It is
idempotent: once a build is queued the workspace no longer matches (its latest
build is no longer a finished start, or a finished stop, and queueing a build
moves ``next_start_at`` on), and a workspace whose build is refused (a build
already active, a version gone bad) is logged and tried again on the next tick.
As in Coder, builds are initiated by the workspace's owner with reason
``autostop`` or ``autostart``; autostart uses the template's active version when
the workspace's automatic updates are ``always`` or the template requires it.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid

from appliance import cron

from . import wsbuilder
from .authz.querier import AuthzQuerier
from .httpapi import APIError

log = logging.getLogger(__name__)


def tick(store: AuthzQuerier, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Queue autostop and autostart builds that are due; returns their workspaces' ids."""
    now = now or dt.datetime.now(dt.timezone.utc)
    s = store.as_system("lifecycle-executor")
    due = [(w, "stop", None) for w in s.get_workspaces_to_autostop(now)]
    due += [(w, "start", _start_version(w)) for w in s.get_workspaces_to_autostart(now)
            if _autostart_due(w, now)]
    return [w["id"] for w, transition, version in due if _queue(s, w, transition, version, now)]


def _autostart_due(workspace: dict, now: dt.datetime) -> bool:
    """Coder's isEligibleForAutostart: the first scheduled time after the latest build."""
    when = cron.next_start(workspace["autostart_schedule"], workspace["latest_build_created_at"])
    return when is not None and when <= now


def _start_version(workspace: dict) -> uuid.UUID | None:
    """The active version when the workspace follows it; None keeps the latest build's."""
    if workspace["automatic_updates"] == "always" or workspace["template_require_active_version"]:
        return workspace["template_active_version_id"]
    return None


def _queue(s: AuthzQuerier, workspace: dict, transition: str, version: uuid.UUID | None,
           now: dt.datetime) -> bool:
    reason = "autostop" if transition == "stop" else "autostart"
    try:
        wsbuilder.build(s, workspace, transition=transition, initiator_id=workspace["owner_id"],
                        template_version_id=version, reason=reason, now=now)
    except APIError as exc:
        log.warning("%s of workspace %s (%s/%s) refused: %s", reason, workspace["id"],
                    workspace["owner_name"], workspace["name"], exc.message)
        return False
    log.info("%s: %s workspace %s/%s", reason, "stopping" if transition == "stop" else "starting",
             workspace["owner_name"], workspace["name"])
    return True
