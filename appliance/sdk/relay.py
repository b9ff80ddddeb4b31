"""The client's side of the relay: streams into a workspace through coderd.

``dial`` opens ``/workspaceagents/{id}/connect`` with ``Upgrade: tcp`` and
returns the connection, a socket carrying the stream's bytes (``rawstream``):
what ``coder ssh``, ``coder port-forward`` and the tests use. The reconnecting
terminal is a websocket, as in Coder. Types and paths are Coder's.
"""
from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import websocket

from .. import wsframes
from . import rawstream, types
from .client import SESSION_HEADER, APIError, Client


# The agent's SSH server is paramiko, whose fastest ciphers are AES-GCM: they need no
# separate MAC, where paramiko builds an HMAC per packet for the others (measured in
# docs/benchmarks.md, "Relay"). OpenSSH on its own would pick AES-CTR, since paramiko
# lacks its first choice, chacha20-poly1305. `coder ssh` and `coder config-ssh` ask for these.
SSH_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
               "aes128-ctr", "aes192-ctr", "aes256-ctr")
# config-ssh's host names: ``ssh coder.WORKSPACE`` (the dashboard shows that line too).
SSH_HOST_PREFIX = "coder."


def app_link(access_url: str, app_host: str, workspace, agent_name: str, app) -> str:
    """Where ``coder open app`` (and the dashboard's link) sends a browser for a ``app``
    that is not a command: an external app's own URL, else ``app_url`` (the subdomain host
    only for a subdomain app, and only under a wildcard ``app_host``)."""
    if app.external:
        return app.url
    return app_url(access_url, app_host if app.subdomain else "", workspace, agent_name, app.slug)


def app_url(access_url: str, app_host: str, workspace, agent_name: str, slug: str,
            kind: str = "apps") -> str:
    """Coder's link to an app (``kind`` apps, ``slug`` its slug) or a listening port (``kind``
    port, ``slug`` the port): the subdomain host when there is a wildcard ``app_host``
    (``SLUG--AGENT--WS--OWNER``), else the path ``/@OWNER/WS.AGENT/KIND/SLUG/``. Shared by
    ``coder open`` and the dashboard's workspace page."""
    access = urlsplit(access_url)
    if app_host:
        port = f":{access.port}" if access.port else ""
        host = app_host.replace("*", f"{slug}--{agent_name}--{workspace.name}"
                                     f"--{workspace.owner_name}", 1)
        return urlunsplit((access.scheme, host + port, "/", "", ""))
    path = (f"{access.path.rstrip('/')}/@{workspace.owner_name}/{workspace.name}.{agent_name}"
            f"/{kind}/{quote(str(slug), safe='')}/")
    return urlunsplit((access.scheme, access.netloc, path, "", ""))


@dataclass
class WorkspaceAgentListeningPort:
    process_name: str
    network: str
    port: int


@dataclass
class WorkspaceAgentListeningPortsResponse:
    ports: list[WorkspaceAgentListeningPort] = field(default_factory=list)


class WebSocketStream:
    """A relayed stream: binary websocket messages carrying raw bytes."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws
        self.frames = wsframes.client_frames(ws)

    def recv(self, n: int = 65536) -> bytes:
        """The next chunk; b"" once the stream has ended."""
        try:
            while (data := self.frames.recv()) is not None:
                if data:
                    return data
        except OSError:
            return b""
        _raise_refusal(self.frames.close_payload)
        return b""

    def sendall(self, data: bytes) -> None:
        try:
            self.frames.send(data)
        except OSError as exc:
            raise ConnectionResetError("the relayed stream closed") from exc

    def shutdown(self, how: int) -> None:
        """A websocket cannot half-close: the stream ends when both sides are done."""

    def send_text(self, text: str) -> None:
        self.frames.send(text.encode(), wsframes.OP_TEXT)

    def close(self) -> None:
        wsframes.close_client(self.ws, self.frames)


def _raise_refusal(close_payload: bytes | None) -> None:
    """coderd's refusal of a stream after the upgrade, as the APIError it stands for."""
    if refused := wsframes.refusal(close_payload):
        raise APIError(*refused)


def websocket_url(client: Client, path: str, query: dict | None = None) -> str:
    base = client.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return base + path + ("?" + urlencode(query) if query else "")


def open_websocket(client: Client, path: str, query: dict | None = None) -> WebSocketStream:
    """A websocket to coderd, authenticated as the client; HTTP errors become APIError."""
    verify = client.http.verify
    sslopt = {"ca_certs": verify} if isinstance(verify, str) else {}
    try:
        ws = websocket.create_connection(
            websocket_url(client, path, query), header={**client.headers, SESSION_HEADER: client.token},
            sslopt=sslopt, timeout=client.timeout, enable_multithread=True, skip_utf8_validation=True)
    except websocket.WebSocketBadStatusException as exc:
        raise _status_error(exc, path) from exc
    ws.settimeout(None)
    return WebSocketStream(ws)


def _status_error(exc: websocket.WebSocketBadStatusException, path: str) -> APIError:
    return APIError.from_response(exc.status_code, exc.resp_body or b"", "GET", path)


def dial(client: Client, agent_id: uuid.UUID | str, target: str = "ssh",
         region_url: str = "") -> socket.socket:
    """A connection carrying a byte stream to ``target`` (``ssh``, ``tcp:PORT``) on the agent;
    APIError if coderd refuses it. Through the workspace proxy at ``region_url`` if given
    (the client's extra headers are for coderd: not sent there)."""
    return rawstream.connect(region_url or client.url,
                             f"/api/v2/workspaceagents/{agent_id}/connect", {"target": target},
                             client.token, verify=client.http.verify, timeout=client.timeout,
                             headers={} if region_url else client.headers)


def reconnecting_pty(client: Client, agent_id: uuid.UUID | str, reconnect: uuid.UUID,
                     width: int = 80, height: int = 24, command: str = "") -> WebSocketStream:
    query = {"reconnect": str(reconnect), "width": width, "height": height}
    if command:
        query["command"] = command
    return open_websocket(client, f"/api/v2/workspaceagents/{agent_id}/pty", query)


def listening_ports(client: Client, agent_id: uuid.UUID | str) -> WorkspaceAgentListeningPortsResponse:
    return client._request("GET", f"/api/v2/workspaceagents/{agent_id}/listening-ports",
                           model_type=WorkspaceAgentListeningPortsResponse)


def resolve_agent(client: Client, spec: str) -> tuple[types.Workspace, types.WorkspaceAgent]:
    """``[owner/]workspace[.agent]`` to the workspace and the agent to connect to."""
    owner, _, rest = spec.rpartition("/")
    name, _, agent_name = rest.partition(".")
    workspace = client.workspace_by_owner_and_name(owner or "me", name)
    agents = [a for r in workspace.latest_build.resources for a in r.agents]
    if agent_name:
        agents = [a for a in agents if a.name == agent_name]
    if not agents:
        raise APIError(404, f"Workspace {spec!r} has no agent" + (f" named {agent_name!r}." if agent_name
                                                                  else ": is it started?"))
    if len(agents) > 1:
        names = ", ".join(sorted(a.name for a in agents))
        raise APIError(400, f"Workspace {spec!r} has several agents ({names}).",
                       f"Name one: {name}.AGENT.")
    return workspace, agents[0]
