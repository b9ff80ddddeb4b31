"""Workspace apps through the relay, at Coder's paths.

``/@USER/WORKSPACE[.AGENT]/apps/SLUG/...`` proxies to the app's URL inside
the workspace and ``/@USER/WORKSPACE[.AGENT]/port/PORT/...`` to a port; with
``CODER_WILDCARD_ACCESS_URL`` (``*.apps.example.com``), subdomain apps answer
at ``SLUG--AGENT--WORKSPACE--USER.apps.example.com`` (a port in place of the
slug for ports). Each request is one stream ``tcp:HOST:PORT`` carrying
HTTP/1.1 with ``Connection: close``; a websocket request is answered by coderd
(gevent-websocket) and re-opened to the app over the stream, messages passed
both ways. Sharing levels are enforced by the authorization layer. Browsers
authenticate with the ``coder_session_token`` cookie, which is removed before
the request reaches the app.
"""
from __future__ import annotations

import http.client
import io
import re
import threading
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, request


from ..authz.rbac import NotAuthorized
from ..httpmw import SESSION_COOKIE, SESSION_HEADER, release_connection, store, system_store
from . import AgentUnavailable
from .websocket import refuse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
SUBDOMAIN = re.compile(r"^(?P<app>[a-z0-9-]+?)--(?P<agent>[a-z0-9-]+?)--(?P<workspace>[a-z0-9-]+?)"
                       r"--(?P<user>[a-z0-9-]+)$", re.I)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

blueprint = Blueprint("apps", __name__)


class ProxyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _page(status: int, message: str) -> Response:
    ws = request.environ.get("wsgi.websocket")
    if ws is not None:  # already upgraded: the refusal is the close code
        refuse(ws, status, message)
        return Response(status=200)
    return Response(f"{status}: {message}\n", status=status, mimetype="text/plain")


def _agent(user: str, workspace: str, agent_name: str) -> dict:
    agents = system_store("resolve-app-path").get_agents_by_workspace_path(user, workspace)
    if agent_name:
        agents = [a for a in agents if a["name"] == agent_name]
    if len(agents) != 1:
        raise ProxyError(404, "No such workspace agent (is the workspace running? with several "
                              "agents, name one: WORKSPACE.AGENT).")
    return agents[0]


def _app_target(agent: dict, slug: str) -> tuple[str, int, str]:
    """HOST, PORT and base path of the app's URL, if the caller may use it."""
    row = store().get_workspace_app_target(agent["id"], slug)
    if row is None:
        raise ProxyError(404, f"No app {slug!r} on this agent.")
    if not row["url"]:
        raise ProxyError(400, f"App {slug!r} runs a command: open it in the web terminal.")
    url = urlsplit(row["url"])
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)
    return ("127.0.0.1" if host == "localhost" else host), port, url.path.rstrip("/")


def _port_target(agent: dict, port: int) -> tuple[str, int, str]:
    # Before login store() acts as a system actor, which the ssh check would let through.
    if g.get("subject") is None:
        raise ProxyError(401, "Sign in to coderd first: ports are for the workspace's owner.")
    if store().get_agent_connect_target(agent["id"]) is None:
        raise ProxyError(404, "No such workspace agent.")
    return "127.0.0.1", port, ""


def proxy(user: str, workspace: str, kind: str, name: str, rest: str) -> Response:
    workspace, _, agent_name = workspace.partition(".")
    try:
        agent = _agent(user, workspace, agent_name)
        if kind == "apps":
            host, port, base = _app_target(agent, name)
        elif name.isdigit() and 0 < int(name) < 65536:
            host, port, base = _port_target(agent, int(name))
        else:
            raise ProxyError(400, f"Invalid port {name!r}.")
    except NotAuthorized:
        if g.get("subject") is None:
            return _page(401, "Sign in to coderd first: this app is not public.")
        return _page(404, "No such app, or you may not open it.")
    except ProxyError as exc:
        return _page(exc.status, str(exc))
    release_connection()
    try:
        stream = current_app.extensions["relay"].open(agent["id"], f"tcp:{host}:{port}")
    except (AgentUnavailable, OSError) as exc:
        return _page(502, f"The app is not reachable: {exc}")
    path = base + "/" + rest
    ws = request.environ.get("wsgi.websocket")
    if ws is not None:
        return _websocket(ws, stream, host, port, path)
    return _http(stream, host, port, path)


def _forwarded_headers(host: str, port: int) -> list[tuple[str, str]]:
    headers = []
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower == SESSION_HEADER.lower() or lower.startswith("sec-websocket"):
            continue
        if lower == "cookie":
            value = "; ".join(c for c in value.split("; ") if not c.startswith(SESSION_COOKIE + "="))
            if not value:
                continue
        headers.append((name, value))
    headers += [("Host", f"{host}:{port}"), ("X-Forwarded-Host", request.host),
                ("X-Forwarded-Proto", request.scheme),
                ("X-Forwarded-For", request.remote_addr or "")]
    return headers


def _http(stream, host: str, port: int, path: str) -> Response:
    body = request.get_data()
    query = request.query_string.decode()
    head = [f"{request.method} {path}{'?' + query if query else ''} HTTP/1.1"]
    head += [f"{k}: {v}" for k, v in _forwarded_headers(host, port)]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    try:
        stream.sendall("\r\n".join(head).encode("latin-1") + body)
        response = http.client.HTTPResponse(_SocketFile(stream), method=request.method)
        response.begin()
    except (OSError, http.client.HTTPException) as exc:
        stream.close()
        return _page(502, f"The app did not answer: {exc}")

    def body_chunks():
        try:
            while chunk := response.read1(65536) if hasattr(response, "read1") else response.read(65536):
                yield chunk
        except (OSError, http.client.HTTPException):
            pass
        finally:
            stream.close()

    headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
    if response.getheader("content-length") and request.method != "HEAD":
        headers.append(("Content-Length", response.getheader("content-length")))
    return Response(body_chunks(), status=response.status, headers=headers, direct_passthrough=True)


def _websocket(ws, stream, host: str, port: int, path: str) -> Response:
    """Open the same websocket to the app over the stream and pass messages both ways."""
    import websocket as wsclient
    from geventwebsocket.exceptions import WebSocketError

    query = request.query_string.decode()
    try:
        upstream = wsclient.create_connection(
            f"ws://{host}:{port}{path}{'?' + query if query else ''}", socket=_SocketLike(stream),
            header=[f"{k}: {v}" for k, v in _forwarded_headers(host, port) if k.lower() not in
                    ("host", "origin")],
            timeout=15, skip_utf8_validation=True)
    except (wsclient.WebSocketException, OSError) as exc:
        stream.close()
        ws.close(1011, f"app websocket failed: {exc}"[:120])
        return Response(status=200)
    upstream.settimeout(None)

    def from_app() -> None:
        try:
            while True:
                opcode, data = upstream.recv_data()
                if opcode == wsclient.ABNF.OPCODE_CLOSE:
                    break
                ws.send(data if opcode == wsclient.ABNF.OPCODE_BINARY else data.decode(errors="replace"),
                        binary=opcode == wsclient.ABNF.OPCODE_BINARY)
        except (wsclient.WebSocketException, WebSocketError, OSError):
            pass
        finally:
            ws.close()

    reader = threading.Thread(target=from_app, daemon=True)
    reader.start()
    try:
        while (message := ws.receive()) is not None:
            if isinstance(message, str):
                upstream.send(message)
            else:
                upstream.send_bytes(message)
    except (wsclient.WebSocketException, WebSocketError, OSError):
        pass
    finally:
        upstream.close(timeout=1)
        stream.close()
        reader.join(5)
    return Response(status=200)


class _SocketLike:
    """A relayed stream as the socket websocket-client expects."""

    def __init__(self, stream):
        self.stream = stream
        self.timeout = None

    def recv(self, n: int) -> bytes:
        return self.stream.recv(n)

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


class _SocketFile:
    """What http.client.HTTPResponse needs of a socket: ``makefile('rb')``."""

    def __init__(self, stream):
        self.stream = stream

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_RawStream(self.stream), 65536)


class _RawStream(io.RawIOBase):
    def __init__(self, stream):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.stream.recv(len(buf))
        buf[:len(data)] = data
        return len(data)


# -- routes -------------------------------------------------------------------------
def _path_rules() -> None:
    for kind in ("apps", "port"):
        base = f"/@<user>/<workspace>/{kind}/<name>"

        def bare(user: str, workspace: str, name: str, kind: str = kind):
            return redirect(request.full_path.replace("?", "/?", 1).rstrip("?"), code=307)

        def view(user: str, workspace: str, name: str, rest: str = "", kind: str = kind):
            return proxy(user, workspace, kind, name, rest)

        blueprint.add_url_rule(base, f"{kind}_bare", bare, methods=METHODS)
        for websocket in (False, True):
            suffix = "_ws" if websocket else ""
            methods = ["GET"] if websocket else METHODS
            blueprint.add_url_rule(base + "/", f"{kind}_root{suffix}", view, methods=methods,
                                   websocket=websocket)
            blueprint.add_url_rule(base + "/<path:rest>", f"{kind}{suffix}", view, methods=methods,
                                   websocket=websocket)


_path_rules()


def _subdomain(app: Flask):
    """With a wildcard access URL, requests to an app's host are proxied before routing."""
    wildcard = app.extensions["coderd"].settings.wildcard_access_url
    suffix = urlsplit(wildcard if "//" in wildcard else "//" + wildcard).hostname or ""
    suffix = suffix.lstrip("*")  # ".apps.example.com"
    if not suffix.startswith("."):
        return

    def before():
        host = request.host.split(":")[0]
        if not host.endswith(suffix):
            return None
        match = SUBDOMAIN.match(host[:-len(suffix)])
        if match is None:
            return _page(404, "Not a workspace app host: expected APP--AGENT--WORKSPACE--USER.")
        part = match["app"]
        kind = "port" if part.isdigit() else "apps"
        return proxy(match["user"], f"{match['workspace']}.{match['agent']}", kind, part,
                     request.path.lstrip("/"))

    app.before_request_funcs.setdefault(None, []).append(before)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    if app.extensions["coderd"].settings.wildcard_access_url:
        _subdomain(app)
