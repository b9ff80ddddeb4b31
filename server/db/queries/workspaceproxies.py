"""Workspace proxies (Coder's workspace_proxies): owners create and name them; a proxy,
known by its token, registers its URLs and re-registers as its heartbeat."""
from __future__ import annotations

import uuid

from .base import QueriesBase, rfc3339

_PROXY_COLUMNS = f"""p.id, p.name, p.display_name, p.icon, p.url, p.wildcard_hostname, p.version,
    p.token_hashed_secret, {rfc3339('p.created_at')}, {rfc3339('p.updated_at')},
    {rfc3339('p.last_seen_at')}, p.deregistered, p.deleted,
    extract(epoch FROM now() - p.last_seen_at)::float AS seen_seconds_ago"""


class WorkspaceProxyQueries(QueriesBase):
    def insert_workspace_proxy(self, proxy_id: uuid.UUID, name: str, display_name: str,
                               icon: str, token_hashed_secret: bytes) -> dict:
        self._exec("""INSERT INTO workspace_proxies (id, name, display_name, icon,
                          token_hashed_secret) VALUES (%s, %s, %s, %s, %s)""",
                   (proxy_id, name, display_name, icon, token_hashed_secret))
        return self.get_workspace_proxy_by_id(proxy_id)

    def get_workspace_proxy_by_id(self, proxy_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {_PROXY_COLUMNS} FROM workspace_proxies p WHERE p.id = %s",
                         (proxy_id,))

    def get_workspace_proxy_by_name(self, name: str) -> dict | None:
        return self._one(f"""SELECT {_PROXY_COLUMNS} FROM workspace_proxies p
                             WHERE lower(p.name) = lower(%s) AND NOT p.deleted""", (name,))

    def get_workspace_proxies(self) -> list[dict]:
        return self._all(f"""SELECT {_PROXY_COLUMNS} FROM workspace_proxies p
                             WHERE NOT p.deleted ORDER BY p.created_at, p.name""")

    def update_workspace_proxy(self, proxy_id: uuid.UUID, name: str, display_name: str,
                               icon: str, token_hashed_secret: bytes | None) -> dict | None:
        """Rename it; a new hashed secret (a regenerated token) revokes the old token."""
        self._exec("""UPDATE workspace_proxies SET name = %s, display_name = %s, icon = %s,
                          token_hashed_secret = coalesce(%s, token_hashed_secret),
                          updated_at = now() WHERE id = %s AND NOT deleted""",
                   (name, display_name, icon, token_hashed_secret, proxy_id))
        return self.get_workspace_proxy_by_id(proxy_id)

    def delete_workspace_proxy(self, proxy_id: uuid.UUID) -> int:
        """Soft delete (Coder's): its token stops working at once."""
        return self._exec("""UPDATE workspace_proxies SET deleted = true, updated_at = now()
                             WHERE id = %s AND NOT deleted""", (proxy_id,))

    def register_workspace_proxy(self, proxy_id: uuid.UUID, url: str, wildcard_hostname: str,
                                 version: str) -> dict | None:
        self._exec("""UPDATE workspace_proxies SET url = %s, wildcard_hostname = %s,
                          version = %s, last_seen_at = now(), deregistered = false,
                          updated_at = CASE WHEN url = %s AND wildcard_hostname = %s
                                            THEN updated_at ELSE now() END
                      WHERE id = %s AND NOT deleted""",
                   (url, wildcard_hostname, version, url, wildcard_hostname, proxy_id))
        return self.get_workspace_proxy_by_id(proxy_id)

    def deregister_workspace_proxy(self, proxy_id: uuid.UUID) -> int:
        return self._exec("""UPDATE workspace_proxies SET deregistered = true
                             WHERE id = %s AND NOT deleted""", (proxy_id,))
