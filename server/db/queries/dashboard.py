"""What the dashboard reads besides the objects themselves: per-user appearance, and
the timings of a build (terraform's steps, the agent's connection and scripts)."""
from __future__ import annotations

import datetime as dt
import uuid

from .base import QueriesBase

TERMINAL_FONT = "terminal_font"
PREFERENCE_PREFIX = "preference_"  # user_configs keys of /users/{user}/preferences


def workspace_channel(workspace_id: uuid.UUID | str) -> str:
    """Announced by the database (migration 000010) on every change a watcher shows."""
    return f"workspace:{workspace_id}"


class DashboardQueries(QueriesBase):
    # --- appearance ------------------------------------------------------------------------
    def get_user_appearance(self, user_id: uuid.UUID) -> dict | None:
        return self._one("""SELECT u.theme_preference, coalesce(c.value, '') AS terminal_font
                            FROM users u LEFT JOIN user_configs c
                                ON c.user_id = u.id AND c.key = %s
                            WHERE u.id = %s""", (TERMINAL_FONT, user_id))

    def update_user_appearance(self, user_id: uuid.UUID, theme_preference: str,
                               terminal_font: str) -> dict | None:
        with self.transaction():
            self._exec("UPDATE users SET theme_preference = %s, updated_at = now() WHERE id = %s",
                       (theme_preference, user_id))
            self._exec("""INSERT INTO user_configs (user_id, key, value) VALUES (%s, %s, %s)
                          ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value""",
                       (user_id, TERMINAL_FONT, terminal_font))
        return self.get_user_appearance(user_id)

    # --- preferences -------------------------------------------------------------------------
    def get_user_preferences(self, user_id: uuid.UUID) -> dict[str, str]:
        """The user's stored preferences by name (those never set are absent)."""
        rows = self._all("""SELECT substr(key, %s) AS name, value FROM user_configs
                            WHERE user_id = %s AND starts_with(key, %s)""",
                         (len(PREFERENCE_PREFIX) + 1, user_id, PREFERENCE_PREFIX))
        return {r["name"]: r["value"] for r in rows}

    def update_user_preferences(self, user_id: uuid.UUID, values: dict[str, str]) -> dict[str, str]:
        with self.transaction():
            for name, value in values.items():
                self._exec("""INSERT INTO user_configs (user_id, key, value) VALUES (%s, %s, %s)
                              ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value""",
                           (user_id, PREFERENCE_PREFIX + name, value))
        return self.get_user_preferences(user_id)

    # --- deployment stats --------------------------------------------------------------------
    def get_deployment_stats(self, since: dt.datetime) -> dict:
        """Coder's deployment stats: non-deleted workspaces by their latest build's job, and
        what the agents reported since ``since`` (traffic and latency summed over every
        report, the sessions of each agent's latest; a latency of -1 when none was measured)."""
        return self._one("""
            WITH latest AS (
                SELECT b.transition, j.started_at, j.canceled_at, j.completed_at, j.error
                FROM workspaces w
                LEFT JOIN LATERAL (SELECT * FROM workspace_builds
                                   WHERE workspace_id = w.id ORDER BY build_number DESC LIMIT 1
                                  ) b ON true
                LEFT JOIN provisioner_jobs j ON j.id = b.job_id
                WHERE NOT w.deleted
            ), traffic AS (
                SELECT coalesce(sum(rx_bytes), 0)::bigint AS rx_bytes,
                       coalesce(sum(tx_bytes), 0)::bigint AS tx_bytes
                FROM workspace_agent_stats WHERE created_at > %(since)s
            ), latency AS (
                SELECT coalesce(percentile_cont(0.5) WITHIN GROUP
                                    (ORDER BY connection_median_latency_ms), -1) AS p50,
                       coalesce(percentile_cont(0.95) WITHIN GROUP
                                    (ORDER BY connection_median_latency_ms), -1) AS p95
                FROM workspace_agent_stats
                WHERE created_at > %(since)s AND connection_median_latency_ms > 0
            ), sessions AS (
                SELECT coalesce(sum(session_count_vscode), 0)::bigint AS vscode,
                       coalesce(sum(session_count_ssh), 0)::bigint AS ssh,
                       coalesce(sum(session_count_jetbrains), 0)::bigint AS jetbrains,
                       coalesce(sum(session_count_reconnecting_pty), 0)::bigint AS reconnecting_pty
                FROM (SELECT DISTINCT ON (agent_id) * FROM workspace_agent_stats
                      WHERE created_at > %(since)s ORDER BY agent_id, created_at DESC) s
            )
            SELECT (SELECT count(*) FROM latest WHERE started_at IS NULL) AS pending,
                   (SELECT count(*) FROM latest WHERE started_at IS NOT NULL
                        AND canceled_at IS NULL AND completed_at IS NULL) AS building,
                   (SELECT count(*) FROM latest WHERE completed_at IS NOT NULL
                        AND canceled_at IS NULL AND error IS NULL
                        AND transition = 'start') AS running,
                   (SELECT count(*) FROM latest WHERE (canceled_at IS NOT NULL
                        OR completed_at IS NOT NULL) AND error IS NOT NULL) AS failed,
                   (SELECT count(*) FROM latest WHERE completed_at IS NOT NULL
                        AND canceled_at IS NULL AND error IS NULL
                        AND transition = 'stop') AS stopped,
                   traffic.*, latency.*, sessions.*
            FROM traffic, latency, sessions""", {"since": since})

    # --- timings ---------------------------------------------------------------------------
    def insert_provisioner_job_timings(self, job_id: uuid.UUID, timings: list[dict]) -> None:
        for t in timings:
            self._exec("""INSERT INTO provisioner_job_timings
                              (job_id, started_at, ended_at, stage, source, action, resource)
                          VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                       (job_id, t["started_at"], t["ended_at"], t["stage"], t["source"],
                        t["action"], t["resource"]))

    def get_provisioner_job_timings(self, job_id: uuid.UUID) -> list[dict]:
        return self._all("""SELECT * FROM provisioner_job_timings WHERE job_id = %s
                            ORDER BY started_at, resource""", (job_id,))

    def insert_workspace_agent_script_timing(self, agent_id: uuid.UUID, script_id: uuid.UUID,
                                             started_at: dt.datetime, ended_at: dt.datetime,
                                             exit_code: int, stage: str, status: str) -> int:
        """Only a script of this agent's own (0 rows otherwise); a repeat (a retried
        report) changes nothing but counts as stored."""
        return self._exec("""INSERT INTO workspace_agent_script_timings
                                 (script_id, started_at, ended_at, exit_code, stage, status)
                             SELECT id, %s, %s, %s, %s, %s FROM workspace_agent_scripts
                             WHERE id = %s AND workspace_agent_id = %s
                             ON CONFLICT (script_id, started_at)
                                 DO UPDATE SET script_id = excluded.script_id""",
                          (started_at, ended_at, exit_code, stage, status, script_id, agent_id))

    def get_workspace_agent_script_timings(self, job_id: uuid.UUID) -> list[dict]:
        """The script runs of the agents a build's job made."""
        return self._all("""SELECT t.*, s.display_name, a.id AS workspace_agent_id,
                                   a.name AS workspace_agent_name
                            FROM workspace_agent_script_timings t
                            JOIN workspace_agent_scripts s ON s.id = t.script_id
                            JOIN workspace_agents a ON a.id = s.workspace_agent_id
                            JOIN workspace_resources r ON r.id = a.resource_id
                            WHERE r.job_id = %s ORDER BY t.started_at""", (job_id,))

    def get_workspace_agent_connection_timings(self, job_id: uuid.UUID) -> list[dict]:
        """Coder's "connect" stage: from the agent's creation to its first connection."""
        return self._all("""SELECT a.created_at AS started_at, a.first_connected_at AS ended_at,
                                   a.id AS workspace_agent_id, a.name AS workspace_agent_name
                            FROM workspace_agents a
                            JOIN workspace_resources r ON r.id = a.resource_id
                            WHERE r.job_id = %s AND a.first_connected_at IS NOT NULL
                            ORDER BY a.created_at""", (job_id,))
