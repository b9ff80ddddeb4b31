"""Publish/subscribe between coderd processes over PostgreSQL LISTEN/NOTIFY.

Every coderd process (gunicorn worker, replica) keeps one listening
connection. Subscribers register a callback per channel; a reader greenlet
dispatches notifications. When the connection drops (the database restarted,
or failed over to another host: the DSN's ``target_session_attrs`` finds the new
primary), the reader reconnects every second and LISTENs to every channel again.
Notifications sent meanwhile are lost, so a missed notification must never leave
stale data in use: at the loss the ``on_reset`` callbacks flush caches (which
stay unused until ``healthy`` is set again), and once listening again every
subscriber's callback is called with the payload ``RESYNC``, meaning "anything
may have changed: read it again" (a long poll or a stream re-reads the
database at once). Publishing goes through any pooled connection and is
transactional: a NOTIFY sent inside a transaction is delivered on commit.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Callable

import psycopg2
import psycopg2.extensions

from .db.pool import connect

log = logging.getLogger(__name__)
Callback = Callable[[str], None]
# The payload subscribers get after a reconnection: notifications may have been missed.
RESYNC = ""


class PubSub:
    def __init__(self, dsn: str, reconnect_delay: float = 1.0):
        self.dsn = dsn
        self.reconnect_delay = reconnect_delay
        self._subscribers: dict[str, list[Callback]] = collections.defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._conn: psycopg2.extensions.connection | None = None
        self._listening: set[str] = set()
        self._lock = threading.Lock()
        self.healthy = threading.Event()
        self._stopped = False
        self._greenlet = None
        self._pending: list = []  # (channel, event) for the reader to LISTEN to
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Register ``callback`` (called with each payload, or ``RESYNC``); a new channel
        is LISTENed by the reader before this returns.

        Only the reader greenlet uses the listening connection: a query from
        another greenlet while it polls would break the connection's state.
        """
        with self._lock:
            self._subscribers[channel].append(callback)
        if channel not in self._listening and self.healthy.is_set():
            from gevent.event import Event

            listening = Event()
            self._pending.append((channel, listening))
            os.write(self._wake_w, b"x")
            listening.wait(5)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:  # not LISTENed again at the next reconnection
                    self._subscribers.pop(channel, None)
        return unsubscribe

    def listeners(self, channel: str) -> int:
        """How many callbacks ``channel`` has: what a stream left behind shows here."""
        with self._lock:
            return len(self._subscribers.get(channel, ()))

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Called whenever notifications may have been missed (connection lost)."""
        self._resets.append(callback)

    @staticmethod
    def publish(cursor, channel: str, payload: str = "") -> None:
        cursor.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _listen(self, conn, channel: str) -> None:
        with conn.cursor() as cur:
            cur.execute(f'LISTEN "{channel}"')
        self._listening.add(channel)

    def start(self) -> None:
        import gevent

        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self._stopped = True
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        if self._conn is not None:
            self._conn.close()

    def _run(self) -> None:
        import gevent
        from gevent.select import select

        reconnected = False
        while not self._stopped:
            try:
                conn = connect(self.dsn, "coderd-pubsub")
                self._listening = set()
                for channel in list(self._subscribers):
                    self._listen(conn, channel)
                self._conn = conn
                if reconnected:
                    self._resync()
                self.healthy.set()
                reconnected = True
                log.debug("pubsub listening on %s", sorted(self._listening))
                while not self._stopped:
                    ready, _, _ = select([conn, self._wake_r], [], [], 30)
                    if self._wake_r in ready:
                        self._drain_wakeups()
                    while self._pending:
                        channel, listening = self._pending.pop(0)
                        if channel not in self._listening:
                            self._listen(conn, channel)
                        listening.set()
                    conn.poll()
                    if not conn.notifies:
                        with conn.cursor() as cur:  # keepalive: notices a dead server
                            cur.execute("SELECT 1")
                    while conn.notifies:
                        note = conn.notifies.pop(0)
                        for callback in list(self._subscribers.get(note.channel, ())):
                            try:
                                callback(note.payload)
                            except Exception:
                                log.exception("pubsub subscriber failed on %s", note.channel)
            except (psycopg2.Error, OSError) as exc:
                if self._stopped:
                    return
                log.warning("pubsub connection lost (%s); reconnecting", exc)
            finally:
                self.healthy.clear()
                self._conn = None
                while self._pending:  # nobody waits on a dead connection
                    self._pending.pop(0)[1].set()
                for reset in self._resets:
                    reset()
            gevent.sleep(self.reconnect_delay)

    def _resync(self) -> None:
        """Listening again: what changed while nobody listened is read again."""
        log.info("pubsub listening again on %d channels", len(self._listening))
        with self._lock:
            callbacks = [cb for channel in self._subscribers.values() for cb in channel]
        for callback in callbacks:
            try:
                callback(RESYNC)
            except Exception:
                log.exception("pubsub subscriber failed to resynchronise")
