"""The connection pool: built once at start, shared by every greenlet.

psycopg2's own pools raise when exhausted; under load a request should wait
for a connection instead, so this pool blocks (with a timeout) on a LIFO
queue. Under gevent, ``queue`` is monkey-patched and psycogreen's wait
callback makes every query yield to the event loop.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from typing import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras


def _cast_uuid(value: str | None, cursor) -> uuid.UUID | None:
    """A UUID column's value. PostgreSQL writes UUIDs in one canonical form, so the
    checks ``uuid.UUID()`` makes of any string are skipped: half its cost, paid on
    every ID of every row read."""
    if value is None:
        return None
    result = object.__new__(uuid.UUID)
    object.__setattr__(result, "int", int(value.replace("-", ""), 16))
    object.__setattr__(result, "is_safe", uuid.SafeUUID.unknown)
    return result


UUID = psycopg2.extensions.new_type((2950,), "UUID", _cast_uuid)
psycopg2.extensions.register_type(UUID)
psycopg2.extensions.register_type(psycopg2.extensions.new_array_type((2951,), "UUID[]", UUID))
psycopg2.extensions.register_adapter(uuid.UUID, psycopg2.extras.UUID_adapter)


class Connection(psycopg2.extensions.connection):
    """A pooled connection, with the statements it has prepared (see QueriesBase)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # SQL text -> prepared statement name, or None when it cannot be prepared.
        self.statements: dict[str, str | None] = {}


class PoolTimeout(Exception):
    """No connection became free in time."""


class Pool:
    def __init__(self, dsn: str, size: int = 10, timeout: float = 30.0):
        self.dsn = dsn
        self.size = size
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.dsn, application_name="coderd", connection_factory=Connection)
        conn.autocommit = True
        # Times come back in UTC whatever the server's zone, so responses say "Z".
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        return conn

    def get(self) -> psycopg2.extensions.connection:
        if self._closed:
            raise PoolTimeout("the database pool is closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._created < self.size
            if grow:
                self._created += 1
        if grow:
            try:
                return self._connect()
            except BaseException:
                with self._lock:
                    self._created -= 1
                raise
        try:
            return self._idle.get(timeout=self.timeout)
        except queue.Empty:
            raise PoolTimeout(f"no database connection free within {self.timeout:.0f}s") from None

    def put(self, conn: psycopg2.extensions.connection) -> None:
        broken = conn.closed or conn.get_transaction_status() not in (
            psycopg2.extensions.TRANSACTION_STATUS_IDLE,)
        if broken and not conn.closed:
            try:
                conn.rollback()
                broken = conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE
            except psycopg2.Error:
                broken = True
        if broken or self._closed:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
            with self._lock:
                self._created -= 1
            return
        self._idle.put(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        conn = self.get()
        try:
            yield conn
        finally:
            self.put(conn)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(psycopg2.Error):
                conn.close()
