"""The coderd Flask application factory."""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
from flask import Flask, redirect, request

from appliance.settings import Settings

from . import binaries, csrf, dashboard, httpapi, httpmw, latencycheck, upgradecheck
from .authcache import AuthCache
from .authz.querier import AuthzQuerier
from .authz.rbac import system
from .db import migrate
from .db.pool import Pool, connect
from .db.queries import Queries
from .pubsub import PubSub
from .realip import PEER_KEY, RealIP

log = logging.getLogger(__name__)


@dataclass
class Coderd:
    """What every request can reach: the settings, the pool, per-process state."""
    settings: Settings
    pool: Pool
    login_limiter: httpmw.LoginRateLimiter
    pubsub: PubSub | None
    auth_cache: AuthCache
    # How many requests may hold a database connection before login (httpmw.store).
    unauthenticated: threading.BoundedSemaphore
    # Set at shutdown: a long poll then answers at once, rather than be cut off with a 500.
    stopping: threading.Event = field(default_factory=threading.Event)
    _waiting: set = field(default_factory=set)

    def wait_for(self, channel: str, timeout: float) -> None:
        """Block this greenlet until ``channel`` is notified (without pubsub, only the
        timeout counts), ``timeout`` passes, or coderd begins to stop."""
        from gevent.event import Event

        woken = Event()
        unsubscribe = None
        if self.pubsub is not None and self.pubsub.healthy.is_set():
            unsubscribe = self.pubsub.subscribe(channel, lambda payload: woken.set())
        self._waiting.add(woken)
        try:
            if not self.stopping.is_set():
                woken.wait(timeout)
        finally:
            self._waiting.discard(woken)
            if unsubscribe is not None:
                unsubscribe()

    def stop_waiting(self) -> None:
        """Shutdown: end every wait now and every later one at once."""
        self.stopping.set()
        for woken in list(self._waiting):
            woken.set()


def prepare_database(dsn: str) -> None:
    """Migrate to the newest schema and create what a deployment always has."""
    migrate.up(dsn)
    conn = connect(dsn, "coderd-prepare")
    try:
        s = AuthzQuerier(Queries(conn), system("prepare-database"))
        s.insert_deployment_value("deployment_id", str(uuid.uuid4()))
        if s.get_default_organization() is None:
            try:
                s.insert_organization(name="coder", display_name="Coder", is_default=True,
                                      description="The default organization.")
            except psycopg2.errors.UniqueViolation:
                pass  # another coderd process made it first
    finally:
        conn.close()


class _Envelope:
    """What every request gets around the Flask app: an ID (``httpapi.request_id()``,
    and the ``X-Request-Id`` header), the ``X-Coder-Build-Version`` header, Coder's
    router's rule that ``/api/v2/users/`` answers as ``/api/v2/users``, and, behind a
    trusted proxy, its client's address as ``REMOTE_ADDR`` (``server.realip``).

    Here rather than in Flask's hooks: setting the two headers on werkzeug's response
    object, and the hook calls, cost a fifth of what a ``/healthz`` costs."""

    def __init__(self, wsgi_app, real_ip: RealIP):
        self.wsgi_app = wsgi_app
        self.real_ip = real_ip if real_ip else None

    def __call__(self, environ, start_response):
        if self.real_ip is not None:
            peer = environ[PEER_KEY] = environ.get("REMOTE_ADDR", "")
            environ["REMOTE_ADDR"] = self.real_ip.client(peer, environ)
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/") and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/")
        request_id = environ[httpapi.REQUEST_ID_KEY] = uuid.uuid4()

        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Coder-Build-Version", "appliance"),
                                           ("X-Request-Id", str(request_id))], exc_info)

        return self.wsgi_app(environ, start)


def create_app(settings: Settings, pool: Pool, pubsub: PubSub | None = None) -> Flask:
    """The WSGI app. Without ``pubsub`` (tools, unit tests) nothing is cached."""
    app = Flask("coderd", static_folder=None)
    app.config["MAX_BODY"] = settings.max_body_bytes
    # Bodies are read by httpapi.read_body, with their own limits (template uploads), or
    # streamed (the app proxy); this bounds whatever would read one through Werkzeug.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["coderd"] = Coderd(settings, pool, httpmw.LoginRateLimiter(settings.login_rate_limit),
                                      pubsub, AuthCache(pubsub),
                                      threading.BoundedSemaphore(max(1, pool.size // 2)))

    if settings.redirect_to_access_url and settings.access_url:
        access = urlsplit(settings.access_url)
        app_suffix = settings.app_host_suffix

        @app.before_request
        def _redirect_to_access_url():
            # As Coder: subdomain apps live on other hosts by design, and load balancers
            # probe /healthz by address.
            hostname = request.host.rsplit(":", 1)[0].lower()
            if request.host != access.netloc and request.path != "/healthz" \
                    and not (app_suffix and hostname.endswith(app_suffix)):
                target = f"{access.scheme}://{access.netloc}{request.full_path.rstrip('?')}"
                return redirect(target, code=307)

    httpapi.register_error_handlers(app)  # its NUL check first: before a token is looked up
    csrf.init_app(app, settings)  # before authentication: a refused request costs no query
    httpmw.init_app(app)
    upgradecheck.init_app(app)  # its hook goes first of all

    from .api import ROUTERS

    for router in ROUTERS:
        app.register_blueprint(router.blueprint, url_prefix="/api/v2")

    from . import relay

    relay.init_app(app)  # the agents' connections, and workspace apps at /@user/...
    binaries.init_app(app)
    dashboard.init_app(app)

    if settings.provider_mirror_serve:
        from . import mirror

        mirror.init_app(app, settings.provider_mirror_path)

    latencycheck.init_app(app)

    @app.get("/healthz")
    def healthz():
        return app.response_class("OK", mimetype="text/plain")

    app.wsgi_app = _Envelope(app.wsgi_app, RealIP(settings.proxy_trusted_headers,
                                                  settings.proxy_trusted_origins))
    return app
