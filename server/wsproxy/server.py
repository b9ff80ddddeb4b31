"""``coderd wsproxy server``: a workspace proxy process (Coder's ``coder wsproxy server``).

It holds no database connection and no DSN: everything it knows comes from coderd over
HTTP(S) with its proxy token. It registers its URLs and version, registers again every
``HEARTBEAT_SECONDS`` (its heartbeat: coderd shows it unreachable after three missed
ones) and deregisters when stopped, so ``/regions`` follows it.

It serves ``/healthz``, path apps and ports (``/@USER/WORKSPACE/apps|port/NAME/``) and,
with a wildcard, subdomain apps (``APP--AGENT--WORKSPACE--USER.WILDCARD``), HTTP and
websockets alike, through the app proxy's own routes, host parsing and forwarding
(``server.relay.apps``); with ``Upgrade: tcp``, ``/api/v2/workspaceagents/{id}/connect``
(``coder ssh``'s stream, a port), and the web terminal's websocket
``/api/v2/workspaceagents/{id}/pty``.

A browser without a session here is sent through coderd's sign-in
(``/api/v2/applications/auth-redirect``, ``server.relay.appauth``) and comes back with a
ticket sealed for this proxy, which becomes this host's own cookie; it is good only
here (coderd takes it from no one else). For each request,
it passes the caller's session (``Coder-Session-Token``, or that cookie) to coderd, which answers
with a grant signed for this proxy with a key only coderd holds (``server.wsproxy.apptoken``)
naming the agent, the target and the coderd process holding the agent; the proxy reads
it and dials that process's relay listener, proving its relay key and presenting the
grant, which the listener checks before opening the stream.
"""
from __future__ import annotations

import logging
import threading
import uuid
from urllib.parse import urlsplit

from flask import Flask, Response, after_this_request, redirect, request

from appliance import mux
from appliance.sdk import model, types
from appliance.sdk.client import APIError
from appliance.sdk.errors import SESSION_HEADER
from appliance.sdk.wsproxysdk import ProxyClient
from appliance.settings import wildcard_suffix

from ..api.workspaceproxies import HEARTBEAT_SECONDS
from .. import csrf, latencycheck, upgradecheck
from ..api.relay import pty_target
from ..httpapi import APIError as Refused
from ..relay import appauth, appfilter, apps, tcpupgrade, websocket
from ..relay.appauth import page
from ..relay.websocket import bridge
from ..relay.registry import AgentUnavailable, dial_listener, dialer_context
from . import apptoken

SIGNED_TOKEN_PARAM = "coder_signed_app_token_23db1dde"  # Coder's name for it


def _refusal(exc: Refused) -> Response:
    """Coder's error body (to an upgraded websocket, ``relay.websocket`` sends it as the
    close code 4000+status, as coderd's)."""
    return Response(model.dumps(types.Response(message=exc.message, detail=exc.detail)),
                    status=exc.status, mimetype="application/json")

log = logging.getLogger(__name__)


class WorkspaceProxyServer:
    def __init__(self, client: ProxyClient, access_url: str, wildcard_hostname: str,
                 version: str, relay_ca_file: str = ""):
        """``relay_ca_file``: dial coderd's relay listeners over TLS, trusting this CA (as
        coderd processes do with ``CODER_RELAY_TLS_CA_FILE``); needed off coderd's host."""
        self.client = client
        self.relay_tls = dialer_context(relay_ca_file) if relay_ca_file else None
        self.registration = types.RegisterWorkspaceProxyRequest(
            access_url=access_url, wildcard_hostname=wildcard_hostname, version=version)
        access = urlsplit(access_url)
        self.scheme, self.host = access.scheme, (access.hostname or "").lower()
        self.app_suffix = wildcard_suffix(wildcard_hostname)
        self.cookie = appauth.ticket_cookie(self.scheme, wildcard_hostname)
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

    def app(self) -> Flask:
        """The proxy's routes: coderd's paths, served through coderd's decisions."""
        app = Flask(__name__)
        app.add_url_rule("/healthz", "healthz", lambda: Response("OK", mimetype="text/plain"))
        latencycheck.init_app(app)
        app.add_url_rule("/api/v2/workspaceagents/<uuid:agent_id>/connect", "connect",
                         self.connect)
        app.add_url_rule("/api/v2/workspaceagents/<uuid:agent_id>/pty", "pty", self.pty,
                         websocket=True)
        # The terminal's websocket with this origin's cookie: from this origin's pages only.
        csrf.guard_app(app, csrf.OriginGuard(self.registration.access_url, self.app_suffix,
                                             cookies=(self.cookie,)))
        apps.add_path_rules(app, lambda user, workspace, kind, name, rest:
                            self.serve_app(user, workspace, kind, name, rest, apps.PATH))
        app.before_request(self.subdomain_app)
        app.register_error_handler(Refused, _refusal)
        websocket.init_app(app)
        upgradecheck.init_app(app)  # a websocket to an app host upgrades before the app runs
        return app

    def connect(self, agent_id: uuid.UUID) -> Response:
        """A stream to the agent (``Upgrade: tcp``), once coderd has granted it."""
        if not tcpupgrade.requested(request.environ):
            raise Refused(400, "Expected a connection upgrade.", "Send 'Upgrade: tcp'.")
        target = request.args.get("target", "ssh")
        grant = self._ask(self.client.issue_signed_connect_token, agent_id, target)
        claims = self._claims(grant, {"agent_id": str(agent_id), "target": target})
        tcpupgrade.bridge(request.environ, self._dial(claims, grant))
        return Response(status=200)  # not sent: the connection was taken over

    def pty(self, agent_id: uuid.UUID) -> Response:
        """The web terminal's websocket (Coder's reconnecting PTY), once coderd has granted it."""
        ws = request.environ.get("wsgi.websocket")
        if ws is None:
            raise Refused(400, "Expected a websocket.")
        target = pty_target()
        # From coderd's dashboard: the token it signed for this terminal (Coder's query
        # parameter); else the caller's session, as for the other routes.
        grant = request.args.get(SIGNED_TOKEN_PARAM) or \
            self._ask(self.client.issue_signed_connect_token, agent_id, target)
        claims = self._claims(grant, {"agent_id": str(agent_id), "target": target})
        bridge(ws, self._dial(claims, grant))
        return Response(status=200)

    def subdomain_app(self):
        """Before routing: a request to one of this proxy's app hosts is the app's."""
        hostname = request.host.rsplit(":", 1)[0].lower()
        sub = appauth.subdomain_of(hostname, self.app_suffix, self.host)
        if sub is None:
            return None
        app = apps.subdomain_request(sub)
        if isinstance(app, Response):
            return app
        return self.serve_app(*app, apps.SUBDOMAIN)

    def serve_app(self, user: str, workspace: str, kind: str, name: str, rest: str,
                  access: str) -> Response:
        """A path or subdomain app or port, as coderd serves it, once coderd has granted it
        to the caller's session; a browser without one is signed in through coderd."""
        exchange = request.args.get(appfilter.EXCHANGE_PARAM)
        if exchange is not None:
            return self._sign_in(exchange)
        workspace, _, agent = workspace.partition(".")
        app = types.WorkspaceAppRequest(access_method=access, username_or_id=user,
                                        workspace_name_or_id=workspace, agent_name_or_id=agent,
                                        app_slug_or_port=name)
        try:
            grant = self._ask(self.client.issue_signed_app_token, app)
        except Refused as exc:
            if exc.status != 401 or SESSION_HEADER in request.headers:
                raise
            return appauth.sign_in_redirect(self.client.sdk.url, self.scheme)
        claims = self._claims(grant, {"request": model.encode(app)})
        self._renew_cookie(claims.get("renewal"))
        try:
            path = appfilter.upstream_path(claims["base_path"], rest)
        except appfilter.PathRefused as exc:
            raise Refused(400, f"Invalid app path: {exc}.") from None
        host, _, port = claims["target"].removeprefix("tcp:").rpartition(":")
        return apps.forward(self._dial(claims, grant), host, int(port), path,
                            path_app=access == apps.PATH)

    def _sign_in(self, exchange: str) -> Response:
        """coderd's sign-in link, sealed for this proxy and this host: its ticket becomes this
        host's cookie, and the browser goes on to the page without the link's parameter."""
        hostname = request.host.rsplit(":", 1)[0].lower()
        sealed = apptoken.unseal(self.app_security_key, exchange)
        if sealed is None or sealed.get("host") != hostname:
            return page(400, "This sign-in link is invalid or has expired: open the app "
                             f"again without its {appfilter.EXCHANGE_PARAM} parameter.")
        return appauth.set_ticket_cookie(redirect(appauth.location_without_exchange(), 303),
                                         self.cookie, sealed["ticket"], sealed["max_age"],
                                         self.scheme == "https")

    def _renew_cookie(self, renewal: dict | None) -> None:
        """The cookie's ticket, renewed by coderd while it is used, on this answer."""
        if renewal and request.cookies.get(self.cookie) and SESSION_HEADER not in request.headers:
            after_this_request(lambda response: appauth.set_ticket_cookie(
                response, self.cookie, renewal["ticket"], renewal["max_age"],
                self.scheme == "https"))

    def _ask(self, issue, *args):
        """coderd's grant for the caller's session (its header, or this host's cookie)."""
        session = request.headers.get(SESSION_HEADER) or request.cookies.get(self.cookie, "")
        try:
            return issue(*args, session)
        except APIError as exc:
            raise Refused(exc.status, exc.message, exc.detail) from None

    def _claims(self, grant: str, expected: dict) -> dict:
        """coderd's grant, read (the relay listener checks its signature), if it is for this
        proxy and this very request."""
        claims = apptoken.claims(grant, {**expected, "proxy_id": str(self.proxy_id)})
        if claims is None:
            raise Refused(502, "coderd's grant is not for this request.")
        return claims

    def _dial(self, claims: dict, grant: str):
        """The relay listener of the coderd process holding the agent, past its handshake."""
        if ":" not in claims["relay_address"]:
            raise Refused(502, "The workspace agent is not connected.")
        try:
            return dial_listener(claims["relay_address"], self.relay_key, claims["agent_id"],
                                 claims["target"], self.relay_tls, 15,
                                 proxy_id=str(self.proxy_id), grant=grant)
        except (AgentUnavailable, mux.StreamError) as exc:
            raise Refused(502, str(exc)) from None
