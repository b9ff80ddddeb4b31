"""Refusing a websocket with an HTTP answer before its 101, as Coder does, for the routes
that ask to (``route(..., checks_first=True)``).

gevent-websocket answers 101 before the WSGI app runs, which is why the relay's
refusals travel as close codes (``server.relay.websocket.refuse``). For a route
declared ``checks_first``, the connection handler first runs the request once as a
plain HTTP request marked ``PREFLIGHT_KEY`` (``refusal``): its view does its
lookups and authorization up to ``websocket()``, which ends the run as ready; an
error on the way (401, 404, ...) is the answer, and no upgrade happens. Every other
request marked so is ready at once, before any hook of the app runs.
"""
from __future__ import annotations

import inspect

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import csrf
from .adapters import gevent_pywsgi
from .httpapi import APIError

PREFLIGHT_KEY = "appliance.preflight"
READY_HEADER = "X-Appliance-Upgrade-Ready"
CHECKED_FIRST: set[str] = set()  # Flask endpoints whose views are run before the upgrade


class Ready(Exception):
    """The view reached its websocket: nothing refuses the upgrade."""


def websocket():
    """The request's websocket, for a view: the end of its preflight run."""
    if request.environ.get(PREFLIGHT_KEY):
        raise Ready()
    ws = request.environ.get("wsgi.websocket")
    if ws is None:
        raise APIError(400, "Expected a websocket upgrade.")
    return ws


def init_app(app: Flask) -> None:
    def _ready_unless_checked_first():
        if request.environ.get(PREFLIGHT_KEY) and request.endpoint not in CHECKED_FIRST:
            raise Ready()

    # First of the app's hooks: a route that does not check first runs no hook twice.
    app.before_request_funcs.setdefault(None, []).insert(0, _ready_unless_checked_first)
    app.register_error_handler(Ready, lambda _: Response(status=204, headers={READY_HEADER: "1"}))


class Handler(gevent_pywsgi.Handler):
    """The handler of every request coderd and workspace proxies serve, which refuses a
    websocket before its 101 as the app would: one that a page of another origin opens
    with the session cookie (``server.csrf``), and one its route refuses (``refusal``)."""

    def upgrade_refusal(self) -> tuple[str, list, bytes] | None:
        body = csrf.upgrade_refusal(self.application, self.environ)
        if body is not None:
            return "403 Forbidden", [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))], body
        return refusal(self.application, self.environ)


def refusal(application, environ: dict) -> tuple[str, list, bytes] | None:
    """For the connection handler, before it answers a websocket with 101: (status,
    headers, body) of the app's refusal, or None to upgrade."""
    if not _may_check_first(inspect.unwrap(application), environ):
        return None
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=headers)
        return lambda data: None

    result = application({**environ, PREFLIGHT_KEY: True}, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    if any(name == READY_HEADER for name, _ in answer["headers"]):
        return None
    return answer["status"], answer["headers"], body


def _may_check_first(app, environ: dict) -> bool:
    """False when the request is for a route that does not check first: most websockets
    (the relay, logs, the terminal) then upgrade without running the app twice. A path
    the map does not match as it stands (the app's envelope mends some) is run."""
    url_map = getattr(app, "url_map", None)
    if url_map is None:
        return True
    try:
        endpoint, _ = url_map.bind_to_environ(environ).match()
    except HTTPException:  # not found, a redirect, another method
        return True
    return endpoint in CHECKED_FIRST
