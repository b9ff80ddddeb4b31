"""Cross-site requests: what a page of another origin can make a browser send to coderd.

Browsers attach the session cookie (``coder_session_token``, ``__Host-`` over TLS) (``SameSite=Lax``) to every request to
coderd from a page of the same *site*, and a member's subdomain app
(``*.CODER_WILDCARD_ACCESS_URL``) is the same site as coderd, though not the same origin.
Such a page can POST a ``text/plain`` form, or open a websocket, with its visitor's
session. So:

- an ``/api/`` request that carries the cookie and no ``Coder-Session-Token`` header, and
  either changes state (any method but GET, HEAD and OPTIONS) or upgrades the connection
  (websocket, ``Upgrade: tcp``), must come from coderd's own origin: its ``Origin``
  header, or its ``Referer`` when it has no ``Origin``, names the access URL's origin.
  Anything else is a 403 with Coder's error body. App hosts (under the wildcard access
  URL) are the app proxy's: their ``/api/`` is the app's.
- Requests with the ``Coder-Session-Token`` header pass: a page cannot set that header on
  a request to another origin (coderd grants no CORS), so they come from programs (the
  CLI, the SDK, Coder's clients), as Coder's CSRF middleware also lets them.

Coder puts a nosurf token in a second cookie and wants it back in ``X-CSRF-TOKEN``;
every browser that can run the dashboard sends ``Origin`` on the requests checked here,
which spares the token and its round trip. A websocket is checked before gevent-websocket
answers 101 (``upgradecheck.Handler`` asks ``upgrade_refusal``), as Coder's websocket
library refuses a foreign ``Origin`` before it accepts.
"""
from __future__ import annotations

import inspect
import posixpath
import re
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.http import parse_cookie

from appliance.sdk import model, types
from appliance.settings import Settings

from .httpapi import APIError
from .httpmw import HOST_SESSION_COOKIE, SESSION_COOKIE, SESSION_HEADER

EXTENSION = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HEADER_KEY = "HTTP_" + SESSION_HEADER.upper().replace("-", "_")
MESSAGE = "Cross-origin request refused."
_SLASHES = re.compile(r"/{2,}")


def routed_path(path: str) -> str:
    """``path`` (PATH_INFO, already percent-decoded by the server) as routing reads it.

    Werkzeug routes ``//api/v2/users`` to ``/api/v2/users`` and redirects
    ``/api//v2/users`` there; a proxy or browser may resolve ``.`` and ``..``. So the guard
    decides on runs of slashes collapsed and dot segments resolved: no spelling of an API
    path gets past it."""
    return posixpath.normpath(_SLASHES.sub("/", path) or "/")


def is_api_path(path: str) -> bool:
    routed = routed_path(path)
    return routed == "/api" or routed.startswith("/api/")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` as browsers write it (default ports left out), or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


class OriginGuard:
    """The rule above, for one deployment's access URL and wildcard app hosts; a workspace
    proxy's, with its own cookie in place of coderd's."""

    def __init__(self, access_url: str, app_suffix: str = "",
                 cookies: tuple[str, ...] = (SESSION_COOKIE, HOST_SESSION_COOKIE)):
        self.origin = origin_of(access_url)
        self.host = (urlsplit(access_url).hostname or "").lower()
        self.app_suffix = app_suffix  # ".apps.example.com": Settings.app_host_suffix
        self.cookies = cookies

    def _is_app_host(self, environ: dict) -> bool:
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
        return bool(self.app_suffix) and host != self.host and host.endswith(self.app_suffix)

    def refusal(self, environ: dict) -> str | None:
        """Why this request may not be served (the error's detail), or None."""
        if not is_api_path(environ.get("PATH_INFO", "")):
            return None
        upgrade = (environ.get("HTTP_UPGRADE")
                   and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())
        if environ.get("REQUEST_METHOD") in SAFE_METHODS and not upgrade:
            return None
        if environ.get(_HEADER_KEY) or self._is_app_host(environ):
            return None
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        if not any(cookies.get(name) for name in self.cookies):
            return None
        came_from = self.foreign_origin(environ)
        if came_from is None:
            return None
        return (f"A request made with the {self.cookies[0]} cookie must come from a page of "
                f"{self.origin} (its Origin or Referer); this one came from "
                f"{came_from}. Programs send the {SESSION_HEADER} header instead.")

    def foreign_origin(self, environ: dict) -> str | None:
        """None if the request came from a page of coderd's origin (its ``Origin``, or its
        ``Referer`` when it has no ``Origin``); else where it came from, as far as known."""
        sent = environ.get("HTTP_ORIGIN")
        came_from = origin_of(sent if sent is not None else environ.get("HTTP_REFERER", ""))
        if came_from is not None and came_from == self.origin:
            return None
        return came_from or sent or "an unknown origin"


def upgrade_refusal(application, environ: dict) -> bytes | None:
    """For the connection handler, before it answers a websocket with 101: the 403's JSON
    body if the app's guard refuses the request. ``application`` is the WSGI callable the
    server runs; wrappers of coderd's Flask app name it in ``__wrapped__``."""
    app = inspect.unwrap(application)
    guard = getattr(app, "extensions", {}).get(EXTENSION)
    detail = guard.refusal(environ) if guard is not None else None
    return None if detail is None else model.dumps(types.Response(message=MESSAGE, detail=detail))


def init_app(app: Flask, settings: Settings) -> None:
    guard_app(app, OriginGuard(settings.effective_access_url, settings.app_host_suffix))


def guard_app(app: Flask, guard: OriginGuard) -> None:
    """Refuse what ``guard`` refuses, before any view (coderd; a workspace proxy, for its
    own origin) and before a websocket's 101 (``upgrade_refusal``)."""
    app.extensions[EXTENSION] = guard

    @app.before_request
    def _refuse_cross_origin():
        detail = guard.refusal(request.environ)
        if detail is not None:
            raise APIError(403, MESSAGE, detail)
