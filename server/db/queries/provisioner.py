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

    def get_provisioner_daemons(self, organization_id: uuid.UUID) -> list[dict]:
        return self._all("""SELECT * FROM provisioner_daemons WHERE organization_id = %s
                            AND last_seen_at > now() - interval '1 hour' ORDER BY name""",
                         (organization_id,))
