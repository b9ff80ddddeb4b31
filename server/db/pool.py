"""The connection pool: built once at start, shared by every greenlet.

psycopg2's own pools raise when exhausted; under load a request should wait
for a connection instead, so this pool blocks (with a timeout) on a LIFO
queue. Under gevent, ``queue`` is monkey-patched and psycogreen's wait
callback makes every query yield to the event loop.

Failover: every coderd connection comes from ``connect``, which adds libpq's
timeouts and TCP keepalives (unless the DSN sets them), and under gevent
enforces the connect timeout itself (libpq ignores it there), so a database
host that vanishes costs seconds, not a hang. A multi-host DSN (``host=a,b
target_session_attrs=read-write``) makes libpq find the primary at each new
connection. An idle connection whose server has gone (a switchover ends every
session) is dropped when taken, so the first request after a failover gets a
new connection; one in use when its server went fails with
``psycopg2.OperationalError``, which coderd answers with a 503.
"""
from __future__ import annotations

import contextlib
import queue
import select
import threading
from typing import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras


psycopg2.extras.register_uuid()  # UUID columns (and arrays of them) as uuid.UUID, both ways


# libpq's defaults when the DSN names none: a host that stops answering is given up on
# within about 15 s (connect: 5 s per host; in use: keepalives, then the TCP timeout).
CONNECTION_DEFAULTS = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "5",
                       "keepalives_interval": "2", "keepalives_count": "3",
                       "tcp_user_timeout": "15000"}


def connect(dsn: str, application_name: str, **kwargs) -> psycopg2.extensions.connection:
    """A connection in autocommit mode for one of coderd's parts, with libpq's timeouts."""
    given = psycopg2.extensions.parse_dsn(dsn)
    options = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    if psycopg2.extensions.get_wait_callback() is None:
        conn = psycopg2.connect(dsn, application_name=application_name, **options, **kwargs)
    else:
        conn = _green_connect({**given, **options, "application_name": application_name}, **kwargs)
    conn.autocommit = True
    return conn


def _green_connect(params: dict, **kwargs) -> psycopg2.extensions.connection:
    """libpq's walk over a DSN's hosts, with its ``connect_timeout`` for each.

    Under gevent, psycogreen's wait callback makes psycopg2 connect asynchronously, and
    libpq ignores ``connect_timeout`` then (its documentation says so for PQconnectPoll):
    a host that accepts TCP but never answers, or a lost one, held every new connection
    for as long as TCP tried. So each host is tried here, in the DSN's order, for at most
    the timeout (gevent's), with the DSN's other settings (``target_session_attrs``
    included: a standby refuses, the next host is tried); the error names every host's failure.
    """
    import gevent  # only here: green mode is gevent's

    hosts = params.get("host", "").split(",")
    ports = params.get("port", "").split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    timeout = int(params["connect_timeout"])
    if len(ports) != len(hosts) or timeout <= 0 or not params.get("host") or \
            {"hostaddr", "service"} & params.keys():
        # libpq's own walk: a mismatch it refuses in its own words, no timeout (0), hosts
        # from the environment, a service file or numeric addresses beside the names.
        return psycopg2.connect(**params, **kwargs)
    timeout = max(timeout, 2)  # libpq's own minimum
    failures = []
    for host, port in zip(hosts, ports):
        one = {**params, "host": host, "port": port}  # an empty port: libpq's default
        where = f'connection to server at "{host}", port {port or 5432} failed: '
        try:
            with gevent.Timeout(timeout, psycopg2.OperationalError(where + "timeout expired")):
                return psycopg2.connect(**{k: v for k, v in one.items() if v != ""}, **kwargs)
        except psycopg2.OperationalError as exc:  # asynchronous, libpq may not name the host
            text = reason(exc)
            failures.append(text if text.startswith("connection to server") else where + text)
    raise psycopg2.OperationalError("; ".join(failures))  # every host's, as libpq's own walk


# What a connection lost or refused raises (class 08 and 57P0x errors, libpq's own).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


def reason(exc: BaseException) -> str:
    """A database error in one line for the log: libpq's names the host, never the password."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _server_gone(conn: psycopg2.extensions.connection) -> bool:
    """Whether an idle connection's server has closed it: nothing else arrives unasked
    on a connection that listens to nothing (a shutdown's FATAL message, or the end of
    the stream). ``poll`` from select: gevent's patching removes it, and a zero timeout
    never blocks."""
    if conn.closed:
        return True
    poller = _original_poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _original_poll():
    try:
        from gevent.monkey import get_original
    except ImportError:
        return select.poll()
    return get_original("select", "poll")()


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
        conn = connect(self.dsn, "coderd", connection_factory=Connection)
        # Times come back in UTC whatever the server's zone, so responses say "Z".
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        return conn

    def get(self) -> psycopg2.extensions.connection:
        if self._closed:
            raise PoolTimeout("the database pool is closed")
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            if not _server_gone(conn):
                return conn
            self._discard(conn)
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
            self._discard(conn)
            return
        self._idle.put(conn)

    def _discard(self, conn: psycopg2.extensions.connection) -> None:
        with contextlib.suppress(psycopg2.Error):
            conn.close()
        with self._lock:
            self._created -= 1

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
