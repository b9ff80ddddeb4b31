"""Deployment-wide values (the deployment ID, the first-user flag)."""
from __future__ import annotations

from .base import QueriesBase


class DeploymentQueries(QueriesBase):
    def get_deployment_value(self, key: str) -> str | None:
        return self._scalar("SELECT value FROM deployment_config WHERE key = %s", (key,))

    def insert_deployment_value(self, key: str, value: str) -> str:
        """Set once: concurrent starts agree on the first value written."""
        self._exec("INSERT INTO deployment_config (key, value) VALUES (%s, %s) "
                   "ON CONFLICT (key) DO NOTHING", (key, value))
        return self.get_deployment_value(key)
