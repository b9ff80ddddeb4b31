"""Relayed streams as plain TCP: HTTP/1.1 ``Upgrade: tcp``.

A client that sends ``Connection: Upgrade`` and ``Upgrade: tcp`` gets, once
coderd has authorized it and the agent has accepted the stream, ``101
Switching Protocols``; from then on the connection carries the stream's bytes
as they are, both ways, and either side may half-close it (Docker's attach
API works the same way). Against a websocket this spares every relayed chunk
its framing and masking on both ends, and a client can hand the socket itself
to OpenSSH (``ProxyUseFdpass``). Refusals come before the 101, as ordinary
HTTP responses with Coder's error body.

gevent's pywsgi (and gunicorn's gevent worker, built on it) has no API to take
over a connection, so ``Handler`` puts itself in the WSGI environ and
``take_over`` answers 101 on its socket and marks the response as sent.
``Handler`` serves every request coderd gets, so it also trims three costs
pywsgi and gevent-websocket put on each one, and refuses a cross-origin websocket
before gevent-websocket would answer it with 101 (``server.csrf``).
"""
from __future__ import annotations

import logging

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker

from appliance import mux

from .. import csrf, httpconn, upgradecheck
from ..httpheaders import RequestHeaders

UPGRADE = "tcp"
HANDLER_KEY = "appliance.handler"
HEAD_WITH_BODY = 256 * 1024
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


class Handler(httpconn.Handler):
    """gevent-websocket's handler with the connection's rules (``server.httpconn``), which
    also lets a view take over its connection, and sends a response's head with its body."""
    taken_over = False
    _held: list | None = None
    MessageClass = RequestHeaders  # pywsgi's own parses headers with the email package

    def _write_with_headers(self, data):
        # gevent sends the head, then the body's first piece, in two system calls (to
        # spare copying a large body). For the small answers most API calls give, the
        # second send, and the second TCP segment the client must take in, gain nothing;
        # up to HEAD_WITH_BODY bytes of body go out with the head.
        if len(data) > HEAD_WITH_BODY:
            return super()._write_with_headers(data)
        self._held = []
        try:
            super()._write_with_headers(data)
        finally:
            held, self._held = self._held, None
        if held:
            super()._sendall(b"".join(held))

    def _sendall(self, data):
        if self._held is not None:
            self._held.append(data)
        else:
            super()._sendall(data)

    def get_environ(self):
        environ = super().get_environ()
        environ[HANDLER_KEY] = self
        return environ

    def upgrade_websocket(self):
        # gevent-websocket answers 101 before the app runs: a websocket that a page of
        # another origin opens with the session cookie is refused here (server.csrf), and
        # so is one a route checking first refuses (server.upgradecheck).
        refusal = csrf.upgrade_refusal(self.application, self.environ)
        if refusal is not None:
            answer = ("403 Forbidden", [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(refusal)))], refusal)
        else:
            answer = upgradecheck.refusal(self.application, self.environ)
            if answer is None:
                return super().upgrade_websocket()
        status, headers, body = answer
        self.start_response(status, headers)
        return [body]

    def log_request(self):
        # gevent-websocket formats every request's log line before its logger's level
        # drops it (about 2 % of a worker's CPU under load); coderd logs them when verbose.
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request()

    def start_response(self, status, headers, exc_info=None):
        if self.taken_over:  # the view's response, once the stream is over: not sent
            return lambda data: None
        return super().start_response(status, headers, exc_info)


class Worker(GeventWebSocketWorker):
    """gunicorn's gevent worker with ``Handler`` and ``httpconn.Server``, which stops
    as coderd's single process does: at SIGTERM it stops accepting, then ends its long
    polls and lets its agents go (``shutting_down``), and only then waits for the
    requests left. gunicorn would do the first only after a second, and the rest only
    after its graceful timeout, which the agents' connections would always fill."""
    wsgi_handler = Handler

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.servers: list[httpconn.Server] = []

    def server_class(self, *args, **kwargs) -> httpconn.Server:
        server = httpconn.Server(*args, **kwargs)
        self.servers.append(server)
        return server

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        gevent.spawn(self._stop_serving)  # out of the signal handler

    def _stop_serving(self) -> None:
        for server in self.servers:
            server.close()  # gunicorn closes them again: a no-op
        self.wsgi.shutting_down()


def requested(environ: dict) -> bool:
    return (environ.get("HTTP_UPGRADE", "").lower() == UPGRADE
            and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())


class Connection:
    """The connection after the 101, socket-like for ``mux.pipe``. Reads go through the
    handler's buffered reader, which may hold bytes the client sent early."""

    def __init__(self, handler):
        self._rfile = handler.rfile
        self._sock = handler.socket

    def recv(self, n: int) -> bytes:
        return self._rfile.read1(n)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()


def take_over(environ: dict) -> Connection:
    """Answer 101 and take the connection from the WSGI server, which then writes no
    response of its own and closes the connection once the view returns."""
    handler = environ.pop(HANDLER_KEY)
    handler.upgraded()
    handler.socket.sendall(SWITCHING)
    handler.taken_over = handler.headers_sent = handler.close_connection = True
    return Connection(handler)


def bridge(environ: dict, conn) -> None:
    """Carry the stream's bytes between the client's connection and ``conn`` until both
    directions end (half-closes passed on), then close both."""
    mux.pipe(take_over(environ), conn)
