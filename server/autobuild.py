"""The autostop executor: running workspaces past their deadline get a stop build.

``tick`` is called periodically by one coderd (under an advisory lock). It is
idempotent: once the stop build is queued the workspace's latest build is no
longer a running start build, so the next tick passes it by, and a workspace
whose build is refused (a build already active, a version gone bad) is logged
and tried again on the next tick. As in Coder, the stop is initiated by the
workspace's owner, with reason ``autostop``.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid

from . import wsbuilder
from .authz.querier import AuthzQuerier
from .httpapi import APIError

log = logging.getLogger(__name__)


def tick(store: AuthzQuerier, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Queue stop builds for workspaces past their deadline; returns their ids."""
    now = now or dt.datetime.now(dt.timezone.utc)
    s = store.as_system("autostop")
    stopped = []
    for workspace in s.get_workspaces_to_autostop(now):
        try:
            wsbuilder.build(s, workspace, transition="stop", initiator_id=workspace["owner_id"],
                            reason="autostop", now=now)
        except APIError as exc:
            log.warning("autostop of workspace %s (%s/%s) refused: %s", workspace["id"],
                        workspace["owner_name"], workspace["name"], exc.message)
            continue
        log.info("autostop: stopping workspace %s/%s", workspace["owner_name"], workspace["name"])
        stopped.append(workspace["id"])
    return stopped
