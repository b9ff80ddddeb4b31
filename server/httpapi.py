"""One way to read requests and write responses, with Coder's error body.

Handlers call ``read(Model)`` and return ``write(status, obj)``; they never
build JSON by hand. Every failure becomes ``{message, detail, validations}``
with a 4xx status that says what is wrong; anything unexpected is a logged 500
that reveals nothing.
"""
from __future__ import annotations

import _socket
import json
import logging
import os
import re
import threading
import uuid
from typing import Any, Mapping

import gevent
import gevent.event
import gevent.socket
import psycopg2.errors
from flask import Flask, Response as FlaskResponse, current_app, g, request
from werkzeug.exceptions import HTTPException

from appliance.sdk import model
from appliance.sdk.types import Response, ValidationError

from .authz.rbac import Action, NotAuthorized
from .db.pool import CONNECTION_ERRORS, PoolTimeout, reason
from .adapters.gevent_pywsgi import abandon_body, connection_fd

log = logging.getLogger(__name__)
REQUEST_ID_KEY = "coderd.request_id"  # set in the environ by server.app's envelope


def request_id() -> uuid.UUID:
    """This request's ID: in its X-Request-Id header, its audit entries and error logs."""
    return request.environ[REQUEST_ID_KEY]


class APIError(Exception):
    """Raise anywhere in a handler to answer with this status and message."""

    def __init__(self, status: int, message: str, detail: str = "",
                 validations: list[ValidationError] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.validations = validations


def write(status: int, obj: Any) -> FlaskResponse:
    body = model.dumps(obj)
    return current_app.response_class(body, status=status, mimetype="application/json")


def error(status: int, message: str, detail: str = "",
          validations: list[ValidationError] | None = None) -> FlaskResponse:
    return write(status, Response(message=message, detail=detail, validations=validations))


def not_found(what: str = "Resource") -> APIError:
    return APIError(404, f"{what} not found.")


def found(row: Any, what: str) -> Any:
    """``row``, or a 404 naming ``what`` when the lookup found nothing."""
    if row is None:
        raise not_found(what)
    return row


class _BodyTimeout(Exception):
    """The body did not all arrive within the read timeout."""


def read_body(limit: int, what: str = "Request body") -> bytes:
    """The request's body, at most ``limit`` bytes, all of it within CODER_HTTP_READ_TIMEOUT.

    A declared length over the limit is refused before anything is read (413), a longer
    chunked body as soon as it passes the limit; a body that stalls is a 408, one cut
    short or malformed (chunked) a 400. After any of these the connection is closed
    rather than read to the end of what the client claims to send (``server.adapters.gevent_pywsgi``).
    Reads the WSGI input itself: Werkzeug's ``get_data`` reads a chunked body whole
    before anyone can check its size."""
    too_large = APIError(413, f"{what} is too large.", f"The limit is {limit} bytes.")
    body = request.environ["wsgi.input"]
    if request.content_length is not None and request.content_length > limit:
        abandon_body(request.environ)
        raise too_large
    timeout = current_app.extensions["coderd"].settings.http_read_timeout
    try:
        with gevent.Timeout(timeout, _BodyTimeout):
            data = _read_in_pieces(body, limit + 1)
    except _BodyTimeout:
        abandon_body(request.environ)
        raise APIError(408, f"{what} did not arrive in time.",
                       f"It must all arrive within {timeout:g}s.") from None
    except _TinyChunks:
        abandon_body(request.environ)
        raise APIError(400, f"{what} is sent in chunks too small.",
                       f"Its chunks must average at least {MIN_CHUNK} bytes.") from None
    except (OSError, ValueError) as exc:  # cut short, stalled between two bytes, bad chunks
        abandon_body(request.environ)
        raise APIError(400, f"{what} could not be read.", str(exc)) from None
    if len(data) > limit:
        abandon_body(request.environ)
        raise too_large
    return data


PIECE = 1024  # read between two turns of the event loop (docs/benchmarks.md, "Issue 18")
MIN_CHUNK = 256  # the average chunk a body may have, past its first FREE_CHUNKS
FREE_CHUNKS = 64


class _TinyChunks(Exception):
    """A chunked body whose chunks average under MIN_CHUNK bytes."""


def _read_in_pieces(body, size: int) -> bytes:
    """Up to ``size`` bytes of ``body``, letting other requests run after each piece:
    pywsgi parses a chunked body chunk by chunk in Python, and a body sent in 1-byte
    chunks once held the event loop for seconds (docs/benchmarks.md, "Issue 18"). Such
    a body is refused after its first piece (``_TinyChunks``)."""
    parts, received = [], 0
    while received < size:
        part = body.read(min(PIECE, size - received))
        if not part:
            break
        parts.append(part)
        received += len(part)
        if getattr(body, "chunks", 0) > FREE_CHUNKS + received // MIN_CHUNK:
            raise _TinyChunks
        gevent.sleep(0)
    return b"".join(parts)


ANONYMOUS_MAX_BODY = 64 * 1024  # what a request that needs no account may send (login)
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # an unescaped \u0000


def read(cls: type, limit: int | None = None) -> Any:
    """Decode and validate the JSON body into ``cls`` or raise a 400 naming the fields.

    ``limit``: the body's size limit, CODER_MAX_BODY_BYTES unless the route is anonymous
    (``ANONYMOUS_MAX_BODY``). A body must say it is JSON (``Content-Type:
    application/json``), else 415: a page of another site can send ``text/plain`` without
    asking, never ``application/json``. A NUL in a string (PostgreSQL stores none) and
    nesting deeper than Python's recursion limit are a 400, not a 500."""
    raw = read_body(current_app.config["MAX_BODY"] if limit is None else limit)
    if raw and request.mimetype != "application/json":
        raise APIError(415, "Request body must be sent as application/json.",
                       f"Content-Type was {request.content_type or 'not set'!r}.")
    if _NUL_ESCAPE.search(raw):
        raise APIError(400, "Request body must not contain NUL characters (\\u0000).")
    try:
        data = json.loads(raw or b"null")
    except RecursionError:
        raise APIError(400, "Request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, "Request body must be valid JSON.", str(exc)) from None
    return decode(cls, data)


def decode(cls: type, data: Any) -> Any:
    """``data`` (a JSON body, or the dashboard's form) as ``cls``, or a 400 naming the fields."""
    try:
        return model.decode(cls, data)
    except RecursionError:
        raise APIError(400, "Request body is nested too deeply.") from None
    except model.DecodeError as exc:
        validations = [ValidationError(v.field, v.detail) for v in exc.validations]
        raise APIError(400, "Validation failed.", str(exc), validations) from None


def parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise APIError(400, f"Invalid UUID {value!r}.", f"{name} must be a UUID.",
                       [ValidationError(name, "must be a UUID")]) from None


INT32_MAX = 2**31 - 1  # what PostgreSQL's OFFSET and LIMIT comfortably take
INT64_MAX = 2**63 - 1  # bigserial log ids


def query_int(name: str, default: int, minimum: int = 0, maximum: int = INT32_MAX, *,
              args: Mapping[str, str] | None = None) -> int:
    """This request's query parameter ``name`` (or ``args``'), checked."""
    raw = (request.args if args is None else args).get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise APIError(400, f"Query param {name!r} must be an integer.",
                       validations=[ValidationError(name, "must be an integer")]) from None
    if not minimum <= value <= maximum:
        bound = f"between {minimum} and {maximum}"
        raise APIError(400, f"Query param {name!r} must be {bound}.",
                       validations=[ValidationError(name, f"must be {bound}")])
    return value


def client_disconnected() -> bool:
    """Whether the caller has hung up. A long poll asks before it takes anything for
    them: a job taken for a daemon that was killed mid-poll would be lost."""
    fd = connection_fd(request.environ)
    return fd is not None and _hung_up(fd)


def hang_up_watch(woken: threading.Event) -> gevent.Greenlet:
    """A greenlet that sets ``woken`` and ends once the caller hangs up, for a stream the
    client only reads: the view learns of it without writing to it. It never ends when
    it cannot tell (no socket; or the client sent more, as TLS's close_notify or a
    pipelined request: the stream's next write tells then). Kill it when done."""
    fd = connection_fd(request.environ)
    # Its own descriptor: the handler's socket has its own waits.
    return gevent.spawn(_wait_for_hang_up, None if fd is None else os.dup(fd), woken)


def _wait_for_hang_up(fd: int | None, woken: threading.Event) -> None:
    try:
        if fd is not None:
            gevent.socket.wait_read(fd)
            if _hung_up(fd):
                woken.set()
                return
        gevent.event.Event().wait()
    finally:
        if fd is not None:
            os.close(fd)


def _hung_up(fd: int) -> bool:
    # A peek at the TCP socket itself (under TLS too), on a duplicate of its descriptor and
    # with the C socket, so that gevent does not wait for data that is not there.
    sock = _socket.socket(fileno=os.dup(fd))
    try:
        return sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.close()


# What the database's absence raises: a pool with no connection free, a connection lost
# or refused, or one that reached a standby.
DATABASE_UNAVAILABLE = (PoolTimeout, *CONNECTION_ERRORS, psycopg2.errors.ReadOnlySqlTransaction)


def database_unavailable(exc: Exception) -> APIError:
    """The 503 for one of ``DATABASE_UNAVAILABLE``. Gone away (a restart, a failover: the
    session was ended or the connection lost) or reached a standby, the request's
    connection is not used again, and the pool reconnects (``server.db.pool``)."""
    if isinstance(exc, PoolTimeout):
        return APIError(503, "The database is busy, try again.", str(exc))
    conn = g.get("_conn")
    if conn is not None:
        conn.close()
    log.warning("database unavailable in %s %s (request %s): %s", request.method,
                request.path, request_id(), reason(exc))
    return APIError(503, "The database is unavailable, try again.",
                    "coderd lost its database connection (a restart or failover); "
                    "it reconnects by itself.")


def register_error_handlers(app: Flask) -> None:
    """Coder's error body for every failure; first of the app's hooks, the refusal of a
    NUL in the path, query or a cookie (a quoted one may say ``\\000``), which PostgreSQL
    cannot store or compare (psycopg2 raised ValueError: a 500 on every ``/users/<user>``
    route, ``q=``, and for a session cookie's key ID on any route)."""
    @app.before_request
    def _refuse_nul():
        if "\x00" in request.path or b"%00" in request.query_string or (
                "HTTP_COOKIE" in request.environ
                and any("\x00" in value for value in request.cookies.values())):
            raise APIError(400, "The path, query and cookies must not contain NUL characters.")

    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        return error(exc.status, exc.message, exc.detail, exc.validations)

    @app.errorhandler(NotAuthorized)
    def _not_authorized(exc: NotAuthorized):
        # Reading one thing one may not see looks like nothing is there, as in Coder.
        if exc.action in (Action.READ, Action.READ_PERSONAL) and exc.obj.id is not None:
            return error(404, "Resource not found or you do not have access to this resource")
        return error(403, "Forbidden.", "You do not have permission to do this.")

    def _database_unavailable(exc: Exception):
        return _api_error(database_unavailable(exc))
    for kind in DATABASE_UNAVAILABLE:
        app.register_error_handler(kind, _database_unavailable)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        messages = {404: "Route not found.", 405: "Method not allowed.",
                    413: "Request body is too large."}
        return error(exc.code or 500, messages.get(exc.code, exc.name), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id())
        return error(500, "An internal error occurred.", f"Request ID {request_id()}; see coderd's log.")
