"""gevent's pywsgi, adapted: coderd's request handler, the connection's rules, and a
view taking over its connection.

Every request coderd (or a workspace proxy) serves goes through ``Handler``
(as ``server.upgradecheck.Handler``, which adds coderd's refusals of a websocket
before its 101), gevent-websocket's handler (itself pywsgi's, as in gunicorn's
gevent worker). It reads the header block with ``server.httpheaders`` (pywsgi's
own parses it with the email package), turns a websocket into
``gevent_websocket``'s, and holds the client to the rules below.

pywsgi (and gunicorn's gevent worker, built on it) waits for a client as long
as the client likes: for the TLS handshake, the request line, each header, the
body, the next request on a kept-alive connection. A socket that sends half a
request and stops costs a greenlet for ever, and whatever the request holds
while it waits (a view reading a body) is held for ever. ``Handler`` adds:

- a new connection's TLS handshake and first request line and headers must
  all arrive within ``CODER_HTTP_READ_HEADER_TIMEOUT`` of its accept, however
  the client spaces its bytes: else 408 and the connection is closed. A connection that sends
  nothing holds a file descriptor 10 s, not the read timeout's 60 s;
- a kept-alive connection waits at most ``CODER_HTTP_READ_TIMEOUT`` for its
  next request's first byte, whose line and headers then have the header
  timeout; each read of a body waits at most the read timeout for its next
  byte;
- one client address holds at most ``CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT``
  connections at once: more are closed as soon as they are accepted (the
  total, ``CODER_HTTP_MAX_CONNECTIONS``, is the server's pool: past it,
  connections wait in the listen queue, as with gunicorn's
  ``worker_connections``);
- the request line is ``METHOD SP TARGET SP HTTP/1.0`` or ``HTTP/1.1``, nothing
  else: no HTTP/0.9, no control character (pywsgi's ``split()`` takes ``\\x0b``
  or ``\\x1c`` for a space); the header block's rules are ``httpheaders``';
- a body the view did not read to its end is read and dropped, to keep the
  connection in step, only when less than DISCARD_LIMIT of it is left; otherwise
  (or chunked, or ``BoundedInput.abandon``) the connection is closed after the
  answer instead of reading a body as long as its sender likes, and the answer says
  ``Connection: close`` (as it does when the client asked for it);
- an upgraded connection (websocket, ``Upgrade: tcp``) has no timeout: the
  stream it carries may idle for hours.

How long a view may take to read a body, and how much of it, is
``httpapi.read_body``'s. pywsgi has no API to take over a connection: ``Handler``
puts itself in the WSGI environ (``HANDLER_KEY``), and ``take_over`` answers with
the head a view gives (``server.relay.tcpupgrade``'s 101) and marks the response as
sent.
"""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass

import gevent
import gevent.local
from gevent.pywsgi import Input, WSGIServer
from geventwebsocket.handler import WebSocketHandler

from .. import proxyprotocol
from ..httpheaders import HeadTooLarge, RequestHeaders
from . import gevent_websocket

# What this module relies on of gevent 26.9.0 and gevent-websocket 0.10.1 (see
# server/adapters/__init__.py): the methods it overrides, and those that read the
# attributes it sets (``headers_sent``, ``close_connection``, a chunked body's state).
RELIES_ON = {
    "gevent.baseserver:BaseServer.close": "3cfb2432daf2b385",
    "gevent.baseserver:BaseServer.do_handle": "a7060ef181a224fe",
    "gevent.pywsgi:Input._Input__read_chunk_length": "156e7a3f2a756006",
    "gevent.pywsgi:Input.__init__": "f5bb48e8559add78",
    "gevent.pywsgi:Input._chunked_read": "b2be7abb9d2e0374",
    "gevent.pywsgi:Input._discard": "bea0da8a70780ba8",
    "gevent.pywsgi:WSGIHandler.MessageClass": "638ffd7781c4802a",
    "gevent.pywsgi:WSGIHandler._handle_client_error": "a3fbde482b69b9fd",
    "gevent.pywsgi:WSGIHandler.get_environ": "fbd39b74e42d7dbf",
    "gevent.pywsgi:WSGIHandler.handle": "9e7238affc125354",
    "gevent.pywsgi:WSGIHandler.handle_error": "26bd9fca7d99887c",
    "gevent.pywsgi:WSGIHandler.handle_one_request": "14e946e9fb33cbb8",
    "gevent.pywsgi:WSGIHandler.process_result": "9752185381512541",
    "gevent.pywsgi:WSGIHandler.read_request": "b1702b63da71633f",
    "gevent.pywsgi:WSGIHandler.read_requestline": "72173107a177f9b3",
    "gevent.pywsgi:WSGIHandler.run_application": "46cef793ff43fe1a",
    "gevent.pywsgi:WSGIServer.__init__": "ce3e3b70e77a46b0",
    "gevent.pywsgi:WSGIServer.init_socket": "25d24ab79aac396b",
    "gevent.server:StreamServer.do_close": "728ac328c4119488",
    "gevent.server:StreamServer.init_socket": "10502b410ec3fc3f",
    "gevent.server:StreamServer.wrap_socket_and_handle": "f866c5110e14ac85",
    "geventwebsocket.handler:WebSocketHandler.log_request": "9ca977fdbda1525b",
    "geventwebsocket.handler:WebSocketHandler.start_response": "f7acf7d65444e737",
    "geventwebsocket.handler:WebSocketHandler.upgrade_websocket": "01f7ee962132a1fe",
}
def _websocket_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:  # binascii.Error among them
        return False


HANDLER_KEY = "appliance.handler"  # the environ's handler of the request
DISCARD_LIMIT = 64 * 1024
_REQUEST_LINE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\x00-\x20\x7f]+ HTTP/1\.[01]\r?\n")
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    read_timeout: float = 60.0
    max_connections_per_client: int = 1000  # 0: no limit
    proxy_protocol_origins: tuple[str, ...] = ()  # load balancers that name their clients


def limits_of(application) -> Limits:
    """The limits the WSGI app carries (``server.cli`` sets ``http_limits`` on it)."""
    return getattr(application, "http_limits", None) or Limits()


class HeadTimeout(ValueError):
    """The request line and headers did not all arrive in time."""


class BoundedInput(Input):
    """pywsgi's request body, which drops only a small unread rest (see the module) and
    counts its chunks (``chunks``: ``httpapi.read_body`` refuses a body of tiny ones)."""
    __slots__ = ("handler", "abandoned", "chunks")

    def __init__(self, handler, body: Input):
        super().__init__(body.rfile, body.content_length, body.socket, body.chunked_input)
        self.handler = handler
        self.abandoned = False
        self.chunks = 0

    def _Input__read_chunk_length(self, rfile):  # pywsgi's private reader of a chunk's size
        self.chunks += 1
        return super()._Input__read_chunk_length(rfile)

    def abandon(self) -> None:
        """The body will not be read to its end: close the connection after the answer."""
        self.abandoned = True
        self.handler.close_connection = True

    def closes_connection(self) -> bool:
        """Whether what is left of the body ends the connection rather than being read."""
        if self.abandoned:
            return True
        if self.chunked_input:
            return self.chunk_length != 0
        return (self.content_length or 0) - self.position > DISCARD_LIMIT

    def _discard(self):
        if self.closes_connection():
            self.handler.close_connection = True
            return
        super()._discard()


def connection_fd(environ: dict) -> int | None:
    """The descriptor of the request's connection (its TCP socket, under TLS too), for a
    view that watches for the client hanging up; None under another server, or once the
    connection is closed."""
    body = environ.get("wsgi.input")
    if not isinstance(body, Input):
        return None
    try:
        return body.rfile.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def abandon_body(environ: dict) -> None:
    """The request's body will not be read to its end: close the connection after the
    answer rather than read what is left."""
    body = environ.get("wsgi.input")
    if isinstance(body, BoundedInput):
        body.abandon()


class Handler(WebSocketHandler):
    """gevent-websocket's handler (itself pywsgi's) with the module's rules, which lets a
    view take over its connection and answers a websocket ``upgrade_refusal`` refuses."""
    _head_timer: gevent.Timeout | None = None
    _head_deadline: float | None = None  # the first request's: counted from the accept
    taken_over = False
    MessageClass = RequestHeaders  # pywsgi's own parses headers with the email package

    def handle(self):
        limits = limits_of(self.server.application)
        self.socket.settimeout(limits.read_timeout)
        # A new connection's first head is due by its deadline (Server), under another
        # server from now.
        connection = getattr(self.server, "connection", None)
        self._head_deadline = getattr(connection, "deadline", time.monotonic() + limits.header_timeout)
        super().handle()

    def handle_one_request(self):
        try:
            return super().handle_one_request()
        finally:
            self._cancel_head_timer()

    def read_requestline(self):
        limits = limits_of(self.server.application)
        deadline, self._head_deadline = self._head_deadline, None
        if deadline is None:  # kept alive: idle up to the read timeout, then the header timeout
            if not self._wait_for_next_request():
                return ""
            deadline = time.monotonic() + limits.header_timeout
        self._head_timer = gevent.Timeout.start_new(
            max(deadline - time.monotonic(), 0),
            HeadTimeout(f"request head not received in {limits.header_timeout:g}s"))
        try:
            return super().read_requestline() if self._peek() else ""
        except HeadTimeout:
            self._send_quietly(_TIMED_OUT)
            return ""

    def read_request(self, raw_requestline):
        try:
            if not _REQUEST_LINE.fullmatch(raw_requestline):
                raise ValueError(f"Invalid request line {raw_requestline[:64]!r}")
            return super().read_request(raw_requestline)
        finally:
            self._cancel_head_timer()

    def _handle_client_error(self, ex):
        if isinstance(ex, HeadTimeout):
            self.log_error("(from %s) %s", self.client_address, ex)
            return "408", _TIMED_OUT
        if isinstance(ex, HeadTooLarge):
            self.log_error("(from %s) %s", self.client_address, ex)
            return "431", ex.response
        return super()._handle_client_error(ex)

    def handle_error(self, t, v, tb):
        if issubclass(t, TimeoutError):  # the client stopped reading or sending in time
            self.close_connection = True
            return
        super().handle_error(t, v, tb)

    def start_response(self, status, headers, exc_info=None):
        """An answer after which the connection closes (the client asked, or its body is left
        unread) says ``Connection: close`` (pywsgi does not for HTTP/1.1): else a kept-alive
        client sends its next request into the closing connection and loses it."""
        if self.taken_over:  # the view's response, once the stream is over: not sent
            return lambda data: None
        body = self.wsgi_input
        if isinstance(body, BoundedInput) and body.closes_connection():
            self.close_connection = True
        if self.close_connection and not any(k.lower() == "connection" for k, _ in headers):
            headers = [*headers, ("Connection", "close")]
        return super().start_response(status, headers, exc_info)

    def get_environ(self):
        environ = super().get_environ()
        body = self.wsgi_input
        self.wsgi_input = BoundedInput(self, body)
        if environ.get("wsgi.input") is body:
            environ["wsgi.input"] = self.wsgi_input
        environ[HANDLER_KEY] = self
        environ["RAW_URI"] = self.path  # the request line's target, as sent (gunicorn's name)
        return environ

    def upgrade_websocket(self):
        answer = self.handshake_refusal() or self.upgrade_refusal()
        if answer is not None:
            status, headers, body = answer
            self.start_response(status, headers)
            return [body]
        result = super().upgrade_websocket()
        ws = self.environ.get("wsgi.websocket")
        if ws is not None:
            self.upgraded()
            gevent_websocket.limit_messages(ws)
        return result

    def handshake_refusal(self) -> tuple[str, list, bytes] | None:
        """RFC 6455's checks of a websocket handshake, answered here: gevent-websocket's
        own answer text bodies (pywsgi fails writing them, with a traceback) and a key that
        is not base64 with a 500. None when the request is no websocket handshake, or a
        sound one."""
        environ = self.environ
        if environ.get("REQUEST_METHOD") != "GET" \
                or environ.get("HTTP_UPGRADE", "").lower() != "websocket" \
                or "upgrade" not in environ.get("HTTP_CONNECTION", "").lower():
            return None
        headers = []
        if self.request_version != "HTTP/1.1":
            status, message = "400 Bad Request", "A websocket handshake needs HTTP/1.1."
        elif environ.get("HTTP_SEC_WEBSOCKET_VERSION") not in self.SUPPORTED_VERSIONS:
            status, message = "426 Upgrade Required", "Unsupported Sec-WebSocket-Version."
            headers.append(("Sec-WebSocket-Version", ", ".join(self.SUPPORTED_VERSIONS)))
        elif not _websocket_key(environ.get("HTTP_SEC_WEBSOCKET_KEY", "")):
            status, message = "400 Bad Request", "Sec-WebSocket-Key must be 16 bytes in base64."
        else:
            return None
        body = json.dumps({"message": message, "detail": ""}).encode()
        return status, [*headers, ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))], body

    def upgrade_refusal(self) -> tuple[str, list, bytes] | None:
        """gevent-websocket answers 101 before the app runs: the answer (status, headers,
        body) to give instead, or None to upgrade. None here; coderd's rules in
        ``server.upgradecheck.Handler``."""
        return None

    def log_request(self):
        # gevent-websocket formats every request's log line before its logger's level
        # drops it (docs/benchmarks.md, "coderd API", stop 10); coderd logs them when verbose.
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request()

    def upgraded(self) -> None:
        """The connection carries a stream from now on: no read timeout."""
        self.socket.settimeout(None)

    def take_over(self, head: bytes) -> TakenConnection:
        """Send ``head`` (a 101) and take the connection from pywsgi, which then writes no
        response of its own and closes the connection once the view returns."""
        self.upgraded()
        self.socket.sendall(head)
        self.taken_over = self.headers_sent = self.close_connection = True
        return TakenConnection(self)

    def _wait_for_next_request(self) -> bool:
        """Whether a kept-alive connection's next request began. A stopping server takes
        none, and ends the waits in progress (``Server.close``), as Go's
        ``http.Server.Shutdown`` closes idle connections: they would hold the stop for
        the read timeout."""
        idle = getattr(self.server, "idle", None)
        if idle is None:
            return self._peek()
        if self.server.closed:
            return False
        idle.add(self)
        try:
            return self._peek()
        finally:
            idle.discard(self)

    def _peek(self) -> bool:
        """Whether a byte came (False: the client closed, went away or said nothing in time)."""
        try:
            return bool(self.rfile.peek(1))
        except OSError:
            return False

    def _cancel_head_timer(self) -> None:
        timer, self._head_timer = self._head_timer, None
        if timer is not None:
            timer.cancel()

    def _send_quietly(self, data: bytes) -> None:
        try:
            self.socket.sendall(data)
        except OSError:
            pass


def take_over(environ: dict, head: bytes) -> TakenConnection:
    """The request's connection, once ``head`` is sent (``Handler.take_over``)."""
    return environ.pop(HANDLER_KEY).take_over(head)


class TakenConnection:
    """A connection a view took over: an ``appliance.streams.Stream``. Reads go through
    the handler's buffered reader, which may hold bytes the client sent early."""

    def __init__(self, handler: Handler):
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


class Server(WSGIServer):
    """pywsgi's server whose TLS handshakes must end within the header timeout of the
    accept, and which holds at most ``max_connections_per_client`` connections of one
    address: the client's own, or for a connection from ``proxy_protocol_origins`` the one
    its PROXY protocol header names (``server.proxyprotocol``), read before TLS."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limits = limits_of(self.application)
        self.per_client = limits.max_connections_per_client
        self.balancers = proxyprotocol.Origins(limits.proxy_protocol_origins)
        self.clients: Counter[str] = Counter()
        self.counted: dict[tuple, str] = {}  # each open connection's client, by its peer
        # Each connection's greenlet's own: ``deadline``, the header timeout from its accept.
        self.connection = gevent.local.local()
        self.idle: set[Handler] = set()  # kept-alive connections waiting for a request

    def init_socket(self):
        super().init_socket()  # chooses ``_handle``: TLS or not
        self._serve_unnamed, self._handle = self._handle, self._serve

    def close(self):
        """Stop accepting, and end the connections that wait for their next request
        (a request in progress runs on, and its connection closes after it)."""
        super().close()
        for handler in list(self.idle):
            try:
                handler.socket.shutdown(socket.SHUT_RD)  # the wait reads end-of-file
            except OSError:
                pass

    def do_handle(self, client_socket, address):
        # A balancer's connection is counted under its client, once its header is read.
        if address not in self.balancers and not self._count(address, _client(address)):
            client_socket.close()  # as many connections as it takes are open
            return
        super().do_handle(client_socket, address)  # do_close follows, whatever happens

    def _count(self, peer, client: str) -> bool:
        if self.per_client and self.clients[client] >= self.per_client:
            return False
        self.clients[client] += 1
        self.counted[peer] = client
        return True

    def _serve(self, client_socket, address):
        """The connection's greenlet, from its accept: a balancer's header, then (TLS's
        handshake and) the requests, as its client's."""
        timeout = limits_of(self.application).header_timeout
        self.connection.deadline = time.monotonic() + timeout
        if address in self.balancers:
            try:
                with gevent.Timeout(timeout, proxyprotocol.HeaderError(f"no header in {timeout:g}s")):
                    client = proxyprotocol.read_header(client_socket, address)
            except (proxyprotocol.HeaderError, OSError) as exc:
                self.error_log.write(f"refused a connection from load balancer {address[0]}: {exc}\n")
                return None
            if not self._count(address, _client(client)):
                return None
            address = client
        return self._serve_unnamed(client_socket, address)

    def do_close(self, client_socket, address):
        try:
            super().do_close(client_socket, address)
        finally:
            client = self.counted.pop(address, None)
            if client is not None:
                self.clients[client] -= 1
                if self.clients[client] <= 0:
                    del self.clients[client]

    def wrap_socket_and_handle(self, client_socket, address):
        """The TLS handshake, within what is left of the header timeout (a timeout per read
        would let a client send its hello a byte at a time for an hour), then the requests."""
        left = max(self.connection.deadline - time.monotonic(), 0)
        try:
            with gevent.Timeout(left, TimeoutError("TLS handshake not done in time")):
                tls = self.wrap_socket(client_socket, **self.ssl_args)
        except OSError:  # failed or timed out (TimeoutError among them): do_close closes it
            return None
        with contextlib.closing(tls):
            return self.handle(tls, address)


def _client(address) -> str:
    """The client's address, without its port (a Unix socket's is "")."""
    return address[0] if isinstance(address, tuple) else ""
