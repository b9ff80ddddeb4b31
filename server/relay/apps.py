"""Workspace apps through the relay, at Coder's paths.

``/@USER/WORKSPACE[.AGENT]/apps/SLUG/...`` proxies to the app's URL inside
the workspace and ``/@USER/WORKSPACE[.AGENT]/port/PORT/...`` to a port; with
``CODER_WILDCARD_ACCESS_URL`` (``*.apps.example.com``), subdomain apps answer
at ``SLUG--AGENT--WORKSPACE--USER.apps.example.com`` (a port in place of the
slug for ports). Each request is one stream ``tcp:HOST:PORT`` carrying
HTTP/1.1 with ``Connection: close``; a websocket request is answered by coderd
(gevent-websocket) and re-opened to the app over the stream, messages passed
both ways.

Who may open what is ``appauth``'s: the sharing levels of the authorization
layer, Coder's owner-only rule for path apps (they share coderd's origin),
and the ticket that signs a browser in to a subdomain app. What the app
receives and what it may answer is ``appfilter``'s: never the caller's
coderd credentials, the path as sent but never above the app's own, never
coderd's cookies back.
"""
from __future__ import annotations

import http.client
import io
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, request

from appliance import streams, wsframes
from appliance.digits import is_number

from ..adapters import gevent_websocket
from ..adapters.gevent_pywsgi import abandon_body
from ..authz.querier import agent_obj
from ..authz.rbac import Action, NotAuthorized, system
from ..httpmw import release_connection, store, system_store
from . import appauth, appfilter
from .registry import AgentUnavailable

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_PIECE = 64 * 1024
PATH, SUBDOMAIN = "path", "subdomain"

blueprint = Blueprint("apps", __name__)


class ProxyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def agent_by_path(user: str, workspace: str, agent_name: str) -> dict:
    agents = system_store("resolve-app-path").get_agents_by_workspace_path(user, workspace)
    if agent_name:
        agents = [a for a in agents if a["name"] == agent_name]
    if len(agents) != 1:
        raise ProxyError(404, "No such workspace agent (is the workspace running? with several "
                              "agents, name one: WORKSPACE.AGENT).")
    return agents[0]


def _app_target(agent: dict, slug: str, access: str) -> tuple[str, int, str]:
    """HOST, PORT and base path of the app's URL, if the caller may use it."""
    row = store().get_workspace_app_target(agent["id"], slug)  # the sharing level's check
    if row is None:
        raise ProxyError(404, f"No app {slug!r} on this agent.")
    if access == PATH:
        appauth.check_path_app(row)
    if not row["url"]:
        raise ProxyError(400, f"App {slug!r} runs a command: open it in the web terminal.")
    url = urlsplit(row["url"])
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)
    return ("127.0.0.1" if host == "localhost" else host), port, url.path.rstrip("/")


def _port_target(agent: dict, port: int, access: str) -> tuple[str, int, str]:
    # A port its owner shared (Coder's port sharing, on subdomains): by its level.
    if access == SUBDOMAIN and store().get_port_share_target(agent["id"], port) is not None:
        return "127.0.0.1", port, ""
    # Before login store() acts as a system actor, which the ssh check would let through.
    if g.get("subject") is None:
        raise NotAuthorized(system("anonymous-port-request"), Action.SSH, agent_obj(agent))
    if access == PATH:
        appauth.check_path_owner(agent)
    if store().get_agent_connect_target(agent["id"]) is None:
        raise ProxyError(404, "No such workspace agent.")
    return "127.0.0.1", port, ""


def resolve_target(agent: dict, kind: str, name: str, access: str) -> tuple[str, int, str]:
    """HOST, PORT and base path of app ``name`` (``kind`` "apps") or port ``name``, if the
    caller may open it (NotAuthorized, ProxyError); coderd's and workspace proxies' rule."""
    if kind == "apps":
        return _app_target(agent, name, access)
    if is_number(name) and 0 < int(name) < 65536:
        return _port_target(agent, int(name), access)
    raise ProxyError(400, f"Invalid port {name!r}.")


def proxy(user: str, workspace: str, kind: str, name: str, rest: str, access: str) -> Response:
    """``rest``: the raw path below the app's prefix, as the request line sent it."""
    workspace, _, agent_name = workspace.partition(".")
    try:
        agent = agent_by_path(user, workspace, agent_name)
        host, port, base = resolve_target(agent, kind, name, access)
        path = appfilter.upstream_path(base, rest)
    except NotAuthorized:
        if g.get("subject") is not None:
            return appauth.page(404, "No such app, or you may not open it.")
        if access == SUBDOMAIN and request.environ.get("wsgi.websocket") is None:
            return appauth.redirect_to_sign_in()
        return appauth.page(401, "Sign in to coderd first: this app is not public.")
    except appfilter.PathRefused as exc:
        return appauth.page(400, f"Invalid app path: {exc}.")
    except ProxyError as exc:
        return appauth.page(exc.status, str(exc))
    release_connection()
    try:
        stream = current_app.extensions["relay"].open(agent["id"], f"tcp:{host}:{port}")
    except (AgentUnavailable, OSError) as exc:
        return appauth.page(502, f"The app is not reachable: {exc}")
    return forward(stream, host, port, path, path_app=access == PATH)


def forward(stream, host: str, port: int, path: str, path_app: bool) -> Response:
    """This request (HTTP, or a websocket's messages both ways) to the app at the end of
    ``stream``, at ``path`` and the request's query less coderd's credentials; its answer.
    coderd's app proxy and workspace proxies both serve apps through it."""
    query = appfilter.upstream_query(appfilter.raw_target(request.environ)[1])
    target = path + ("?" + query if query else "")
    ws = request.environ.get("wsgi.websocket")
    if ws is not None:
        return _websocket(ws, stream, host, port, target)
    return forward_http(stream, host, port, target, path_app)


def _forwarded_headers(host: str, port: int) -> list[tuple[str, str]]:
    return appfilter.request_headers(request.headers.items()) + [
        ("Host", f"{host}:{port}"), ("X-Forwarded-Host", request.host),
        ("X-Forwarded-Proto", request.scheme), ("X-Forwarded-For", request.remote_addr or "")]


def forward_http(stream, host: str, port: int, target: str, path_app: bool) -> Response:
    """The request, to the app at the end of ``stream``, and its answer."""
    length = request.content_length
    chunked = request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    head = [f"{request.method} {target} HTTP/1.1"]
    head += [f"{k}: {v}" for k, v in _forwarded_headers(host, port)]
    head += ["Transfer-Encoding: chunked" if chunked else f"Content-Length: {length or 0}",
             "Connection: close", "", ""]
    try:
        stream.sendall("\r\n".join(head).encode("latin-1"))
        _send_body(stream, length or 0, chunked)
        response = http.client.HTTPResponse(_AsSocket(stream), method=request.method)
        response.begin()
    except _BodyUnreadable as exc:
        stream.close()
        return appauth.page(400, f"The request body could not be read: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        stream.close()
        return appauth.page(502, f"The app did not answer: {exc}")

    def body_chunks():
        try:
            while chunk := response.read1(65536) if hasattr(response, "read1") else response.read(65536):
                yield chunk
        except (OSError, http.client.HTTPException):
            pass
        finally:
            stream.close()

    lengths = {v.strip() for k, v in response.getheaders() if k.lower() == "content-length"}
    if len(lengths) > 1 or (lengths and response.chunked):
        # Two framings of one body: passing either on would let the app end its answer where
        # the browser does not, and write the next one itself (response smuggling).
        stream.close()
        return appauth.page(502, "The app's answer had conflicting lengths (Transfer-Encoding with "
                         "Content-Length, or two Content-Lengths).")
    headers = appfilter.response_headers(response.getheaders(), path_app)
    if response.length is not None and request.method != "HEAD":
        headers.append(("Content-Length", str(response.length)))
    return Response(body_chunks(), status=response.status, headers=headers, direct_passthrough=True)


class _BodyUnreadable(Exception):
    """The caller's body stalled past the read timeout, or was cut short or malformed."""


def _send_body(stream, length: int, chunked: bool) -> None:
    """The caller's body, passed on to the app piece by piece as it arrives: never held
    whole, whatever its size (a public app takes bodies from anyone)."""
    body = request.environ["wsgi.input"]
    left = None if chunked else length
    while left is None or left > 0:
        try:
            data = body.read(BODY_PIECE if left is None else min(BODY_PIECE, left))
        except (OSError, ValueError) as exc:
            abandon_body(request.environ)
            raise _BodyUnreadable(str(exc) or type(exc).__name__) from None
        if not data:
            if left:
                abandon_body(request.environ)
                raise _BodyUnreadable("it ended before its Content-Length")
            break
        if left is not None:
            left -= len(data)
        stream.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    if chunked:
        stream.sendall(b"0\r\n\r\n")


def _websocket(ws, stream, host: str, port: int, target: str) -> Response:
    """Open the same websocket to the app over the stream and pass messages both ways.

    websocket-client makes the app's connection; its frames are then read and written
    by ``wsframes``, which holds the app's messages to the limit the browser's have
    (websocket-client reads any length a frame claims): an app that sends more is
    closed with 1009, and so is the browser's websocket."""
    import websocket as wsclient

    try:
        upstream = wsclient.create_connection(
            f"ws://{host}:{port}{target}", socket=_AsSocket(stream),
            header=[f"{k}: {v}" for k, v in _forwarded_headers(host, port) if k.lower() not in
                    ("host", "origin")],
            # The browser's own Origin, as Coder's proxy passes it: an app's check against
            # cross-site websockets (code-server's, Jupyter's) must see the real page.
            origin=request.headers.get("Origin"), suppress_origin="Origin" not in request.headers,
            timeout=15, skip_utf8_validation=True)
    except (wsclient.WebSocketException, OSError) as exc:
        stream.close()
        ws.close(1011, f"app websocket failed: {exc}"[:120])
        return Response(status=200)
    upstream.settimeout(None)
    streams.pump(gevent_websocket.WebSocketStream(ws), wsframes.client_stream(upstream))
    stream.close()
    return Response(status=200)


class _AsSocket:
    """A relayed stream (an ``appliance.streams.Stream``) as the more of a socket that
    websocket-client and http.client call."""

    def __init__(self, stream):
        self.stream = stream
        self.timeout = None

    def recv(self, n: int) -> bytes:
        return self.stream.recv(n)

    def recv_into(self, view: memoryview) -> int:
        return _recv_into(self.stream, view)

    def send(self, data: bytes) -> int:
        self.stream.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.stream.sendall(data)

    def settimeout(self, timeout) -> None:
        self.timeout = timeout

    def gettimeout(self):
        return 0  # recv blocks until data: never a selector on this socket

    def setsockopt(self, *args) -> None:
        pass

    def shutdown(self, how: int) -> None:
        self.stream.close()

    def close(self) -> None:
        self.stream.close()

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_RawStream(self.stream), 65536)


class _RawStream(io.RawIOBase):
    def __init__(self, stream):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        return _recv_into(self.stream, buf)


def _recv_into(stream, buf) -> int:
    data = stream.recv(len(buf))
    buf[:len(data)] = data
    return len(data)


# -- routes -------------------------------------------------------------------------
def raw_rest(user: str, workspace: str, kind: str, name: str) -> str:
    """The raw path below ``/@USER/WORKSPACE/KIND/NAME/``, as the request line sent it."""
    segments = appfilter.raw_target(request.environ)[0].split("/")
    if [unquote(s, encoding="latin-1") for s in segments[1:5]] != ["@" + user, workspace, kind, name]:
        raise appfilter.PathRefused("an encoded '/' in the app's prefix")
    return "/".join(segments[5:])


def add_path_rules(router, serve) -> None:
    """Coder's path app and port routes (plain and websocket) on ``router`` (coderd's
    blueprint, a workspace proxy's app); ``serve(user, workspace, kind, name, rest)`` gets
    ``rest`` as the request line sent it."""
    for kind in ("apps", "port"):
        base = f"/@<user>/<workspace>/{kind}/<name>"

        def bare(user: str, workspace: str, name: str, kind: str = kind):
            return redirect(request.full_path.replace("?", "/?", 1).rstrip("?"), code=307)

        def view(user: str, workspace: str, name: str, rest: str = "", kind: str = kind):
            try:
                rest = raw_rest(user, workspace, kind, name)
            except appfilter.PathRefused as exc:
                return appauth.page(400, f"Invalid app path: {exc}.")
            return serve(user, workspace, kind, name, rest)

        router.add_url_rule(base, f"{kind}_bare", bare, methods=METHODS)
        for websocket in (False, True):
            suffix = "_ws" if websocket else ""
            methods = ["GET"] if websocket else METHODS
            router.add_url_rule(base + "/", f"{kind}_root{suffix}", view, methods=methods,
                                websocket=websocket)
            router.add_url_rule(base + "/<path:rest>", f"{kind}{suffix}", view, methods=methods,
                                websocket=websocket)


add_path_rules(blueprint, lambda user, workspace, kind, name, rest:
               proxy(user, workspace, kind, name, rest, PATH))


def subdomain_request(sub: str) -> tuple[str, str, str, str, str] | Response:
    """What an app host's request is for, from the part of its host name before the wildcard
    (``APP--AGENT--WORKSPACE--USER``): user, ``WORKSPACE.AGENT``, kind, app or port, and the
    raw path (coderd's and workspace proxies' rule); a 404 page for another shape."""
    match = appauth.SUBDOMAIN.match(sub)
    if match is None:
        return appauth.page(404, "Not a workspace app host: expected APP--AGENT--WORKSPACE--USER.")
    part = match["app"]
    return (match["user"], f"{match['workspace']}.{match['agent']}",
            "port" if is_number(part) else "apps", part, appfilter.raw_target(request.environ)[0][1:])


def _subdomain_app():
    """Before routing: a request to an app host is the app's, whatever its path."""
    hostname = request.host.rsplit(":", 1)[0].lower()
    sub = appauth.hosts().subdomain(hostname)
    if sub is None:
        return None
    app = subdomain_request(sub)
    if isinstance(app, Response):
        return app
    answer = appauth.sign_in(hostname)
    return answer if answer is not None else proxy(*app, SUBDOMAIN)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    appauth.init_app(app)
    if app.extensions[appauth.EXTENSION].suffix:
        app.before_request_funcs.setdefault(None, []).append(_subdomain_app)
