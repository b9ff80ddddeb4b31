"""``coderd wsproxy server``: a workspace proxy process (Coder's ``coder wsproxy server``).

It holds no database connection and no DSN: everything it knows comes from coderd over
HTTP(S) with its proxy token. It registers its URLs and version, registers again every
``HEARTBEAT_SECONDS`` (its heartbeat: coderd shows it unreachable after three missed
ones) and deregisters when stopped, so ``/regions`` follows it.

It serves ``/healthz`` and, with ``Upgrade: tcp``, ``/api/v2/workspaceagents/{id}/connect``
(``coder ssh``'s stream, a port): it passes the caller's session to coderd, which answers
with a grant signed for this proxy (``server.wsproxy.apptoken``) naming the agent, the
target and the coderd process holding the agent; the proxy checks the grant with its
key and dials that process's relay listener, proving its relay key and presenting the
grant, which the listener checks again before opening the stream.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import threading
import uuid
from urllib.parse import parse_qs

from appliance.sdk import types
from appliance.sdk.client import APIError
from appliance.sdk.wsproxysdk import ProxyClient

from ..api.workspaceproxies import HEARTBEAT_SECONDS
from ..relay import tcpupgrade
from ..relay.registry import dial_handshake
from . import apptoken

CONNECT = re.compile(r"^/api/v2/workspaceagents/([0-9a-fA-F-]{36})/connect$")
SESSION_HEADER = "HTTP_CODER_SESSION_TOKEN"


class Refused(Exception):
    """An answer before the upgrade: its status and Coder's error body."""

    def __init__(self, status: int, message: str, detail: str = ""):
        super().__init__(message)
        self.status, self.detail = status, detail

log = logging.getLogger(__name__)


class WorkspaceProxyServer:
    def __init__(self, client: ProxyClient, access_url: str, wildcard_hostname: str,
                 version: str):
        self.client = client
        self.registration = types.RegisterWorkspaceProxyRequest(
            access_url=access_url, wildcard_hostname=wildcard_hostname, version=version)
        self.proxy_id = client.proxy_id
        self.app_security_key = self.relay_key = ""
        self._stopped = threading.Event()

    def register(self) -> None:
        """Register once (raising what coderd answers: a wrong token stops the start)."""
        answer = self.client.register(self.registration)
        self.app_security_key, self.relay_key = answer.app_security_key, answer.relay_key

    def heartbeat_forever(self) -> None:
        """Register again every heartbeat until stopped; a failure is logged and retried."""
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.register()
            except (APIError, OSError) as exc:
                log.warning("wsproxy: registering with coderd failed: %s", exc)

    def stop(self) -> None:
        """Stop the heartbeat and tell coderd at once (it shows the proxy unreachable)."""
        self._stopped.set()
        try:
            self.client.deregister()
        except (APIError, OSError) as exc:
            log.warning("wsproxy: deregistering from coderd failed: %s", exc)

    def wsgi(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK"]
        connect = CONNECT.match(path)
        try:
            if connect is None:
                raise Refused(404, "Not served by this workspace proxy.")
            self.connect(environ, uuid.UUID(connect.group(1)))
            return []
        except Refused as exc:
            body = json.dumps({"message": str(exc), "detail": exc.detail}).encode()
            start_response(f"{exc.status} Refused", [("Content-Type", "application/json"),
                                                     ("Content-Length", str(len(body)))])
            return [body]

    def connect(self, environ: dict, agent_id: uuid.UUID) -> None:
        """Carry a stream to the agent, once coderd has granted it to the caller's session."""
        if not tcpupgrade.requested(environ):
            raise Refused(400, "Expected a connection upgrade.", "Send 'Upgrade: tcp'.")
        target = parse_qs(environ.get("QUERY_STRING", "")).get("target", ["ssh"])[0]
        session = environ.get(SESSION_HEADER, "")
        try:
            grant = self.client.issue_signed_connect_token(agent_id, target, session)
        except APIError as exc:
            raise Refused(exc.status, exc.message, exc.detail) from None
        claims = apptoken.verify(self.app_security_key, grant, {
            "proxy_id": str(self.proxy_id), "agent_id": str(agent_id), "target": target})
        if claims is None:
            raise Refused(502, "coderd's grant did not verify with this proxy's key.")
        tcpupgrade.bridge(environ, self._dial(claims, grant))

    def _dial(self, claims: dict, grant: str) -> socket.socket:
        """The relay listener of the coderd process holding the agent, past its handshake."""
        host, _, port = claims["relay_address"].rpartition(":")
        if not port:
            raise Refused(502, "The workspace agent is not connected.")
        try:
            sock = socket.create_connection((host, int(port)), timeout=15)
            answer = dial_handshake(sock, self.relay_key, claims["agent_id"], claims["target"],
                                    proxy_id=str(self.proxy_id), grant=grant)
        except (OSError, ValueError) as exc:
            raise Refused(502, f"The coderd process holding the agent refused: {exc}") from None
        if not answer.get("ok"):
            sock.close()
            raise Refused(502, answer.get("error") or "The agent refused the stream.")
        sock.settimeout(None)
        return sock
