"""Who a workspace app request acts as, and whether it may reach the app.

**Path apps** (``/@USER/WORKSPACE/apps/SLUG/``, ``.../port/PORT/``) are served on
coderd's own origin, where the browser holds the ``coder_session_token``
cookie: a page of the app runs with its visitor's whole session (it can
create a token or change roles through the API). So, as in Coder, they are
for the workspace's owner only. ``CODER_DANGEROUS_ALLOW_PATH_APP_SHARING``
lets the sharing levels (``authenticated``, ``public``) apply to them again,
and ``CODER_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS`` lets site owners open
other users' owner-level path apps and ports again (``check_path_owner``).

**Subdomain apps** (``SLUG--AGENT--WORKSPACE--USER`` under
``CODER_WILDCARD_ACCESS_URL``; a port in place of the slug for ports) are
another origin, where coderd's session cookie is never needed. A browser
without a ticket for the app's host is signed in by Coder's redirect flow:

1. ``GET APP_HOST/x`` → 307 to
   ``ACCESS_URL/api/v2/applications/auth-redirect?redirect_uri=APP_HOST/x``;
2. coderd, seeing its session cookie, answers 303 to
   ``APP_HOST/x?coder_application_connect_api_key_35e783=EXCHANGE`` (refused
   unless the URI is an app host under the wildcard, on the access URL's
   scheme and port);
3. the app host turns the exchange ticket (60 s) into the cookie
   ``coder_subdomain_app_session_token_HASH`` (host-only, HttpOnly,
   SameSite=Lax, ``CODER_APP_TICKET_LIFETIME``) and answers 303 to ``/x``.

A ticket is coderd's signature (itsdangerous, HMAC-SHA1 keyed with a secret
kept in ``deployment_config``, shared by every replica) over its kind, the
session key's ID and the app's host name, with the time it was signed. It is
good only on that host, only for its lifetime, and only while the session it
names is (each request checks the key as ``httpmw`` does: logout or
suspension ends it at once); a cookie used past half its life is renewed. It
holds nothing secret (the key's secret never leaves coderd), so it is signed,
not encrypted, and the proxy keeps it from the app (``appfilter``).
Clients that send ``Coder-Session-Token`` (the CLI, scripts) are served
without the flow.

**Workspace proxies** sign browsers in through the same redirect: ``redirect_uri`` may
also be a registered proxy's access URL or a host under its wildcard (on the proxy's
scheme and port), and then coderd answers with a ticket of kind ``wsproxy-session``
naming the session key and the proxy, sealed for that proxy (``apptoken.seal``: encrypted
with its key, 60 s). The proxy sets it as its own host-only cookie and passes it on when
it asks for grants; coderd takes it only from that proxy (``proxy_session``), so it is
refused at coderd and at every other proxy. A browser without a session at coderd is
sent to ``/login`` first, and back.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Response, after_this_request, current_app, g, redirect, request
from itsdangerous import BadData, URLSafeTimedSerializer

from appliance.settings import wildcard_suffix

from ..api.router import QueryParam, Router
from ..authz.querier import agent_obj
from ..authz.rbac import Action, NotAuthorized, system
from ..httpapi import APIError
from ..csrf import origin_of
from ..httpmw import authenticate_api_key_id, store, system_store
from ..wsproxy import apptoken
from . import appfilter

SUBDOMAIN = re.compile(r"^(?P<app>[a-z0-9-]+?)--(?P<agent>[a-z0-9-]+?)--(?P<workspace>[a-z0-9-]+?)"
                       r"--(?P<user>[a-z0-9-]+)$", re.I)
REDIRECT_PATH = "/api/v2/applications/auth-redirect"
EXCHANGE_SECONDS = 60.0
EXCHANGE, SESSION, PROXY_SESSION = "exchange", "session", "wsproxy-session"
KEY_NAME = "app_ticket_key"
SALT = "coder-appliance workspace app ticket"
EXTENSION = "app_hosts"

router = Router("applications", "Applications")


def page(status: int, message: str) -> Response:
    """A refusal in plain text (to an upgraded websocket, ``relay.websocket`` sends it as
    the close code 4000+status)."""
    return Response(f"{status}: {message}\n", status=status, mimetype="text/plain")


# -- path apps: Coder's rules ---------------------------------------------------------
def check_path_app(row: dict) -> None:
    """NotAuthorized unless the caller may open this path app (after the sharing level's
    own check in the authorization layer)."""
    if row["sharing_level"] != "owner" and current_app.extensions["coderd"].settings \
            .dangerous_allow_path_app_sharing:
        return
    check_path_owner(row)


def check_path_owner(row: dict) -> None:
    """The workspace's owner; a site owner too with the dangerous flag; nobody else."""
    subject = g.get("subject")
    if subject is not None:
        if str(subject.id) == str(row["owner_id"]):
            return
        if current_app.extensions["coderd"].settings.dangerous_allow_path_app_site_owner_access \
                and store().can(Action.APPLICATION_CONNECT, agent_obj(row)):
            return
    raise NotAuthorized(subject or system("anonymous-app-request"), Action.APPLICATION_CONNECT,
                        agent_obj(row))


# -- subdomain apps: hosts and tickets ------------------------------------------------
def ticket_cookie(scheme: str, wildcard: str) -> str:
    """Coder's name: unique per wildcard, so one deployment's (or proxy's) cookie is not sent
    to another's; over TLS __Host-, so a sibling app host cannot set it for this one (cookie
    tossing). The app never sees it (``appfilter``)."""
    return (("__Host-" if scheme == "https" else "") + appfilter.SUBDOMAIN_COOKIE + "_"
            + hashlib.sha256(wildcard.encode()).hexdigest()[:32])


def subdomain_of(hostname: str, suffix: str, access_host: str) -> str | None:
    """The part before the wildcard's ``suffix``, if ``hostname`` is under it (and is not the
    access URL's own host)."""
    if suffix and hostname.endswith(suffix) and len(hostname) > len(suffix) \
            and hostname != access_host:
        return hostname[:-len(suffix)]
    return None


def set_ticket_cookie(response: Response, name: str, ticket: str, max_age: float,
                      secure: bool) -> Response:
    """A ticket as this host's own cookie: host-only, HttpOnly, SameSite=Lax."""
    response.set_cookie(name, ticket, max_age=int(max_age), path="/", httponly=True,
                        samesite="Lax", secure=secure)
    return response


def location_without_exchange() -> str:
    """This request's path and query without the exchange parameter: where a sign-in link
    sends the browser once its cookie is set (a path, never ``//other.host``)."""
    path, query = appfilter.raw_target(request.environ)
    query = appfilter.upstream_query(query)
    return "/" + path.lstrip("/") + ("?" + query if query else "")


class AppHosts:
    """The app hosts under the wildcard access URL, and the tickets that sign a browser in
    to one of them."""

    def __init__(self, settings):
        self.suffix = settings.app_host_suffix
        self.access_url = settings.effective_access_url
        access = urlsplit(self.access_url)
        self.scheme, self.port, self.access_host = access.scheme, access.port, access.hostname
        self.lifetime = settings.app_ticket_lifetime
        self.cookie = ticket_cookie(self.scheme, settings.wildcard_access_url)
        self._signer: URLSafeTimedSerializer | None = None

    def subdomain(self, hostname: str) -> str | None:
        return subdomain_of(hostname, self.suffix, self.access_host)

    def _serializer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            key = system_store("app-ticket-key").insert_deployment_value(KEY_NAME, secrets.token_urlsafe(32))
            self._signer = URLSafeTimedSerializer(key, salt=SALT)
        return self._signer

    def sign(self, kind: str, key_id: str, audience: str) -> str:
        """``audience``: the app host the ticket is good on, or the workspace proxy's ID."""
        return self._serializer().dumps([kind, key_id, audience])

    def check(self, kind: str, ticket: str, audience: str, max_age: float) -> tuple[str, float] | None:
        """The session key's ID and the ticket's age, if it is a ``kind`` ticket for this
        audience signed less than ``max_age`` seconds ago."""
        try:
            payload, signed = self._serializer().loads(ticket, max_age=max_age, return_timestamp=True)
            signed_kind, key_id, signed_audience = payload
        except (BadData, ValueError, TypeError):
            return None
        if signed_kind != kind or signed_audience != audience or not isinstance(key_id, str):
            return None
        return key_id, time.time() - signed.timestamp()

    def set_cookie(self, response: Response, key_id: str, hostname: str) -> Response:
        return set_ticket_cookie(response, self.cookie, self.sign(SESSION, key_id, hostname),
                                 self.lifetime, self.scheme == "https")


def hosts() -> AppHosts:
    return current_app.extensions[EXTENSION]


def sign_in(hostname: str) -> Response | None:
    """On an app host: turn an exchange ticket into the cookie (the answer), or act as the
    cookie's session when it is good (None: go on to the app)."""
    app_hosts = hosts()
    exchange = request.args.get(appfilter.EXCHANGE_PARAM)
    if exchange is not None:
        checked = app_hosts.check(EXCHANGE, exchange, hostname, min(EXCHANGE_SECONDS, app_hosts.lifetime))
        if checked is None:
            return page(400, "This sign-in link is invalid or has expired: open the app again "
                             f"without its {appfilter.EXCHANGE_PARAM} parameter.")
        return app_hosts.set_cookie(redirect(location_without_exchange(), 303), checked[0], hostname)
    ticket = request.cookies.get(app_hosts.cookie)
    checked = app_hosts.check(SESSION, ticket, hostname, app_hosts.lifetime) if ticket else None
    if checked is not None and authenticate_api_key_id(checked[0]):
        key_id, age = checked
        if age > app_hosts.lifetime / 2:
            after_this_request(lambda response: app_hosts.set_cookie(response, key_id, hostname))
    return None


def redirect_to_sign_in() -> Response:
    return sign_in_redirect(hosts().access_url, hosts().scheme)


def sign_in_redirect(coderd_url: str, scheme: str) -> Response:
    """Send the browser through coderd (at ``coderd_url``) for a ticket to this host (307, as
    Coder), when it navigates; anything else (a form's POST, a script's PUT, a websocket)
    gets a 401. ``scheme``: this host's."""
    if request.method not in ("GET", "HEAD") or request.environ.get("wsgi.websocket") is not None:
        return page(401, "Sign in to this app first: open it in the browser.")
    path, query = appfilter.raw_target(request.environ)
    back = f"{scheme}://{request.host}{path}" + ("?" + query if query else "")
    return redirect(f"{coderd_url.rstrip('/')}{REDIRECT_PATH}?{urlencode({'redirect_uri': back})}",
                    307)


def proxy_session(ticket: str, proxy_id: uuid.UUID) -> dict | None:
    """Act as the session a ``wsproxy-session`` ticket names, if it is one signed for this
    proxy within the ticket lifetime and the session is still good (logout ends it); None
    if not. Used past half its life, it is renewed, as coderd's own app hosts' tickets:
    the answer holds the new ticket and its lifetime (else it is empty)."""
    app_hosts = hosts()
    checked = app_hosts.check(PROXY_SESSION, ticket, str(proxy_id), app_hosts.lifetime)
    if checked is None or not authenticate_api_key_id(checked[0]):
        return None
    key_id, age = checked
    if age <= app_hosts.lifetime / 2:
        return {}
    return {"ticket": app_hosts.sign(PROXY_SESSION, key_id, str(proxy_id)),
            "max_age": app_hosts.lifetime}


@router.route("GET", "/applications/auth-redirect", status=303, auth=False,
              summary="Redirect to a subdomain app or a workspace proxy with a ticket that "
                      "signs the browser in to it",
              query=(QueryParam("redirect_uri", "The URL to return to: an app host under the "
                                                "wildcard access URL, or a workspace proxy's"),))
def auth_redirect():
    uri = request.args.get("redirect_uri", "")
    try:
        parts = urlsplit(uri)
        hostname, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        parts, hostname, port = None, "", None
    if parts is None or parts.scheme not in ("http", "https") or parts.username is not None \
            or parts.password is not None or not hostname:
        raise _invalid_redirect()
    own = _own_app_host(parts.scheme, hostname, port)
    proxy = None if own else _proxy_host(parts.scheme, hostname, port)
    if not own and proxy is None:
        raise _invalid_redirect()
    key_id = g.get("api_key_id")
    if key_id is None:  # Coder's: sign in at coderd, then come back here
        return redirect("/login?" + urlencode({"redirect": request.full_path}), 307)
    if own:
        ticket = hosts().sign(EXCHANGE, key_id, hostname)
    else:
        key = apptoken.proxy_key(apptoken.deployment_key(system_store("auth-redirect-proxy-key")),
                                 proxy["id"])
        ticket = apptoken.seal(key, {"host": hostname, "max_age": hosts().lifetime,
                                     "ticket": hosts().sign(PROXY_SESSION, key_id, str(proxy["id"]))})
    query = "&".join(p for p in (parts.query, urlencode({appfilter.EXCHANGE_PARAM: ticket})) if p)
    netloc = hostname + (f":{port}" if port else "")
    return redirect(urlunsplit((parts.scheme, netloc, "/" + parts.path.lstrip("/"), query, "")), 303)


def _invalid_redirect() -> APIError:
    return APIError(400, "Invalid redirect_uri.", "The redirect_uri query parameter must be an "
                    "app URL under the wildcard access URL, on the access URL's port, or a "
                    "registered workspace proxy's URL or app URL.")


def _own_app_host(scheme: str, hostname: str, port: int | None) -> bool:
    sub = hosts().subdomain(hostname)
    return sub is not None and SUBDOMAIN.match(sub) is not None \
        and (scheme, port) == (hosts().scheme, hosts().port)


def _proxy_host(scheme: str, hostname: str, port: int | None) -> dict | None:
    """The registered workspace proxy serving this origin: its access URL's, or an app host
    under its wildcard on its access URL's scheme and port."""
    origin = origin_of(f"{scheme}://{hostname}" + (f":{port}" if port else ""))
    for row in system_store("auth-redirect-proxies").get_workspace_proxies():
        if not row["url"]:
            continue
        home = urlsplit(row["url"])
        if origin == origin_of(row["url"]):
            return row
        sub = subdomain_of(hostname, wildcard_suffix(row["wildcard_hostname"]), home.hostname)
        if sub is not None and SUBDOMAIN.match(sub) and origin == origin_of(
                f"{home.scheme}://{hostname}" + (f":{home.port}" if home.port else "")):
            return row
    return None


def init_app(app) -> None:
    app.extensions[EXTENSION] = AppHosts(app.extensions["coderd"].settings)
    app.register_blueprint(router.blueprint, url_prefix="/api/v2")
