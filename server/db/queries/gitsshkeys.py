"""Users' git SSH keys (Coder's gitsshkeys): read by the user and by their workspaces' agents."""
from __future__ import annotations

import uuid

from .base import QueriesBase, rfc3339

_KEY_COLUMNS = f"""k.user_id, {rfc3339('k.created_at')}, {rfc3339('k.updated_at')},
    k.private_key, k.public_key"""


class GitSSHKeyQueries(QueriesBase):
    def get_git_ssh_key(self, user_id: uuid.UUID) -> dict | None:
        return self._one(f"SELECT {_KEY_COLUMNS} FROM gitsshkeys k WHERE k.user_id = %s",
                         (user_id,))

    def insert_git_ssh_key(self, user_id: uuid.UUID, private_key: str, public_key: str) -> dict:
        """The user's key; one made meanwhile (two first uses at once) wins over this one."""
        self._exec("""INSERT INTO gitsshkeys (user_id, private_key, public_key) VALUES (%s, %s, %s)
                      ON CONFLICT (user_id) DO NOTHING""", (user_id, private_key, public_key))
        return self.get_git_ssh_key(user_id)

    def update_git_ssh_key(self, user_id: uuid.UUID, private_key: str, public_key: str) -> dict:
        self._exec("""INSERT INTO gitsshkeys (user_id, private_key, public_key) VALUES (%s, %s, %s)
                      ON CONFLICT (user_id) DO UPDATE SET private_key = EXCLUDED.private_key,
                          public_key = EXCLUDED.public_key, updated_at = now()""",
                   (user_id, private_key, public_key))
        return self.get_git_ssh_key(user_id)

    def get_workspace_agent_owner_id(self, agent_id: uuid.UUID) -> uuid.UUID | None:
        """Whose workspace the agent runs in: the owner whose git key it may fetch."""
        return self._scalar("""SELECT w.owner_id FROM workspace_agents a
                               JOIN workspace_resources r ON r.id = a.resource_id
                               JOIN workspace_builds b ON b.job_id = r.job_id
                               JOIN workspaces w ON w.id = b.workspace_id WHERE a.id = %s""",
                            (agent_id,))
