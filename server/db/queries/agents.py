"""What workspace agents report and what coderd shows of them: connection times,
lifecycle, startup facts, log sources and logs, stats, app health, metadata.

The agent side writes only its own rows; the authorization layer checks that
(``server.authz.querier``: an agent subject may touch only its agent's rows).
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from .base import QueriesBase

# The workspace a build's agent belongs to, for authorization and for the manifest.
AGENT_FROM = """workspace_agents a JOIN workspace_resources r ON r.id = a.resource_id
    JOIN workspace_builds b ON b.job_id = r.job_id JOIN workspaces w ON w.id = b.workspace_id
    JOIN users u ON u.id = w.owner_id"""
AGENT_COLUMNS = """a.*, b.id AS build_id, b.build_number, b.transition AS build_transition,
    b.workspace_id, w.name AS workspace_name, w.owner_id, w.organization_id,
    w.deleted AS workspace_deleted,
    u.username AS owner_name, u.email AS owner_email,
    b.build_number = (SELECT max(lb.build_number) FROM workspace_builds lb
                      WHERE lb.workspace_id = b.workspace_id) AS latest_build"""
# Coder caps what one agent may log (1 MiB); past it, logs_overflowed is set and more is refused.
MAX_LOGS_BYTES = 1 << 20
# What a line costs beyond its output (its row's time, level, source and id): counted
# against MAX_LOGS_BYTES so that empty lines are not free (140,000 of them made 20 MB of rows).
LOG_LINE_OVERHEAD = 32
# Log sources an agent may register (its scripts' own come with the build).
MAX_LOG_SOURCES = 64
# The most log lines one read returns; ``after`` pages on.
LOGS_PAGE = 1000


def agent_logs_channel(agent_id: uuid.UUID | str) -> str:
    return f"workspace_agent_logs:{agent_id}"


def agent_metadata_channel(agent_id: uuid.UUID | str) -> str:
    return f"workspace_agent_metadata:{agent_id}"


class AgentQueries(QueriesBase):
    # --- authentication and reads -----------------------------------------------------
    def get_workspace_agent_by_auth_token(self, token: uuid.UUID) -> dict | None:
        """The newest agent holding ``token`` (a token outlives builds, as in Coder).

        ``being_stopped``: the next build, a stop or delete, is still running
        (the agent is told to shut down during it and reports as it does)."""
        return self._one(f"""SELECT {AGENT_COLUMNS},
                               EXISTS (SELECT 1 FROM workspace_builds nb
                                       JOIN provisioner_jobs nj ON nj.id = nb.job_id
                                       WHERE nb.workspace_id = b.workspace_id
                                         AND nb.build_number = b.build_number + 1
                                         AND nb.transition IN ('stop', 'delete')
                                         AND nj.completed_at IS NULL) AS being_stopped
                             FROM {AGENT_FROM}
                             WHERE a.auth_token = %s ORDER BY a.created_at DESC LIMIT 1""",
                         (str(token),))

    def get_workspace_agent_by_id(self, agent_id: uuid.UUID) -> dict | None:
        """The agent with its workspace, apps, scripts, metadata descriptions and log sources."""
        row = self._one(f"SELECT {AGENT_COLUMNS} FROM {AGENT_FROM} WHERE a.id = %s", (agent_id,))
        if row is None:
            return None
        row["apps"] = self._all("SELECT * FROM workspace_apps WHERE agent_id = %s "
                                "ORDER BY display_order, slug", (agent_id,))
        row["scripts"] = self._all("SELECT * FROM workspace_agent_scripts "
                                   "WHERE workspace_agent_id = %s ORDER BY created_at, id",
                                   (agent_id,))
        row["metadata"] = self._all("SELECT * FROM workspace_agent_metadata "
                                    "WHERE workspace_agent_id = %s ORDER BY display_order, key",
                                    (agent_id,))
        row["log_sources"] = self._log_sources(agent_id)
        return row

    def get_workspace_agent_owner(self, agent_id: uuid.UUID) -> dict | None:
        """The agent's workspace, owner and organization: just enough to authorize access
        to the agent's rows (``server.authz.policy.agent_read``)."""
        return self._one(f"""SELECT a.id, b.workspace_id, w.owner_id, w.organization_id
                             FROM {AGENT_FROM} WHERE a.id = %s""", (agent_id,))

    def _log_sources(self, agent_id: uuid.UUID) -> list[dict]:
        return self._all(
            """SELECT id, workspace_agent_id, created_at, display_name, icon
               FROM workspace_agent_log_sources WHERE workspace_agent_id = %s
               UNION ALL
               SELECT log_source_id, workspace_agent_id, created_at, display_name, icon
               FROM workspace_agent_scripts WHERE workspace_agent_id = %s
               ORDER BY created_at, id""", (agent_id, agent_id))

    def get_workspace_agent_log_sources(self, agent_id: uuid.UUID) -> list[dict]:
        return self._log_sources(agent_id)

    def get_workspace_agent_logs_after(self, agent_id: uuid.UUID, after: int = 0,
                                       limit: int = LOGS_PAGE) -> list[dict]:
        return self._all("""SELECT * FROM workspace_agent_logs WHERE agent_id = %s AND id > %s
                            ORDER BY id LIMIT %s""", (agent_id, after, limit))

    def get_workspace_agent_metadata(self, agent_id: uuid.UUID) -> list[dict]:
        return self._all("SELECT * FROM workspace_agent_metadata WHERE workspace_agent_id = %s "
                         "ORDER BY display_order, key", (agent_id,))

    def get_workspace_agent_stats(self, agent_id: uuid.UUID, limit: int = 100) -> list[dict]:
        """The newest stats reports first."""
        return self._all("""SELECT * FROM workspace_agent_stats WHERE agent_id = %s
                            ORDER BY id DESC LIMIT %s""", (agent_id, limit))

    # --- what the agent (or the relay, for its connection) writes -------------------------
    def update_workspace_agent_connection(self, agent_id: uuid.UUID,
                                          min_interval_seconds: float = 0.0) -> None:
        """Record that the agent is there now; skipped when recorded less than
        ``min_interval_seconds`` ago, so frequent calls cost no writes."""
        self._exec("""UPDATE workspace_agents
                      SET first_connected_at = coalesce(first_connected_at, now()),
                          last_connected_at = now(), updated_at = now()
                      WHERE id = %s AND (last_connected_at IS NULL
                            OR last_connected_at < now() - make_interval(secs => %s)
                            OR disconnected_at >= last_connected_at)""",
                   (agent_id, min_interval_seconds))

    def update_workspace_agent_disconnected(self, agent_id: uuid.UUID) -> None:
        self._exec("UPDATE workspace_agents SET disconnected_at = now(), updated_at = now() "
                   "WHERE id = %s", (agent_id,))

    def update_workspace_agent_lifecycle(self, agent_id: uuid.UUID, state: str,
                                         changed_at: dt.datetime) -> None:
        """Coder's timestamps: ``starting`` sets started_at, the end of startup sets ready_at."""
        self._exec("""UPDATE workspace_agents SET lifecycle_state = %s, updated_at = now(),
                          started_at = CASE WHEN %s = 'starting' THEN %s ELSE started_at END,
                          ready_at = CASE WHEN %s IN ('ready', 'start_timeout', 'start_error')
                                          THEN %s
                                          WHEN %s = 'starting' THEN NULL ELSE ready_at END
                      WHERE id = %s""",
                   (state, state, changed_at, state, changed_at, state, agent_id))

    def update_workspace_agent_startup(self, agent_id: uuid.UUID, *, version: str,
                                       expanded_directory: str, subsystems: list[str],
                                       api_version: str) -> None:
        self._exec("""UPDATE workspace_agents SET version = %s, expanded_directory = %s,
                          subsystems = %s, api_version = %s, updated_at = now() WHERE id = %s""",
                   (version, expanded_directory, subsystems, api_version, agent_id))

    def insert_workspace_agent_log_source(self, agent_id: uuid.UUID, source_id: uuid.UUID,
                                          display_name: str, icon: str) -> bool:
        """Register or rename a source; False (nothing written) for a new one past
        ``MAX_LOG_SOURCES``."""
        return bool(self._exec(
            """INSERT INTO workspace_agent_log_sources (workspace_agent_id, id, display_name, icon)
               SELECT %(agent)s, %(id)s, %(name)s, %(icon)s
               WHERE (SELECT count(*) FROM workspace_agent_log_sources
                      WHERE workspace_agent_id = %(agent)s) < %(max)s
                  OR EXISTS (SELECT 1 FROM workspace_agent_log_sources
                             WHERE workspace_agent_id = %(agent)s AND id = %(id)s)
               ON CONFLICT (workspace_agent_id, id)
               DO UPDATE SET display_name = EXCLUDED.display_name, icon = EXCLUDED.icon""",
            {"agent": agent_id, "id": source_id, "name": display_name, "icon": icon,
             "max": MAX_LOG_SOURCES}))

    def insert_workspace_agent_logs(self, agent_id: uuid.UUID, source_id: uuid.UUID,
                                    logs: list[tuple[dt.datetime, str, str]]) -> bool:
        """Append ``(created_at, level, output)`` lines in one statement; False (and nothing
        written) once the agent's logs, each line counted with ``LOG_LINE_OVERHEAD``, would
        pass ``MAX_LOGS_BYTES``, which marks them overflowed."""
        size = sum(len(output.encode()) + LOG_LINE_OVERHEAD for _, _, output in logs)
        with self.transaction():
            grown = self._one("""UPDATE workspace_agents SET logs_length = logs_length + %s
                                 WHERE id = %s AND NOT logs_overflowed
                                   AND logs_length + %s <= %s RETURNING logs_length""",
                              (size, agent_id, size, MAX_LOGS_BYTES))
            if grown is None:
                self._exec("UPDATE workspace_agents SET logs_overflowed = true WHERE id = %s",
                           (agent_id,))
                return False
            times, levels, outputs = zip(*logs)
            self._exec("""INSERT INTO workspace_agent_logs (agent_id, created_at, level, output,
                              log_source_id)
                          SELECT %s, created_at, level::log_level, output, %s
                          FROM unnest(%s::timestamptz[], %s::text[], %s::text[])
                               WITH ORDINALITY AS l(created_at, level, output, n)
                          ORDER BY n""",
                       (agent_id, source_id, list(times), list(levels), list(outputs)))
            self._exec("SELECT pg_notify(%s, '')", (agent_logs_channel(agent_id),))
        return True

    def insert_workspace_agent_stats(self, agent_id: uuid.UUID, stats: dict[str, Any],
                                     merge_within: float = 0.0) -> None:
        """Record a stats report. One that comes within ``merge_within`` seconds of the
        agent's newest row is added into that row instead (traffic and connections summed,
        the current counts replaced): an agent reporting faster than that adds no rows."""
        gauges = (json.dumps(stats["connections_by_proto"]), stats["connection_median_latency_ms"],
                  stats["session_count_vscode"], stats["session_count_jetbrains"],
                  stats["session_count_reconnecting_pty"], stats["session_count_ssh"])
        sums = (stats["connection_count"], stats["rx_packets"], stats["rx_bytes"],
                stats["tx_packets"], stats["tx_bytes"])
        with self.transaction():
            merged = self._one("""UPDATE workspace_agent_stats
                                  SET connections_by_proto = %s, connection_median_latency_ms = %s,
                                      session_count_vscode = %s, session_count_jetbrains = %s,
                                      session_count_reconnecting_pty = %s, session_count_ssh = %s,
                                      connection_count = connection_count + %s,
                                      rx_packets = rx_packets + %s, rx_bytes = rx_bytes + %s,
                                      tx_packets = tx_packets + %s, tx_bytes = tx_bytes + %s
                                  WHERE id = (SELECT id FROM workspace_agent_stats
                                              WHERE agent_id = %s
                                                AND created_at > now() - make_interval(secs => %s)
                                              ORDER BY id DESC LIMIT 1)
                                  RETURNING id""", (*gauges, *sums, agent_id, merge_within))
            if merged is None:
                self._exec("""INSERT INTO workspace_agent_stats (connections_by_proto,
                                  connection_median_latency_ms, session_count_vscode,
                                  session_count_jetbrains, session_count_reconnecting_pty,
                                  session_count_ssh, connection_count, rx_packets, rx_bytes,
                                  tx_packets, tx_bytes, agent_id)
                              VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                           (*gauges, *sums, agent_id))

    def update_workspace_app_health(self, agent_id: uuid.UUID,
                                    healths: dict[uuid.UUID, str]) -> list[uuid.UUID]:
        """Set the health of this agent's apps; return the app IDs that are not its own."""
        unknown = []
        for app_id, health in healths.items():
            if not self._exec("UPDATE workspace_apps SET health = %s "
                              "WHERE id = %s AND agent_id = %s", (health, app_id, agent_id)):
                unknown.append(app_id)
        return unknown

    def update_workspace_agent_metadata(self, agent_id: uuid.UUID,
                                        results: list[dict[str, Any]]) -> None:
        """Store collected values of the keys the template declared (others are ignored)."""
        with self.transaction():
            for r in results:
                self._exec("""UPDATE workspace_agent_metadata
                              SET value = %s, error = %s, collected_at = %s
                              WHERE workspace_agent_id = %s AND key = %s""",
                           (r["value"], r["error"], r["collected_at"], agent_id, r["key"]))
            self._exec("SELECT pg_notify(%s, '')", (agent_metadata_channel(agent_id),))
