"""The relay's rows: which process holds which agent, and what clients connect to.

``relay_processes`` holds each coderd process's internal address and
heartbeat; ``relay_agents`` which process holds an agent's connection. An
entry whose process stopped heartbeating is stale and ignored.
"""
from __future__ import annotations

import uuid

from .base import QueriesBase

# An agent of the latest build of a live workspace, with what authorization needs.
_TARGET_COLUMNS = """a.id, a.name, b.workspace_id, w.name AS workspace_name, w.owner_id,
    w.organization_id, u.username AS owner_name"""
_TARGET_FROM = """workspace_agents a JOIN workspace_resources r ON r.id = a.resource_id
    JOIN workspace_builds b ON b.job_id = r.job_id JOIN workspaces w ON w.id = b.workspace_id
    JOIN users u ON u.id = w.owner_id"""
_LATEST = """NOT w.deleted AND b.build_number = (SELECT max(lb.build_number)
    FROM workspace_builds lb WHERE lb.workspace_id = w.id)"""


class RelayQueries(QueriesBase):
    # processes and the agents they hold
    def upsert_relay_process(self, process_id: uuid.UUID, address: str) -> None:
        self._exec("""INSERT INTO relay_processes (id, address) VALUES (%s, %s)
                      ON CONFLICT (id) DO UPDATE SET address = excluded.address,
                          heartbeat_at = now()""", (process_id, address))

    def heartbeat_relay_process(self, process_id: uuid.UUID, expire_seconds: float) -> int:
        """Mark this process alive and drop processes silent for ``expire_seconds`` (with
        their agents). Returns 0 when this process's own row was gone (re-register)."""
        self._drop_relay_processes("heartbeat_at < now() - make_interval(secs => %s)", expire_seconds)
        return self._exec("UPDATE relay_processes SET heartbeat_at = now() WHERE id = %s",
                          (process_id,))

    def delete_relay_process(self, process_id: uuid.UUID) -> None:
        self._drop_relay_processes("id = %s", process_id)

    def _drop_relay_processes(self, condition: str, value) -> None:
        """Forget the processes that meet ``condition``; the agents they held show as
        disconnected at once, not only after the heartbeat timeout (a client then waits for
        the agent to reconnect rather than be refused by a process that no longer holds it)."""
        self._exec(f"""WITH gone AS (DELETE FROM relay_processes WHERE {condition} RETURNING id)
                       UPDATE workspace_agents SET disconnected_at = now(), updated_at = now()
                       WHERE id IN (SELECT agent_id FROM relay_agents
                                    WHERE process_id IN (SELECT id FROM gone))""", (value,))

    def upsert_relay_agent(self, agent_id: uuid.UUID, process_id: uuid.UUID) -> None:
        self._exec("""INSERT INTO relay_agents (agent_id, process_id) VALUES (%s, %s)
                      ON CONFLICT (agent_id) DO UPDATE SET process_id = excluded.process_id,
                          connected_at = now()""", (agent_id, process_id))

    def delete_relay_agent(self, agent_id: uuid.UUID, process_id: uuid.UUID) -> None:
        """Forget the agent unless another process has taken it over since."""
        self._exec("DELETE FROM relay_agents WHERE agent_id = %s AND process_id = %s",
                   (agent_id, process_id))

    def update_relay_agents_connected(self, agent_ids: list[uuid.UUID]) -> int:
        """Record every agent whose relay connection this process holds as there now: one
        statement per interval for all of them, however many agents a process holds."""
        if not agent_ids:
            return 0
        # An agent that disconnected after the list was taken stays disconnected:
        # only a new connection (update_workspace_agent_connection) revives it.
        return self._exec("""UPDATE workspace_agents
                             SET first_connected_at = coalesce(first_connected_at, now()),
                                 last_connected_at = now(), updated_at = now()
                             WHERE id = ANY(%s::uuid[])
                               AND (disconnected_at IS NULL
                                    OR disconnected_at <= last_connected_at)""", (list(agent_ids),))

    def get_relay_address(self, agent_id: uuid.UUID, fresh_seconds: float) -> dict | None:
        return self._one("""SELECT p.id AS process_id, p.address FROM relay_agents ra
                            JOIN relay_processes p ON p.id = ra.process_id
                            WHERE ra.agent_id = %s
                              AND p.heartbeat_at > now() - make_interval(secs => %s)""",
                         (agent_id, fresh_seconds))

    # what clients connect to
    def get_agent_connect_target(self, agent_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {_TARGET_COLUMNS} FROM {_TARGET_FROM} WHERE a.id = %s AND {_LATEST}",
                         (agent_id,))

    def get_agents_by_workspace_path(self, owner_name: str, workspace_name: str) -> list[dict]:
        """The agents of ``owner``'s workspace, as app paths name them (``/@owner/workspace``)."""
        return self._all(f"""SELECT {_TARGET_COLUMNS} FROM {_TARGET_FROM}
                             WHERE lower(u.username) = lower(%s) AND lower(w.name) = lower(%s)
                               AND {_LATEST} ORDER BY a.display_order, a.name""",
                         (owner_name, workspace_name))

    def get_port_share_target(self, agent_id: uuid.UUID, port: int) -> dict | None:
        """The agent, with the sharing level of its port (none: owner-only)."""
        return self._one(f"""SELECT {_TARGET_COLUMNS}, s.share_level AS sharing_level
                             FROM {_TARGET_FROM} JOIN workspace_agent_port_shares s
                               ON s.workspace_id = w.id AND s.agent_name = a.name AND s.port = %s
                             WHERE a.id = %s AND {_LATEST}""", (port, agent_id))

    def get_workspace_app_target(self, agent_id: uuid.UUID, slug: str) -> dict | None:
        return self._one(f"""SELECT {_TARGET_COLUMNS}, app.slug, app.url, app.command,
                                    app.subdomain, app.sharing_level::text AS sharing_level
                             FROM {_TARGET_FROM} JOIN workspace_apps app ON app.agent_id = a.id
                             WHERE a.id = %s AND app.slug = %s AND {_LATEST}""", (agent_id, slug))
