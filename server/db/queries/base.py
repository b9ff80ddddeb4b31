"""Plain SQL over one pooled connection; rows come back as dicts, or as the named
tuple a query names (``_one(sql, params, UserRow)``), whose fields must be the
query's columns in order.

The query classes hold no policy: the authorization layer
(``server.authz.querier``) wraps every public method of ``Queries``.

Reads on a pooled connection run as prepared statements: PostgreSQL parses
and plans each SELECT once per connection instead of on every request
(docs/benchmarks.md, "Stop 11 (2026-11-27)"). psycopg2 (unlike psycopg 3)
does not prepare, so this does, with PREPARE and EXECUTE. A statement whose
parameter types PostgreSQL cannot infer, or infers differently from what
psycopg2 sends (a Python list is a text[]), runs unprepared from then on.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import uuid
from typing import Any, Callable, Iterator, NamedTuple

import psycopg2.errors

MAX_PREPARED = 500  # per connection; past that, statements run unprepared
# What EXECUTE raises when psycopg2's literal does not fit the inferred parameter type,
# when the schema changed under a prepared statement, or when a pooler in front of
# PostgreSQL runs it on a server connection that never prepared it.
# psycopg2's placeholders in a query with a sequence of parameters: a parameter, or a
# literal percent sign.
_PLACEHOLDER = re.compile(r"%[s%]")
_UNPREPARABLE = (psycopg2.errors.DatatypeMismatch, psycopg2.errors.IndeterminateDatatype,
                 psycopg2.errors.UndefinedFunction, psycopg2.errors.CannotCoerce,
                 psycopg2.errors.FeatureNotSupported, psycopg2.errors.InvalidSqlStatementName)


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


def rfc3339(column: str) -> str:
    """A select-list item: the time ``column`` (``alias.name``) as the API writes it (RFC
    3339, UTC, "Z"), named ``name``. For rows that only go out as JSON: PostgreSQL writes
    it for less than psycopg2 spends building a datetime to be formatted again."""
    return (f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
            f" AS {column.rpartition('.')[2]}")


def _row_maker(cur, row: type[NamedTuple] | None) -> Callable[[tuple], Any]:
    """What turns the cursor's tuples into rows: dicts by column name, or ``row``'s."""
    names = tuple(c.name for c in cur.description)
    if row is None:
        return lambda values: dict(zip(names, values))
    if names != row._fields:
        raise TypeError(f"{row.__name__} has the fields {row._fields}; the query gave {names}")
    return row._make


def numbered_parameters(sql: str) -> str:
    """``sql`` as PREPARE takes it: psycopg2's ``%s`` numbered ``$1``, ``$2``..., and its
    ``%%`` a single ``%``, as psycopg2 reads them when it has parameters to fill in."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m[0] == "%%" else f"${next(numbers)}", sql)


class QueriesBase:
    def __init__(self, conn, on_auth_change: Callable[[uuid.UUID], None] | None = None):
        self.conn = conn
        # Told at once when a query changes who may authenticate (see server.authcache);
        # other processes learn it from the database trigger's notification.
        self._on_auth_change = on_auth_change

    def _auth_changed(self, user_id: uuid.UUID | None) -> None:
        if self._on_auth_change is not None and user_id is not None:
            self._on_auth_change(user_id)

    def _one(self, sql: str, params: Any = (), row: type[NamedTuple] | None = None) -> Any:
        with self.conn.cursor() as cur:
            self._execute(cur, sql, params)
            values = cur.fetchone()
            return None if values is None else _row_maker(cur, row)(values)

    def _all(self, sql: str, params: Any = (), row: type[NamedTuple] | None = None) -> list:
        with self.conn.cursor() as cur:
            self._execute(cur, sql, params)
            return list(map(_row_maker(cur, row), cur.fetchall()))

    def _exec(self, sql: str, params: Any = ()) -> int:
        with self.conn.cursor() as cur:
            self._execute(cur, sql, params)
            return cur.rowcount

    def _scalar(self, sql: str, params: Any = ()) -> Any:
        with self.conn.cursor() as cur:
            self._execute(cur, sql, params)
            row = cur.fetchone()
            return row[0] if row else None

    def _execute(self, cur, sql: str, params: Any) -> None:
        statements = getattr(self.conn, "statements", None)
        if statements is None or not self.conn.autocommit or not isinstance(params, (tuple, list)) \
                or not sql.lstrip().startswith(("SELECT", "WITH")):
            cur.execute(sql, params)
            return
        name = statements.get(sql, "")
        if name == "":
            name = self._prepare(cur, sql, statements)
        if name is None:
            cur.execute(sql, params)
            return
        try:
            cur.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})" if params
                        else f"EXECUTE {name}", params)
        except _UNPREPARABLE:
            statements[sql] = None
            cur.execute(sql, params)

    @staticmethod
    def _prepare(cur, sql: str, statements: dict[str, str | None]) -> str | None:
        if len(statements) >= MAX_PREPARED:
            return None
        numbered = numbered_parameters(sql)
        # Named by the text: a name means the same SQL on every connection, even behind a pooler.
        name = "coderd_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
        try:
            cur.execute(f"PREPARE {name} AS {numbered}")
        except psycopg2.errors.DuplicatePreparedStatement:
            pass  # prepared before on this server connection, under the same text
        except psycopg2.ProgrammingError:  # a parameter whose type cannot be inferred
            name = None
        statements[sql] = name
        return name

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
