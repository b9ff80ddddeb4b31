"""Workspaces, their builds and build parameters, and what builds made (resources,
agents, apps, scripts, metadata), which the provisioner side writes.

Lists of workspaces are filtered in SQL by the caller's visibility (handed in
by the authorization layer), so paging and counts are right for every role.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from .base import QueriesBase, conditions

WORKSPACE_COLUMNS = """w.*, u.username AS owner_name, u.avatar_url AS owner_avatar_url,
    o.name AS organization_name, t.name AS template_name,
    t.display_name AS template_display_name, t.icon AS template_icon,
    t.active_version_id AS template_active_version_id, t.default_ttl AS template_default_ttl,
    t.allow_user_cancel_workspace_jobs AS template_allow_user_cancel_workspace_jobs,
    t.require_active_version AS template_require_active_version"""
WORKSPACE_FROM = """workspaces w JOIN users u ON u.id = w.owner_id
    JOIN organizations o ON o.id = w.organization_id JOIN templates t ON t.id = w.template_id"""
# Coder's WorkspaceStatus from a build's transition and its job's status.
BUILD_STATUS = """CASE j.job_status
    WHEN 'pending' THEN 'pending'
    WHEN 'running' THEN CASE b.transition WHEN 'start' THEN 'starting'
                                          WHEN 'stop' THEN 'stopping' ELSE 'deleting' END
    WHEN 'succeeded' THEN CASE b.transition WHEN 'start' THEN 'running'
                                            WHEN 'stop' THEN 'stopped' ELSE 'deleted' END
    WHEN 'canceling' THEN 'canceling'
    WHEN 'canceled' THEN 'canceled'
    ELSE 'failed' END"""
# Every column of a build but its Terraform state, which the API never returns.
BUILD_COLUMNS = f"""b.id, b.created_at, b.updated_at, b.workspace_id, b.template_version_id,
    b.build_number, b.transition, b.initiator_id, b.job_id, b.deadline, b.max_deadline,
    b.reason, b.daily_cost, w.name AS workspace_name, w.owner_id AS workspace_owner_id,
    w.organization_id, ou.username AS workspace_owner_name,
    ou.avatar_url AS workspace_owner_avatar_url, v.name AS template_version_name,
    iu.username AS initiator_name, j.job_status, {BUILD_STATUS} AS status"""
BUILD_FROM = """workspace_builds b JOIN workspaces w ON w.id = b.workspace_id
    JOIN users ou ON ou.id = w.owner_id JOIN users iu ON iu.id = b.initiator_id
    JOIN template_versions v ON v.id = b.template_version_id
    JOIN provisioner_jobs j ON j.id = b.job_id"""
LATEST_BUILD = """JOIN LATERAL (SELECT * FROM workspace_builds lb WHERE lb.workspace_id = w.id
                                ORDER BY lb.build_number DESC LIMIT 1) b ON true
    JOIN provisioner_jobs j ON j.id = b.job_id"""


def _visible(visible: Any, params: list) -> str:
    """The SQL condition for rows the caller may see (see rbac.visibility)."""
    if visible is None or visible.all:
        return "true"
    params += [visible.owner_id, [str(o) for o in visible.org_ids]]
    return "(w.owner_id = %s OR w.organization_id = ANY(%s::uuid[]))"


class WorkspaceQueries(QueriesBase):
    # workspaces
    def insert_workspace(self, *, owner_id: uuid.UUID, organization_id: uuid.UUID,
                         template_id: uuid.UUID, name: str, autostart_schedule: str | None,
                         ttl: int | None, automatic_updates: str) -> dict:
        row = self._one(
            """INSERT INTO workspaces (owner_id, organization_id, template_id, name,
                   autostart_schedule, ttl, automatic_updates)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (owner_id, organization_id, template_id, name, autostart_schedule, ttl,
             automatic_updates))
        return self.get_workspace_by_id(row["id"])

    def get_workspace_by_id(self, workspace_id: uuid.UUID,
                            include_deleted: bool = False) -> dict | None:
        return self._one(f"SELECT {WORKSPACE_COLUMNS} FROM {WORKSPACE_FROM} "
                         "WHERE w.id = %s AND (%s OR NOT w.deleted)",
                         (workspace_id, include_deleted))

    def get_workspace_by_owner_and_name(self, owner_id: uuid.UUID, name: str,
                                        include_deleted: bool = False) -> dict | None:
        """The live workspace of that name, else (with include_deleted) the newest deleted one."""
        return self._one(f"""SELECT {WORKSPACE_COLUMNS} FROM {WORKSPACE_FROM}
                             WHERE w.owner_id = %s AND lower(w.name) = lower(%s)
                               AND (%s OR NOT w.deleted)
                             ORDER BY w.deleted, w.created_at DESC LIMIT 1""",
                         (owner_id, name, include_deleted))

    def get_workspaces(self, *, owner_username: str = "", template_name: str = "",
                       name: str = "", status: str = "", deleted: bool = False,
                       requester_id: uuid.UUID | None = None, offset: int = 0,
                       limit: int | None = None, visible: Any = None) -> list[dict]:
        """Workspaces by Coder's filters in Coder's order: the requester's favorites, then
        running ones, then by owner and name; ``count`` is the total before paging."""
        params: list = []
        where = [_visible(visible, params), "w.deleted = %s"]
        params.append(deleted)
        more, more_params = conditions(
            ("lower(u.username) = lower(%s)", owner_username),
            ("lower(t.name) = lower(%s)", template_name),
            ("w.name ILIKE %s",
             "%" + name.replace("%", r"\%").replace("_", r"\_") + "%" if name else ""),
            (f"({BUILD_STATUS}) = %s", status))
        where += more
        params += more_params
        sql = (f"SELECT {WORKSPACE_COLUMNS}, count(*) OVER () AS count FROM {WORKSPACE_FROM} "
               f"{LATEST_BUILD} WHERE {' AND '.join(where)} "
               "ORDER BY (w.owner_id = %s AND w.favorite) DESC, "
               "(b.transition = 'start' AND j.job_status = 'succeeded') DESC, "
               "lower(u.username), lower(w.name) OFFSET %s")
        params += [requester_id, offset]
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        return self._all(sql, params)

    def update_workspace_ttl(self, workspace_id: uuid.UUID, ttl: int | None) -> None:
        self._exec("UPDATE workspaces SET ttl = %s, updated_at = now() WHERE id = %s",
                   (ttl, workspace_id))

    def update_workspace_name(self, workspace_id: uuid.UUID, name: str) -> None:
        """Renames a live workspace (a name another live workspace of the owner holds raises
        UniqueViolation)."""
        self._exec("UPDATE workspaces SET name = %s, updated_at = now() "
                   "WHERE id = %s AND NOT deleted", (name, workspace_id))

    def update_workspace_autostart(self, workspace_id: uuid.UUID, schedule: str | None,
                                   next_start_at: dt.datetime | None) -> None:
        self._exec("UPDATE workspaces SET autostart_schedule = %s, next_start_at = %s, "
                   "updated_at = now() WHERE id = %s", (schedule, next_start_at, workspace_id))

    def update_workspace_next_start_at(self, workspace_id: uuid.UUID,
                                       next_start_at: dt.datetime | None) -> None:
        self._exec("UPDATE workspaces SET next_start_at = %s WHERE id = %s",
                   (next_start_at, workspace_id))

    def update_workspace_favorite(self, workspace_id: uuid.UUID, favorite: bool) -> None:
        self._exec("UPDATE workspaces SET favorite = %s WHERE id = %s", (favorite, workspace_id))

    def get_workspace_port_shares(self, workspace_id: uuid.UUID) -> list[dict]:
        return self._all("SELECT * FROM workspace_agent_port_shares WHERE workspace_id = %s "
                         "ORDER BY agent_name, port", (workspace_id,))

    def upsert_workspace_port_share(self, workspace_id: uuid.UUID, agent_name: str, port: int,
                                    share_level: str, protocol: str) -> dict:
        return self._one(
            """INSERT INTO workspace_agent_port_shares AS s (workspace_id, agent_name, port,
                   share_level, protocol) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (workspace_id, agent_name, port) DO UPDATE
                   SET share_level = excluded.share_level, protocol = excluded.protocol
               RETURNING s.*""", (workspace_id, agent_name, port, share_level, protocol))

    def delete_workspace_port_share(self, workspace_id: uuid.UUID, agent_name: str,
                                    port: int) -> int:
        return self._exec("DELETE FROM workspace_agent_port_shares WHERE workspace_id = %s "
                          "AND agent_name = %s AND port = %s", (workspace_id, agent_name, port))

    def update_workspace_last_used(self, workspace_id: uuid.UUID) -> None:
        self._exec("UPDATE workspaces SET last_used_at = now() WHERE id = %s", (workspace_id,))

    def update_workspace_automatic_updates(self, workspace_id: uuid.UUID, policy: str) -> None:
        self._exec("UPDATE workspaces SET automatic_updates = %s, updated_at = now() "
                   "WHERE id = %s", (policy, workspace_id))

    def update_workspace_build_deadline(self, workspace_id: uuid.UUID, build_id: uuid.UUID,
                                        deadline: dt.datetime) -> None:
        self._exec("UPDATE workspace_builds SET deadline = %s, updated_at = now() "
                   "WHERE id = %s AND workspace_id = %s", (deadline, build_id, workspace_id))

    def get_workspaces_to_autostart(self, now: dt.datetime) -> list[dict]:
        """Stopped workspaces of active users whose next autostart has come (Coder's
        lifecycle executor: a failed or busy last build, a deleted workspace are passed by),
        with the time their latest build was queued."""
        return self._all(
            f"""SELECT {WORKSPACE_COLUMNS}, b.created_at AS latest_build_created_at
                FROM {WORKSPACE_FROM} {LATEST_BUILD}
                WHERE NOT w.deleted AND u.status = 'active' AND NOT u.deleted
                  AND w.autostart_schedule IS NOT NULL AND w.next_start_at <= %s
                  AND b.transition = 'stop' AND j.job_status IN ('succeeded', 'canceled')
                ORDER BY w.next_start_at""", (now,))

    def get_workspaces_to_autostop(self, now: dt.datetime) -> list[dict]:
        """Running workspaces (latest build: a succeeded start) past their deadline."""
        return self._all(
            f"""SELECT {WORKSPACE_COLUMNS}, b.id AS latest_build_id FROM {WORKSPACE_FROM}
                {LATEST_BUILD}
                WHERE NOT w.deleted AND b.transition = 'start' AND j.job_status = 'succeeded'
                  AND b.deadline IS NOT NULL AND b.deadline <= %s
                ORDER BY b.deadline""", (now,))

    # builds
    def insert_workspace_build(self, *, id: uuid.UUID, workspace_id: uuid.UUID,
                               template_version_id: uuid.UUID, build_number: int,
                               transition: str, initiator_id: uuid.UUID, job_id: uuid.UUID,
                               provisioner_state: bytes | None, deadline: dt.datetime | None,
                               reason: str, parameters: list[tuple[str, str]]) -> dict:
        """A build and the parameter values it runs with (in the caller's transaction).

        ``provisioner_state`` None carries the previous build's Terraform state
        over, as Coder does: the provisioner starts from it, and a failed build
        keeps it, so the next build still knows what exists.
        """
        row = self._one(
            """INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number,
                   transition, initiator_id, job_id, provisioner_state, deadline, reason)
               VALUES (%s, %s, %s, %s, %s, %s, %s,
                       coalesce(%s, (SELECT provisioner_state FROM workspace_builds
                                     WHERE workspace_id = %s ORDER BY build_number DESC LIMIT 1)),
                       %s, %s) RETURNING id""",
            (id, workspace_id, template_version_id, build_number, transition, initiator_id,
             job_id, provisioner_state, workspace_id, deadline, reason))
        for name, value in parameters:
            self._exec("""INSERT INTO workspace_build_parameters (workspace_build_id, name, value)
                          VALUES (%s, %s, %s)""", (row["id"], name, value))
        self._exec("UPDATE workspaces SET updated_at = now() WHERE id = %s", (workspace_id,))
        return self.get_workspace_build_by_id(row["id"])

    def get_workspace_build_by_id(self, build_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {BUILD_COLUMNS} FROM {BUILD_FROM} WHERE b.id = %s", (build_id,))

    def get_workspace_build_by_job_id(self, job_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {BUILD_COLUMNS} FROM {BUILD_FROM} WHERE b.job_id = %s",
                         (job_id,))

    def get_workspace_build_by_number(self, workspace_id: uuid.UUID,
                                      build_number: int) -> dict | None:
        return self._one(f"SELECT {BUILD_COLUMNS} FROM {BUILD_FROM} "
                         "WHERE b.workspace_id = %s AND b.build_number = %s",
                         (workspace_id, build_number))

    def get_workspace_build_state(self, build_id: uuid.UUID) -> bytes:
        """The build's Terraform state (empty when it has none), which only template admins
        may read: the handler checks that before asking as a system actor."""
        row = self._one("SELECT provisioner_state FROM workspace_builds WHERE id = %s", (build_id,))
        return bytes(row["provisioner_state"] or b"") if row else b""

    def get_workspace_builds_by_workspace_id(self, workspace_id: uuid.UUID, *, offset: int = 0,
                                             limit: int | None = None) -> list[dict]:
        sql = (f"SELECT {BUILD_COLUMNS} FROM {BUILD_FROM} WHERE b.workspace_id = %s "
               "ORDER BY b.build_number DESC OFFSET %s")
        params: list = [workspace_id, offset]
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        return self._all(sql, params)

    def get_latest_workspace_builds_by_workspace_ids(self,
                                                     workspace_ids: list[uuid.UUID]) -> list[dict]:
        return self._all(
            f"""SELECT DISTINCT ON (b.workspace_id) {BUILD_COLUMNS} FROM {BUILD_FROM}
                WHERE b.workspace_id = ANY(%s::uuid[])
                ORDER BY b.workspace_id, b.build_number DESC""",
            ([str(w) for w in workspace_ids],))

    def get_workspace_build_parameters(self, build_id: uuid.UUID) -> list[dict]:
        return self._all(
            """SELECT p.name, p.value, w.owner_id AS workspace_owner_id, w.organization_id,
                      b.id AS build_id
               FROM workspace_build_parameters p JOIN workspace_builds b ON b.id = p.workspace_build_id
               JOIN workspaces w ON w.id = b.workspace_id
               WHERE p.workspace_build_id = %s ORDER BY p.name""", (build_id,))

    def get_user_workspace_build_parameters(self, owner_id: uuid.UUID,
                                            template_id: uuid.UUID) -> list[dict]:
        """Coder's autofill: each non-ephemeral parameter's latest value in the user's start
        builds of the template's workspaces, newest first (at most 100)."""
        return self._all(
            """SELECT name, value FROM (
                   SELECT DISTINCT ON (tvp.name) tvp.name, p.value, b.created_at
                   FROM workspace_build_parameters p
                   JOIN workspace_builds b ON b.id = p.workspace_build_id
                   JOIN workspaces w ON w.id = b.workspace_id
                   JOIN template_version_parameters tvp
                       ON tvp.template_version_id = b.template_version_id AND tvp.name = p.name
                   WHERE w.owner_id = %s AND w.template_id = %s AND b.transition = 'start'
                         AND NOT tvp.ephemeral
                   ORDER BY tvp.name, b.created_at DESC) latest
               ORDER BY created_at DESC, name LIMIT 100""", (owner_id, template_id))

    # what a job made
    def get_workspace_resources_by_job_ids(self, job_ids: list[uuid.UUID]) -> list[dict]:
        """Resources with their agents (apps, scripts) and metadata, as the API returns them."""
        ids = [str(j) for j in job_ids]
        resources = self._all(
            """SELECT r.*, j.type AS job_type, j.input AS job_input,
                      j.organization_id AS job_organization_id, j.initiator_id AS job_initiator_id
               FROM workspace_resources r JOIN provisioner_jobs j ON j.id = r.job_id
               WHERE r.job_id = ANY(%s::uuid[]) ORDER BY r.created_at, r.type, r.name""", (ids,))
        if not resources:
            return []
        resource_ids = [str(r["id"]) for r in resources]
        agents = self._all("""SELECT * FROM workspace_agents WHERE resource_id = ANY(%s::uuid[])
                              ORDER BY display_order, name""", (resource_ids,))
        agent_ids = [str(a["id"]) for a in agents]
        apps = self._all("""SELECT * FROM workspace_apps WHERE agent_id = ANY(%s::uuid[])
                            ORDER BY display_order, slug""", (agent_ids,)) if agents else []
        scripts = self._all("""SELECT * FROM workspace_agent_scripts
                               WHERE workspace_agent_id = ANY(%s::uuid[]) ORDER BY created_at""",
                            (agent_ids,)) if agents else []
        metadata = self._all("""SELECT * FROM workspace_resource_metadata
                                WHERE workspace_resource_id = ANY(%s::uuid[]) ORDER BY key""",
                             (resource_ids,))
        for agent in agents:
            agent["apps"] = [a for a in apps if a["agent_id"] == agent["id"]]
            agent["scripts"] = [s for s in scripts if s["workspace_agent_id"] == agent["id"]]
        for resource in resources:
            resource["agents"] = [a for a in agents if a["resource_id"] == resource["id"]]
            resource["metadata"] = [m for m in metadata
                                    if m["workspace_resource_id"] == resource["id"]]
        return resources
