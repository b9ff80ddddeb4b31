"""Route declarations that also describe themselves for the OpenAPI document.

Each API route is declared once with its summary, request and response
models and whether it needs a session; the OpenAPI document is generated from
the same declarations, so it cannot drift from the code (a test checks every
Flask rule under /api/v2 appears in it).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, g

from .. import upgradecheck
from ..httpapi import APIError

ROUTES: list["RouteSpec"] = []


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    type: str = "string"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # Flask rule under /api/v2
    summary: str
    tag: str
    request: type | None = None
    response: Any = None
    status: int = 200
    auth: bool = True
    query: tuple[QueryParam, ...] = ()
    websocket: bool = False
    tcp_upgrade: bool = False
    content_type: str = "application/json"
    checks_first: bool = False

    @property
    def openapi_path(self) -> str:
        return "/api/v2" + re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", self.path)


@dataclass
class Router:
    """A Flask blueprint whose routes are recorded for the OpenAPI document."""
    name: str
    tag: str
    specs: list[RouteSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blueprint = Blueprint(self.name, __name__)

    def route(self, method: str, path: str, *, summary: str, request: type | None = None,
              response: Any = None, status: int = 200, auth: bool = True,
              query: tuple[QueryParam, ...] = (), websocket: bool = False,
              tcp_upgrade: bool = False, content_type: str = "application/json",
              checks_first: bool = False) -> Callable:
        """``tcp_upgrade``: a websocket route that also takes ``Upgrade: tcp`` (Werkzeug
        matches a websocket rule only for websocket requests, so it gets a second rule).
        ``checks_first``: a websocket route whose view runs once before the 101 and may
        refuse it with an HTTP answer (``server.upgradecheck``)."""
        spec = RouteSpec(method, path, summary, self.tag, request, response, status, auth, query,
                         websocket, tcp_upgrade, content_type, checks_first)

        def decorator(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def view(*args: Any, **kwargs: Any) -> Any:
                if spec.auth and g.get("subject") is None:
                    raise APIError(401, g.get("auth_error") or "You must be authenticated. "
                                   "Use the Coder-Session-Token header.",
                                   "Try logging in using 'coder login'.")
                return fn(*args, **kwargs)

            endpoint = f"{fn.__name__}_{method.lower()}"
            if checks_first:
                upgradecheck.CHECKED_FIRST.add(f"{self.name}.{endpoint}")
            options = {"websocket": True} if websocket else {}
            self.blueprint.add_url_rule(path, endpoint=endpoint, view_func=view, methods=[method],
                                        **options)
            if tcp_upgrade:
                self.blueprint.add_url_rule(path, endpoint=endpoint + "_tcp", view_func=view,
                                            methods=[method])
            self.specs.append(spec)
            ROUTES.append(spec)
            return view
        return decorator
