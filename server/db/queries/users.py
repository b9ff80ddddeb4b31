"""Users.

A user comes back as a ``UserRow`` and a page of them as ``UserPageRow``s:
named tuples, not dicts. Building a dict per row and a ``types.User`` from it
by keywords was most of what a page of users cost coderd (docs/benchmarks.md,
stop 11); a row made by ``_make``, whose columns ``server.api.convert.from_row``
matches to the API fields by name once per row type, costs less than half.
"""
from __future__ import annotations

import uuid
from collections import namedtuple

from .base import QueriesBase, conditions, rfc3339

# A user row's times and organization IDs (kept on the row by a trigger, in join order)
# only ever go out as JSON, so they come as the text the API writes.
_USER_DATA = f"""u.email, u.username, u.name, {rfc3339('u.created_at')}, {rfc3339('u.updated_at')},
    {rfc3339('u.last_seen_at')}, u.status, u.rbac_roles, u.login_type, u.avatar_url,
    u.theme_preference, u.organization_ids::text[] AS organization_ids"""
_USER_NAMES = ("id", "email", "username", "name", "created_at", "updated_at", "last_seen_at",
               "status", "rbac_roles", "login_type", "avatar_url", "theme_preference",
               "organization_ids")
# One user comes with the password hash, for login and password changes.
USER_COLUMNS = f"u.id, {_USER_DATA}, u.hashed_password"
UserRow = namedtuple("UserRow", (*_USER_NAMES, "hashed_password"))
# A page of users has text IDs (only written out, see get_users) and the count of all
# that match the filter on every row.
UserPageRow = namedtuple("UserPageRow", (*_USER_NAMES, "count"))
# coderd's own user (migration 000008): the initiator of the install check's import. It
# cannot log in and is no one's to see: every query that finds users for people keeps to
# PEOPLE, so it is not counted (/users/first), listed, looked up, changed or logged in as.
SYSTEM_USER_ID = uuid.UUID("a5fa4f2d-5792-4aac-b608-fd09b976e38e")
PEOPLE = "NOT u.deleted AND NOT u.is_system"


class UserQueries(QueriesBase):
    def insert_user(self, *, email: str, username: str, name: str, hashed_password: str,
                    rbac_roles: list[str], login_type: str) -> UserRow:
        row = self._one(
            """INSERT INTO users (email, username, name, hashed_password, rbac_roles, login_type)
               VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
            (email, username, name, hashed_password, rbac_roles, login_type))
        return self.get_user_by_id(row["id"])

    def get_user_by_id(self, user_id: uuid.UUID) -> UserRow | None:
        return self._one(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = %s AND {PEOPLE}",
                         (user_id,), UserRow)

    def get_user_by_username(self, username: str) -> UserRow | None:
        return self._one(
            f"SELECT {USER_COLUMNS} FROM users u WHERE lower(u.username) = lower(%s) AND {PEOPLE}",
            (username,), UserRow)

    def get_user_by_email_or_username(self, email: str, username: str) -> UserRow | None:
        return self._one(
            f"""SELECT {USER_COLUMNS} FROM users u
                WHERE (lower(u.email) = lower(%s) OR lower(u.username) = lower(%s)) AND {PEOPLE}
                LIMIT 1""", (email, username), UserRow)

    def get_user_count(self) -> int:
        return self._scalar(f"SELECT count(*) FROM users u WHERE {PEOPLE}")

    def get_users(self, *, search: str = "", status: list[str] | None = None,
                  roles: list[str] | None = None, login_type: list[str] | None = None,
                  after_id: uuid.UUID | None = None, offset: int = 0,
                  limit: int | None = None) -> list[UserPageRow]:
        """Users by username order, with Coder's filters; ``count`` is the total before paging.

        A page only goes out as JSON: its IDs come as text too (a UUID built per row was a
        tenth of the request's work)."""
        where, params = conditions(
            ("(u.username ILIKE %s OR u.email ILIKE %s OR u.name ILIKE %s)",
             f"%{search}%" if search else ""),
            ("u.status = ANY(%s::user_status[])", status),
            ("(u.rbac_roles && %s::text[] OR 'member' = ANY(%s::text[]))", roles),
            ("u.login_type = ANY(%s::login_type[])", login_type),
            ("lower(u.username) > (SELECT lower(username) FROM users WHERE id = %s)", after_id))
        where.insert(0, PEOPLE)
        matching = f"FROM users u WHERE {' AND '.join(where)}"
        # The count as an uncorrelated subquery, run once: a window over the page's query
        # made PostgreSQL carry every matching row, with all its columns, to the end.
        sql = (f"SELECT u.id::text AS id, {_USER_DATA}, (SELECT count(*) {matching}) AS count "
               f"{matching} ORDER BY lower(u.username) OFFSET %s")
        params = [*params, *params, offset]
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        return self._all(sql, params, UserPageRow)

    def update_user_status(self, user_id: uuid.UUID, status: str) -> UserRow | None:
        self._exec("UPDATE users SET status = %s, updated_at = now() WHERE id = %s AND NOT deleted",
                   (status, user_id))
        self._auth_changed(user_id)
        return self.get_user_by_id(user_id)

    def update_user_hashed_password(self, user_id: uuid.UUID, hashed_password: str) -> None:
        self._exec("UPDATE users SET hashed_password = %s, updated_at = now() WHERE id = %s",
                   (hashed_password, user_id))
        self._auth_changed(user_id)

    def update_user_roles(self, user_id: uuid.UUID, roles: list[str]) -> UserRow | None:
        self._exec("UPDATE users SET rbac_roles = %s, updated_at = now() WHERE id = %s AND NOT deleted",
                   (roles, user_id))
        self._auth_changed(user_id)
        return self.get_user_by_id(user_id)

    def update_user_profile(self, user_id: uuid.UUID, *, username: str, name: str) -> UserRow | None:
        self._exec("UPDATE users SET username = %s, name = %s, updated_at = now() "
                   "WHERE id = %s AND NOT deleted", (username, name, user_id))
        return self.get_user_by_id(user_id)

    def update_user_last_seen(self, user_id: uuid.UUID) -> None:
        self._exec("UPDATE users SET last_seen_at = now() WHERE id = %s "
                   "AND last_seen_at < now() - interval '1 minute'", (user_id,))

    def delete_user(self, user_id: uuid.UUID) -> None:
        """Soft delete, as Coder does: the row stays for the audit log."""
        self._exec("UPDATE users SET deleted = true, updated_at = now() WHERE id = %s", (user_id,))
        self._exec("DELETE FROM api_keys WHERE user_id = %s", (user_id,))
        self._exec("DELETE FROM organization_members WHERE user_id = %s", (user_id,))
        self._auth_changed(user_id)
