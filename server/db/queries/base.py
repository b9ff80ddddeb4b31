"""Plain SQL over one pooled connection; rows come back as dicts.

The query classes hold no policy: the authorization layer
(``server.authz.querier``) wraps every public method of ``Queries``.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import psycopg2.extras


class QueriesBase:
    def __init__(self, conn):
        self.conn = conn

    def _cursor(self):
        return self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)

    def _one(self, sql: str, params: Any = ()) -> dict | None:
        with self._cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return dict(row) if row is not None else None

    def _all(self, sql: str, params: Any = ()) -> list[dict]:
        with self._cursor() as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()]

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
