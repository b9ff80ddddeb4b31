"""Queueing provisioner jobs straight in the database, as the API does.

For tests of the provisioning machinery on its own: the rows a template push
or a workspace build writes, in the same transactions, and waiting for them.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import psycopg2
import psycopg2.extras

from server.db import pool  # noqa: F401  (UUIDs in and out, as coderd reads them)


def tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Rows:
    """Queue jobs as the API does, straight in the database."""

    def __init__(self, dsn: str, owner_id: uuid.UUID, org_id: uuid.UUID):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.owner_id, self.org_id = owner_id, org_id

    def q(self, sql, params=()):
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def import_version(self, files: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID]:
        data = tar_of(files)
        file_id = self.q("INSERT INTO files (hash, created_by, mimetype, data) VALUES (%s, %s, "
                         "'application/x-tar', %s) RETURNING id",
                         (uuid.uuid4().hex, self.owner_id, data))[0]["id"]
        version_id = uuid.uuid4()
        with self.conn:
            job_id = self.q(
                "INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input, file_id) "
                "VALUES (%s, %s, 'template_version_import', %s, %s) RETURNING id",
                (self.org_id, self.owner_id, json.dumps({"template_version_id": str(version_id)}),
                 file_id))[0]["id"]
            self.q("INSERT INTO template_versions (id, organization_id, name, job_id, created_by) "
                   "VALUES (%s, %s, %s, %s, %s)", (version_id, self.org_id, "v" + version_id.hex[:6],
                                                    job_id, self.owner_id))
            self.q("SELECT pg_notify('provisioner_job_posted', %s)", (str(job_id),))
        return version_id, job_id

    def template(self, version_id: uuid.UUID) -> uuid.UUID:
        with self.conn:
            template_id = self.q(
                "INSERT INTO templates (organization_id, name, active_version_id, created_by) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (self.org_id, "t" + uuid.uuid4().hex[:6], version_id, self.owner_id))[0]["id"]
            self.q("UPDATE template_versions SET template_id = %s WHERE id = %s", (template_id, version_id))
        return template_id

    def workspace(self, template_id: uuid.UUID) -> uuid.UUID:
        return self.q("INSERT INTO workspaces (owner_id, organization_id, template_id, name) "
                      "VALUES (%s, %s, %s, %s) RETURNING id",
                      (self.owner_id, self.org_id, template_id, "ws" + uuid.uuid4().hex[:6]))[0]["id"]

    def build(self, workspace_id, version_id, transition: str, params: dict[str, str] = {}):
        file_id = self.q("SELECT j.file_id FROM template_versions v JOIN provisioner_jobs j "
                         "ON j.id = v.job_id WHERE v.id = %s", (version_id,))[0]["file_id"]
        number = self.q("SELECT coalesce(max(build_number), 0) + 1 AS n FROM workspace_builds "
                        "WHERE workspace_id = %s", (workspace_id,))[0]["n"]
        build_id = uuid.uuid4()
        with self.conn:
            job_id = self.q(
                "INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input, file_id) "
                "VALUES (%s, %s, 'workspace_build', %s, %s) RETURNING id",
                (self.org_id, self.owner_id, json.dumps({"workspace_build_id": str(build_id),
                                                         "workspace_owner_id": str(self.owner_id)}),
                 file_id))[0]["id"]
            self.q("INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, "
                   "transition, initiator_id, job_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                   (build_id, workspace_id, version_id, number, transition, self.owner_id, job_id))
            for name, value in params.items():
                self.q("INSERT INTO workspace_build_parameters VALUES (%s, %s, %s)", (build_id, name, value))
            self.q("SELECT pg_notify('provisioner_job_posted', %s)", (str(job_id),))
        return build_id, job_id

    def wait(self, job_id, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.q("SELECT * FROM provisioner_jobs WHERE id = %s", (job_id,))[0]
            if job["completed_at"] is not None:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['job_status']}"
            time.sleep(0.2)

    def logs(self, job_id) -> list[dict]:
        return self.q("SELECT * FROM provisioner_job_logs WHERE job_id = %s ORDER BY id", (job_id,))

    def resources(self, job_id) -> list[dict]:
        return self.q("""SELECT r.type, r.name, r.transition, a.name AS agent, a.auth_token,
                                a.environment_variables AS env, a.directory,
                                (SELECT array_agg(slug) FROM workspace_apps WHERE agent_id = a.id) AS apps
                         FROM workspace_resources r LEFT JOIN workspace_agents a ON a.resource_id = r.id
                         WHERE r.job_id = %s ORDER BY r.transition, r.name""", (job_id,))
