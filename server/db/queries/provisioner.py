"""Provisioner jobs, their logs, and the daemons that run them.

The queue is a table: a daemon takes the oldest pending job its tags match
with ``FOR UPDATE SKIP LOCKED``, so concurrent daemons never take the same
job and never wait on each other's locks.
"""
from __future__ import annotations

import uuid
from typing import Any

from psycopg2.extras import Json, execute_values

from .base import QueriesBase

JOB_POSTED = "provisioner_job_posted"


def job_logs_channel(job_id: uuid.UUID | str) -> str:
    return f"provisioner_job_logs:{job_id}"


class ProvisionerQueries(QueriesBase):
    def insert_provisioner_job(self, *, organization_id: uuid.UUID, initiator_id: uuid.UUID,
                               type: str, input: dict[str, Any], file_id: uuid.UUID,
                               tags: dict[str, str] | None = None) -> dict:
        job = self._one(
            """INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input, file_id, tags)
               VALUES (%s, %s, %s, %s, %s, %s) RETURNING *""",
            (organization_id, initiator_id, type, Json(input), file_id,
             Json(tags or {"scope": "organization", "owner": ""})))
        # Delivered on commit, so a woken daemon finds the row.
        self._exec("SELECT pg_notify(%s, %s)", (JOB_POSTED, str(job["id"])))
        return job

    def get_provisioner_job_by_id(self, job_id: uuid.UUID) -> dict | None:
        return self._one("SELECT * FROM provisioner_jobs WHERE id = %s", (job_id,))

    def get_provisioner_jobs_by_ids(self, job_ids: list[uuid.UUID]) -> list[dict]:
        return self._all("SELECT * FROM provisioner_jobs WHERE id = ANY(%s::uuid[])",
                         ([str(j) for j in job_ids],))

    def get_queue_position(self, job_id: uuid.UUID) -> tuple[int, int]:
        """(position of this pending job, 1-based; number of pending jobs)."""
        row = self._one(
            """SELECT count(*) FILTER (WHERE created_at <= (SELECT created_at FROM provisioner_jobs
                                                          WHERE id = %s)) AS position,
                      count(*) AS size
               FROM provisioner_jobs WHERE started_at IS NULL AND canceled_at IS NULL""", (job_id,))
        return row["position"], row["size"]

    def acquire_provisioner_job(self, *, daemon_id: uuid.UUID, organization_id: uuid.UUID,
                                provisioners: list[str], tags: dict[str, str]) -> dict | None:
        """Take the oldest pending job whose tags are all among the daemon's."""
        return self._one(
            """UPDATE provisioner_jobs SET started_at = now(), updated_at = now(), worker_id = %s
               WHERE id = (
                   SELECT id FROM provisioner_jobs
                   WHERE started_at IS NULL AND canceled_at IS NULL
                     AND organization_id = %s AND provisioner = ANY(%s)
                     AND %s::jsonb @> (tags - 'owner' - 'scope')
                   ORDER BY created_at
                   FOR UPDATE SKIP LOCKED
                   LIMIT 1)
               RETURNING *""",
            (daemon_id, organization_id, provisioners, Json(tags)))

    def update_provisioner_job_heartbeat(self, job_id: uuid.UUID, daemon_id: uuid.UUID) -> dict | None:
        """Prove the daemon still holds the job; returns the job (None if it lost it)."""
        return self._one(
            """UPDATE provisioner_jobs SET updated_at = now()
               WHERE id = %s AND worker_id = %s AND completed_at IS NULL RETURNING *""",
            (job_id, daemon_id))

    def complete_provisioner_job(self, job_id: uuid.UUID, *, error: str | None = None,
                                 error_code: str = "") -> dict | None:
        return self._one(
            """UPDATE provisioner_jobs SET completed_at = now(), updated_at = now(),
                   error = %s, error_code = %s
               WHERE id = %s AND completed_at IS NULL RETURNING *""", (error, error_code, job_id))

    def cancel_provisioner_job(self, job_id: uuid.UUID) -> dict | None:
        """Pending jobs end at once; running ones are told on their next heartbeat."""
        return self._one(
            """UPDATE provisioner_jobs SET canceled_at = now(), updated_at = now(),
                   completed_at = CASE WHEN started_at IS NULL THEN now() END,
                   error = CASE WHEN started_at IS NULL THEN 'canceled before it started' END
               WHERE id = %s AND completed_at IS NULL AND canceled_at IS NULL RETURNING *""",
            (job_id,))

    def fail_stale_provisioner_jobs(self, stale_seconds: float) -> list[dict]:
        """The reaper: running jobs whose daemon stopped heartbeating fail."""
        return self._all(
            """UPDATE provisioner_jobs SET completed_at = now(), updated_at = now(),
                   error = 'The provisioner daemon running this job stopped responding.',
                   error_code = 'daemon_lost'
               WHERE started_at IS NOT NULL AND completed_at IS NULL
                 AND updated_at < now() - make_interval(secs => %s)
               RETURNING *""", (stale_seconds,))

    def insert_provisioner_job_logs(self, job_id: uuid.UUID, logs: list[dict]) -> int:
        """Append log lines; returns the id of the last one. Followers are notified."""
        if not logs:
            return 0
        with self.conn.cursor() as cur:
            rows = execute_values(
                cur, """INSERT INTO provisioner_job_logs (job_id, created_at, source, level, stage, output)
                        VALUES %s RETURNING id""",
                [(job_id, log["created_at"], log["source"], log["level"], log.get("stage", ""),
                  log["output"]) for log in logs], fetch=True)
            last = rows[-1][0]
            cur.execute("SELECT pg_notify(%s, %s)", (job_logs_channel(job_id), str(last)))
            return last

    def get_provisioner_job_logs_after(self, job_id: uuid.UUID, after: int = 0) -> list[dict]:
        return self._all("""SELECT * FROM provisioner_job_logs WHERE job_id = %s AND id > %s
                            ORDER BY id""", (job_id, after))

    def upsert_provisioner_daemon(self, *, daemon_id: uuid.UUID | None, name: str,
                                  organization_id: uuid.UUID, provisioners: list[str],
                                  tags: dict[str, str], version: str, built_in: bool) -> dict:
        return self._one(
            """INSERT INTO provisioner_daemons (id, name, organization_id, provisioners, tags,
                   version, built_in)
               VALUES (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), name = EXCLUDED.name,
                   tags = EXCLUDED.tags, provisioners = EXCLUDED.provisioners,
                   version = EXCLUDED.version
               RETURNING *""",
            (daemon_id, name, organization_id, provisioners, Json(tags), version, built_in))

    def update_provisioner_daemon_seen(self, daemon_id: uuid.UUID) -> None:
        self._exec("UPDATE provisioner_daemons SET last_seen_at = now() WHERE id = %s", (daemon_id,))

    def get_provisioner_daemon_by_id(self, daemon_id: uuid.UUID) -> dict | None:
        return self._one("SELECT * FROM provisioner_daemons WHERE id = %s", (daemon_id,))

    def get_matched_provisioners(self, organization_id: uuid.UUID, tags: dict[str, str],
                                 stale_seconds: float) -> dict:
        """Coder's MatchedProvisioners: the organization's daemons whose tags would take a
        job with ``tags`` (the rule acquire uses), those seen within ``stale_seconds``, and
        when one was last seen."""
        return self._one(
            """SELECT count(*) AS count,
                      count(*) FILTER (WHERE last_seen_at > now() - make_interval(secs => %s))
                          AS available,
                      max(last_seen_at) AS most_recently_seen
               FROM provisioner_daemons
               WHERE organization_id = %s AND tags @> (%s::jsonb - 'owner' - 'scope')""",
            (stale_seconds, organization_id, Json(tags)))

    def get_provisioner_jobs_by_organization(self, organization_id: uuid.UUID,
                                             statuses: list[str], limit: int,
                                             ids: list[uuid.UUID] = ()) -> list[dict]:
        """The newest jobs first; ``statuses`` or ``ids`` empty: all of them."""
        ids = [str(i) for i in ids]
        return self._all("""SELECT * FROM provisioner_jobs WHERE organization_id = %s
                            AND (cardinality(%s::text[]) = 0 OR job_status = ANY(%s::text[]))
                            AND (cardinality(%s::uuid[]) = 0 OR id = ANY(%s::uuid[]))
                            ORDER BY created_at DESC LIMIT %s""",
                         (organization_id, statuses, statuses, ids, ids, limit))

    def get_latest_provisioner_jobs_by_workers(self, worker_ids: list[uuid.UUID]) -> list[dict]:
        """Each daemon's last job (its current one while it runs)."""
        return self._all("""SELECT DISTINCT ON (worker_id) * FROM provisioner_jobs
                            WHERE worker_id = ANY(%s::uuid[])
                            ORDER BY worker_id, started_at DESC""",
                         ([str(w) for w in worker_ids],))

    def get_provisioner_daemons(self, organization_id: uuid.UUID) -> list[dict]:
        return self._all("""SELECT * FROM provisioner_daemons WHERE organization_id = %s
                            AND last_seen_at > now() - interval '1 hour' ORDER BY name""",
                         (organization_id,))

    # What a daemon needs to run a job, and what its result writes. coderd
    # alone calls these, as the "provisionerd" system actor.

    def get_version_job_context(self, template_version_id: uuid.UUID,
                                initiator_id: uuid.UUID) -> dict | None:
        """An import's or dry run's version and template, and the job's initiator (a dry
        run's workspace owner, as in Coder)."""
        return self._one(
            """SELECT v.id AS template_version_id, v.name AS template_version_name,
                      t.id AS template_id, t.name AS template_name,
                      u.id AS owner_id, u.username AS owner_username, u.email AS owner_email,
                      u.name AS owner_name, u.login_type AS owner_login_type,
                      u.rbac_roles AS owner_roles
               FROM template_versions v LEFT JOIN templates t ON t.id = v.template_id
               JOIN users u ON u.id = %s
               WHERE v.id = %s""", (initiator_id, template_version_id))

    def get_build_job_context(self, build_id: uuid.UUID) -> dict | None:
        """The build with its workspace, owner, template and the previous build's state."""
        return self._one(
            """SELECT b.id AS build_id, b.build_number, b.transition, b.workspace_id,
                      b.template_version_id,
                      w.name AS workspace_name, w.owner_id, u.username AS owner_username,
                      u.email AS owner_email, u.name AS owner_name, u.login_type AS owner_login_type,
                      u.rbac_roles AS owner_roles, t.id AS template_id, t.name AS template_name,
                      v.name AS template_version_name,
                      -- A build starts from the state queued with it (an orphaning delete
                      -- queues an empty one), else the newest earlier build's.
                      coalesce(b.provisioner_state,
                               (SELECT p.provisioner_state FROM workspace_builds p
                                WHERE p.workspace_id = b.workspace_id
                                  AND p.build_number < b.build_number
                                  AND p.provisioner_state IS NOT NULL
                                ORDER BY p.build_number DESC LIMIT 1)) AS previous_state,
                      (SELECT p.id FROM workspace_builds p
                       WHERE p.workspace_id = b.workspace_id AND p.build_number < b.build_number
                       ORDER BY p.build_number DESC LIMIT 1) AS previous_build_id
               FROM workspace_builds b
               JOIN workspaces w ON w.id = b.workspace_id
               JOIN users u ON u.id = w.owner_id
               JOIN templates t ON t.id = w.template_id
               JOIN template_versions v ON v.id = b.template_version_id
               WHERE b.id = %s""", (build_id,))

    def get_job_archive(self, job_id: uuid.UUID) -> dict | None:
        """The template archive a job runs (a daemon may fetch only its own job's)."""
        row = self._one("""SELECT f.mimetype, f.data FROM provisioner_jobs j
                           JOIN files f ON f.id = j.file_id WHERE j.id = %s""", (job_id,))
        if row is not None:
            row["data"] = bytes(row["data"])
        return row

    def get_build_parameter_values(self, build_id: uuid.UUID) -> list[dict]:
        return self._all("SELECT name, value FROM workspace_build_parameters "
                         "WHERE workspace_build_id = %s ORDER BY name", (build_id,))

    def insert_template_version_parameters(self, template_version_id: uuid.UUID,
                                           params: list[dict]) -> None:
        for p in params:
            self._exec(
                """INSERT INTO template_version_parameters (template_version_id, name, display_name,
                       description, type, form_type, mutable, default_value, icon, options,
                       validation_regex, validation_min, validation_max, validation_error,
                       validation_monotonic, required, ephemeral, display_order)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (template_version_id, p["name"], p["display_name"], p["description"], p["type"],
                 p["form_type"], p["mutable"], p["default_value"], p["icon"], Json(p["options"]),
                 p["validation_regex"], p["validation_min"], p["validation_max"],
                 p["validation_error"], p["validation_monotonic"], p["required"], p["ephemeral"],
                 p["order"]))

    def insert_template_version_presets(self, template_version_id: uuid.UUID,
                                        presets: list[dict]) -> None:
        for p in presets:
            preset_id = self._one(
                """INSERT INTO template_version_presets (template_version_id, name, description,
                       icon, is_default, desired_instances)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                (template_version_id, p["name"], p["description"], p["icon"], p["default"],
                 p["desired_instances"]))["id"]
            for param in p["parameters"]:
                self._exec("""INSERT INTO template_version_preset_parameters
                                  (template_version_preset_id, name, value) VALUES (%s, %s, %s)""",
                           (preset_id, param["name"], param["value"]))

    def insert_template_version_variables(self, template_version_id: uuid.UUID,
                                          variables: list[dict]) -> None:
        """The version's variables, replacing any stored before (a daemon's retry)."""
        self._exec("DELETE FROM template_version_variables WHERE template_version_id = %s",
                   (template_version_id,))
        for order, v in enumerate(variables):
            self._exec(
                """INSERT INTO template_version_variables (template_version_id, name, description,
                       type, value, default_value, required, sensitive, display_order)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (template_version_id, v["name"], v["description"], v["type"], v["value"],
                 v["default_value"], v["required"], v["sensitive"], order))

    def insert_workspace_resources(self, job_id: uuid.UUID, transition: str,
                                   resources: list[dict]) -> None:
        """Resources with their metadata, agents, agents' apps, scripts and metadata."""
        for r in resources:
            rid = self._scalar(
                """INSERT INTO workspace_resources (job_id, transition, type, name, hide, icon,
                       instance_type, daily_cost, module_path)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (job_id, transition, r["type"], r["name"], r["hide"], r["icon"], r["instance_type"],
                 r["daily_cost"], r["module_path"]))
            for item in r["metadata"]:
                self._exec("""INSERT INTO workspace_resource_metadata (workspace_resource_id, key,
                                  value, sensitive) VALUES (%s, %s, %s, %s)
                              ON CONFLICT DO NOTHING""",
                           (rid, item["key"], item["value"], item["sensitive"]))
            for a in r["agents"]:
                self._insert_agent(rid, a)

    def _insert_agent(self, resource_id: uuid.UUID, a: dict) -> None:
        token = a["auth_token"] or str(uuid.uuid4())  # plans have no token yet
        agent_id = self._scalar(
            """INSERT INTO workspace_agents (name, resource_id, auth_token, architecture,
                   operating_system, environment_variables, directory, connection_timeout_seconds,
                   troubleshooting_url, motd_file, display_apps, display_order)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (a["name"], resource_id, token, a["architecture"], a["operating_system"], Json(a["env"]),
             a["directory"], a["connection_timeout_seconds"], a["troubleshooting_url"],
             a["motd_file"], a["display_apps"], a["order"]))
        for app in a["apps"]:
            self._exec(
                """INSERT INTO workspace_apps (agent_id, slug, display_name, icon, command, url,
                       external, subdomain, sharing_level, healthcheck_url, healthcheck_interval,
                       healthcheck_threshold, health, display_order, hidden, open_in)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (agent_id, app["slug"], app["display_name"], app["icon"], app["command"] or None,
                 app["url"] or None, app["external"], app["subdomain"], app["sharing_level"],
                 app["healthcheck_url"], app["healthcheck_interval"], app["healthcheck_threshold"],
                 "initializing" if app["healthcheck_url"] else "disabled", app["order"],
                 app["hidden"], app["open_in"]))
        for s in a["scripts"]:
            self._exec(
                """INSERT INTO workspace_agent_scripts (workspace_agent_id, display_name, icon,
                       log_path, script, cron, run_on_start, run_on_stop, start_blocks_login,
                       timeout_seconds)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (agent_id, s["display_name"], s["icon"], s["log_path"], s["script"], s["cron"],
                 s["run_on_start"], s["run_on_stop"], s["start_blocks_login"], s["timeout_seconds"]))
        for m in a["metadata"]:
            self._exec(
                """INSERT INTO workspace_agent_metadata (workspace_agent_id, key, display_name,
                       script, interval_seconds, timeout_seconds, display_order)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (agent_id, m["key"], m["display_name"], m["script"], m["interval"], m["timeout"],
                 m["order"]))

    def update_workspace_build_state(self, build_id: uuid.UUID, state: bytes) -> None:
        self._exec("UPDATE workspace_builds SET provisioner_state = %s, updated_at = now() "
                   "WHERE id = %s", (state, build_id))

    def mark_workspace_deleted(self, workspace_id: uuid.UUID) -> None:
        self._exec("UPDATE workspaces SET deleted = true, updated_at = now() WHERE id = %s",
                   (workspace_id,))
