"""API keys: session tokens and named long-lived tokens."""
from __future__ import annotations

import datetime as dt
import uuid

from .base import QueriesBase

KEY_COLUMNS = """k.id, k.user_id, k.last_used, k.expires_at, k.created_at, k.updated_at,
    k.login_type, k.lifetime_seconds, k.scope, k.token_name"""


class APIKeyQueries(QueriesBase):
    def insert_api_key(self, *, id: str, hashed_secret: bytes, user_id: uuid.UUID,
                       expires_at: dt.datetime, login_type: str, lifetime_seconds: int,
                       ip_address: str | None, scope: str = "all", token_name: str = "") -> dict:
        return self._one(
            f"""INSERT INTO api_keys AS k (id, hashed_secret, user_id, expires_at, login_type,
                    lifetime_seconds, ip_address, scope, token_name)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}""",
            (id, hashed_secret, user_id, expires_at, login_type, lifetime_seconds, ip_address,
             scope, token_name))

    def get_api_key_by_id(self, key_id: str) -> dict | None:
        return self._one(f"SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = %s", (key_id,))

    def get_api_key_by_name(self, user_id: uuid.UUID, token_name: str) -> dict | None:
        return self._one(
            f"""SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = %s
                AND k.login_type = 'token' AND lower(k.token_name) = lower(%s)""",
            (user_id, token_name))

    def get_api_keys_by_user(self, user_id: uuid.UUID, login_type: str | None = None) -> list[dict]:
        return self._all(
            f"""SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = %s
                AND (%s::login_type IS NULL OR k.login_type = %s::login_type)
                ORDER BY k.created_at""", (user_id, login_type, login_type))

    def get_api_keys_by_login_type(self, login_type: str) -> list[dict]:
        return self._all(f"SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.login_type = %s "
                         "ORDER BY k.created_at", (login_type,))

    def get_authentication(self, key_id: str) -> dict | None:
        """One round trip for every authenticated request: key, user, memberships."""
        return self._one(
            """SELECT k.id AS key_id, k.hashed_secret, k.expires_at, k.last_used, k.scope,
                      k.lifetime_seconds, k.login_type AS key_login_type,
                      u.id AS user_id, u.username, u.status, u.rbac_roles, u.deleted,
                      u.organization_ids
               FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = %s""", (key_id,))

    def update_api_key_used(self, key_id: str, expires_at: dt.datetime | None) -> None:
        # Setting expires_at to itself would fire the auth trigger on every use.
        if expires_at is None:
            self._exec("UPDATE api_keys SET last_used = now() WHERE id = %s", (key_id,))
        else:
            self._exec("UPDATE api_keys SET last_used = now(), expires_at = %s WHERE id = %s",
                       (expires_at, key_id))

    def expire_api_key(self, key_id: str) -> None:
        """Coder's expire: the key stops working now but stays listed (an already expired
        key keeps its time)."""
        for row in self._all("""UPDATE api_keys SET expires_at = now()
                                WHERE id = %s AND expires_at > now() RETURNING user_id""",
                             (key_id,)):
            self._auth_changed(row["user_id"])

    def delete_api_key(self, key_id: str) -> int:
        rows = self._all("DELETE FROM api_keys WHERE id = %s RETURNING user_id", (key_id,))
        for row in rows:
            self._auth_changed(row["user_id"])
        return len(rows)

    def delete_api_keys_by_user(self, user_id: uuid.UUID, login_type: str | None = None) -> int:
        deleted = self._exec("""DELETE FROM api_keys WHERE user_id = %s
                                AND (%s::login_type IS NULL OR login_type = %s::login_type)""",
                             (user_id, login_type, login_type))
        self._auth_changed(user_id)
        return deleted
