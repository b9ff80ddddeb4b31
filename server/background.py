"""Work one coderd process does for the whole deployment: the job reaper and autobuild.

Every coderd process runs this loop, but only the one holding a PostgreSQL
advisory lock acts; if it dies, its session ends, the lock frees, and another
process takes over within one interval.
"""
from __future__ import annotations

import datetime as dt
import logging

import psycopg2

from . import autobuild
from .authz.querier import AuthzQuerier
from .authz.rbac import system
from .db.pool import connect
from .db.queries import Queries

log = logging.getLogger(__name__)
LOCK_ID = 0x636F646572646267  # "coderdbg"
INTERVAL_SECONDS = 5.0


def tick(s: AuthzQuerier, stale_after: float, now: dt.datetime) -> None:
    for job in s.fail_stale_provisioner_jobs(stale_after):
        log.warning("job %s failed: its provisioner daemon stopped responding", job["id"])
    autobuild.tick(s, now)


def run(dsn: str, stale_after: float, stopping) -> None:
    """Loop until ``stopping`` is set (a gevent or threading Event)."""
    conn = None
    while not stopping.is_set():
        try:
            if conn is None or conn.closed:
                conn = connect(dsn, "coderd-background")
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,))
                leader = cur.fetchone()[0]
            if leader:
                tick(AuthzQuerier(Queries(conn), system("background")), stale_after,
                     dt.datetime.now(dt.timezone.utc))
        except psycopg2.Error as exc:
            log.warning("background work failed: %s", exc)
            if conn is not None:
                conn.close()
            conn = None
        except Exception:
            log.exception("background work failed")
        stopping.wait(INTERVAL_SECONDS)
    if conn is not None:
        conn.close()
