"""Templates, their versions and the versions' parameters."""
from __future__ import annotations

import uuid

from psycopg2.extras import Json
from typing import Any

from .base import QueriesBase
from .users import SYSTEM_USER_ID

TEMPLATE_COLUMNS = """t.*, u.username AS created_by_name, u.avatar_url AS created_by_avatar_url,
    o.name AS organization_name, o.display_name AS organization_display_name,
    o.icon AS organization_icon,
    (SELECT count(DISTINCT w.owner_id) FROM workspaces w
     WHERE w.template_id = t.id AND NOT w.deleted) AS active_user_count"""
TEMPLATE_FROM = """templates t JOIN users u ON u.id = t.created_by
    JOIN organizations o ON o.id = t.organization_id"""
VERSION_COLUMNS = """v.*, u.username AS created_by_name, u.avatar_url AS created_by_avatar_url"""
VERSION_FROM = "template_versions v JOIN users u ON u.id = v.created_by"
# What UpdateTemplateMeta may change.
TEMPLATE_META_FIELDS = ("name", "display_name", "description", "icon", "default_ttl",
                        "activity_bump", "allow_user_cancel_workspace_jobs",
                        "require_active_version", "deprecated")


class TemplateQueries(QueriesBase):
    # templates
    def insert_template(self, *, organization_id: uuid.UUID, name: str, display_name: str,
                        description: str, icon: str, active_version_id: uuid.UUID,
                        created_by: uuid.UUID, default_ttl: int, activity_bump: int,
                        allow_user_cancel_workspace_jobs: bool,
                        require_active_version: bool) -> dict:
        row = self._one(
            """INSERT INTO templates (organization_id, name, display_name, description, icon,
                   active_version_id, created_by, default_ttl, activity_bump,
                   allow_user_cancel_workspace_jobs, require_active_version)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (organization_id, name, display_name, description, icon, active_version_id,
             created_by, default_ttl, activity_bump, allow_user_cancel_workspace_jobs,
             require_active_version))
        return self.get_template_by_id(row["id"])

    def get_template_by_id(self, template_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {TEMPLATE_COLUMNS} FROM {TEMPLATE_FROM} "
                         "WHERE t.id = %s AND NOT t.deleted", (template_id,))

    def get_template_by_organization_and_name(self, organization_id: uuid.UUID,
                                              name: str) -> dict | None:
        return self._one(f"SELECT {TEMPLATE_COLUMNS} FROM {TEMPLATE_FROM} WHERE "
                         "t.organization_id = %s AND lower(t.name) = lower(%s) AND NOT t.deleted",
                         (organization_id, name))

    def get_templates(self, organization_id: uuid.UUID | None = None) -> list[dict]:
        where, params = ["NOT t.deleted"], []
        if organization_id is not None:
            where.append("t.organization_id = %s")
            params.append(organization_id)
        return self._all(f"SELECT {TEMPLATE_COLUMNS} FROM {TEMPLATE_FROM} "
                         f"WHERE {' AND '.join(where)} ORDER BY lower(t.name)", params)

    def update_template_meta(self, template_id: uuid.UUID, changes: dict[str, Any]) -> dict | None:
        fields = [f for f in TEMPLATE_META_FIELDS if f in changes]
        if fields:
            sets = ", ".join(f"{f} = %s" for f in fields)
            self._exec(f"UPDATE templates SET {sets}, updated_at = now() WHERE id = %s",
                       [changes[f] for f in fields] + [template_id])
        return self.get_template_by_id(template_id)

    def update_template_active_version(self, template_id: uuid.UUID,
                                       version_id: uuid.UUID) -> None:
        self._exec("UPDATE templates SET active_version_id = %s, updated_at = now() WHERE id = %s",
                   (version_id, template_id))

    def delete_template(self, template_id: uuid.UUID) -> None:
        """Soft delete, as Coder does: builds keep pointing at the versions."""
        self._exec("UPDATE templates SET deleted = true, updated_at = now() WHERE id = %s",
                   (template_id,))

    def get_workspace_count_by_template_id(self, template_id: uuid.UUID) -> int:
        return self._scalar("SELECT count(*) FROM workspaces WHERE template_id = %s "
                            "AND NOT deleted", (template_id,))

    def get_template_build_time(self, template_id: uuid.UUID) -> float | None:
        """The median seconds of the template's last 100 successful start builds of the last
        30 days (Coder's GetTemplateAverageBuildTime, its start_50); None without any."""
        return self._scalar(
            """SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) FROM (
                   SELECT extract(epoch FROM j.completed_at - j.started_at)::float AS seconds
                   FROM workspace_builds b
                   JOIN template_versions v ON v.id = b.template_version_id
                   JOIN provisioner_jobs j ON j.id = b.job_id
                   WHERE v.template_id = %s AND b.transition = 'start'
                     AND j.job_status = 'succeeded'
                     AND j.started_at > now() - interval '30 days'
                   ORDER BY b.created_at DESC LIMIT 100) recent""", (template_id,))

    # versions
    def insert_template_version(self, *, id: uuid.UUID, template_id: uuid.UUID | None,
                                organization_id: uuid.UUID, name: str, message: str,
                                readme: str, job_id: uuid.UUID, created_by: uuid.UUID,
                                workspace_tags: dict) -> dict:
        row = self._one(
            """INSERT INTO template_versions (id, template_id, organization_id, name, message,
                   readme, job_id, created_by, workspace_tags)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (id, template_id, organization_id, name, message, readme, job_id, created_by,
             Json(workspace_tags)))
        return self.get_template_version_by_id(row["id"])

    def get_template_version_by_id(self, version_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE v.id = %s",
                         (version_id,))

    def get_template_version_by_job_id(self, job_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE v.job_id = %s",
                         (job_id,))

    def get_template_version_by_template_and_name(self, template_id: uuid.UUID,
                                                  name: str) -> dict | None:
        return self._one(f"SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} "
                         "WHERE v.template_id = %s AND lower(v.name) = lower(%s)",
                         (template_id, name))

    def get_template_versions_by_template_id(self, template_id: uuid.UUID,
                                             include_archived: bool = True) -> list[dict]:
        return self._all(f"SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} "
                         "WHERE v.template_id = %s AND (%s OR NOT v.archived) "
                         "ORDER BY v.created_at, v.id", (template_id, include_archived))

    def get_previous_template_version(self, template_id: uuid.UUID, name: str) -> dict | None:
        """The version of the template made just before the one named ``name``."""
        return self._one(f"SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} "
                         "WHERE v.template_id = %s AND v.created_at < "
                         "(SELECT created_at FROM template_versions WHERE template_id = %s "
                         " AND lower(name) = lower(%s)) "
                         "ORDER BY v.created_at DESC LIMIT 1", (template_id, template_id, name))

    def archive_unused_template_versions(self, template_id: uuid.UUID,
                                         version_id: uuid.UUID | None = None,
                                         failed_only: bool = False) -> list[uuid.UUID]:
        """Archive the template's versions nothing uses (not active, not the version of a
        workspace's latest build), only ``version_id`` if given, only failed imports if
        ``failed_only``, as Coder's ArchiveUnusedTemplateVersions; the IDs archived."""
        rows = self._all(
            """UPDATE template_versions v SET archived = true, updated_at = now()
               FROM provisioner_jobs j, templates t
               WHERE j.id = v.job_id AND t.id = v.template_id AND v.template_id = %s
                 AND NOT v.archived AND t.active_version_id <> v.id
                 AND (%s::uuid IS NULL OR v.id = %s::uuid)
                 AND (NOT %s OR j.job_status = 'failed')
                 AND NOT EXISTS (
                     SELECT 1 FROM workspaces w
                     JOIN LATERAL (SELECT b.template_version_id FROM workspace_builds b
                                   WHERE b.workspace_id = w.id
                                   ORDER BY b.build_number DESC LIMIT 1) latest ON true
                     WHERE NOT w.deleted AND latest.template_version_id = v.id)
               RETURNING v.id""",
            (template_id, version_id and str(version_id), version_id and str(version_id),
             failed_only))
        return [r["id"] for r in rows]

    def unarchive_template_version(self, version_id: uuid.UUID) -> None:
        self._exec("UPDATE template_versions SET archived = false, updated_at = now() "
                   "WHERE id = %s", (version_id,))

    def update_template_version(self, version_id: uuid.UUID, name: str, message: str) -> None:
        self._exec("UPDATE template_versions SET name = %s, message = %s, updated_at = now() "
                   "WHERE id = %s", (name, message, version_id))

    def update_template_version_template_id(self, version_id: uuid.UUID,
                                            template_id: uuid.UUID) -> None:
        """A version made without a template joins the template made from it."""
        self._exec("UPDATE template_versions SET template_id = %s, updated_at = now() "
                   "WHERE id = %s", (template_id, version_id))

    def delete_import_checks(self) -> int:
        """The install check's finished versions (the system user's, of no template), their
        jobs (with the jobs' logs and resources), and the files no other job runs; how many
        versions. A check still pending or running is left to finish."""
        return self._scalar(
            """WITH versions AS (
                   DELETE FROM template_versions v USING provisioner_jobs j
                   WHERE v.job_id = j.id AND v.created_by = %s AND v.template_id IS NULL
                     AND j.completed_at IS NOT NULL
                   RETURNING v.job_id),
               jobs AS (
                   DELETE FROM provisioner_jobs WHERE id IN (SELECT job_id FROM versions)
                   RETURNING file_id),
               unused AS (
                   DELETE FROM files f WHERE f.id IN (SELECT file_id FROM jobs)
                     AND NOT EXISTS (SELECT 1 FROM provisioner_jobs o WHERE o.file_id = f.id
                                     AND o.id NOT IN (SELECT job_id FROM versions))
                   RETURNING f.id)
               SELECT count(*) FROM versions""", (SYSTEM_USER_ID,))

    def get_template_version_variables(self, template_version_id: uuid.UUID) -> list[dict]:
        return self._all("""SELECT * FROM template_version_variables
                            WHERE template_version_id = %s ORDER BY display_order""",
                         (template_version_id,))

    def get_template_version_presets(self, template_version_id: uuid.UUID) -> list[dict]:
        """Each preset with its ``parameters`` (a list of name/value dicts), by name."""
        return self._all(
            """SELECT p.*, COALESCE((SELECT json_agg(json_build_object('name', pp.name,
                                                                       'value', pp.value)
                                                     ORDER BY pp.name)
                                     FROM template_version_preset_parameters pp
                                     WHERE pp.template_version_preset_id = p.id), '[]') AS parameters
               FROM template_version_presets p WHERE p.template_version_id = %s ORDER BY p.name""",
            (template_version_id,))

    def get_template_version_parameters(self, template_version_id: uuid.UUID) -> list[dict]:
        return self._all("""SELECT * FROM template_version_parameters
                            WHERE template_version_id = %s ORDER BY display_order, name""",
                         (template_version_id,))
