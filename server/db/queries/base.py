"""Plain SQL over one pooled connection; rows come back as dicts.

The query classes hold no policy: the authorization layer
(``server.authz.querier``) wraps every public method of ``Queries``.
"""
from __future__ import annotations

import contextlib
import uuid
from typing import Any, Callable, Iterator


def conditions(*pairs: tuple[str, Any]) -> tuple[list[str], list]:
    """The SQL conditions of a filter whose value is given, and their parameters.

    Each pair is (condition, value); the value fills every ``%s`` of its
    condition. Empty values (None, "", empty lists) leave the condition out.
    """
    where: list[str] = []
    params: list = []
    for sql, value in pairs:
        if value is None or value == "" or value == [] or value == ():
            continue
        where.append(sql)
        params.extend([value] * sql.count("%s"))
    return where, params


class QueriesBase:
    def __init__(self, conn, on_auth_change: Callable[[uuid.UUID], None] | None = None):
        self.conn = conn
        # Told at once when a query changes who may authenticate (see server.authcache);
        # other processes learn it from the database trigger's notification.
        self._on_auth_change = on_auth_change

    def _auth_changed(self, user_id: uuid.UUID | None) -> None:
        if self._on_auth_change is not None and user_id is not None:
            self._on_auth_change(user_id)

    def _one(self, sql: str, params: Any = ()) -> dict | None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([c.name for c in cur.description], row))

    def _all(self, sql: str, params: Any = ()) -> list[dict]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            names = [c.name for c in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def _exec(self, sql: str, params: Any = ()) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def _scalar(self, sql: str, params: Any = ()) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return row[0] if row else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: the queries inside commit together or not at all."""
        if not self.conn.autocommit:  # already inside one
            yield
            return
        self.conn.autocommit = False
        try:
            yield
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            self.conn.autocommit = True
