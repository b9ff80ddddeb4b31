"""What every dashboard page shares: the blueprint, its security headers, the layout's
navigation (decided by the authorization layer), sign-in redirects and error pages.

A page is a view that returns ``page(template, status, **values)``; ``templates/base.html``
is the layout (a later page, such as ``/cli-auth``, extends it and fills ``content``).
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..authz.rbac import Action, NotAuthorized, Object, Resource
from ..httpapi import APIError
from ..httpmw import store
from .assets import EXTENSION as ASSETS
from .forms import csrf_token

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
HOME = "/workspaces"

# Every dashboard response: resources only from coderd itself, nothing inline, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavItem:
    """A page in the navigation, shown to whoever may do ``action`` on ``resource`` (their
    own, for resources a user owns; in one of their organizations, for an organization's)."""
    label: str
    endpoint: str
    action: Action
    resource: Resource


NAV = (
    NavItem("Workspaces", "dashboard.workspaces", Action.READ, Resource.WORKSPACE),
    NavItem("Templates", "dashboard.templates", Action.READ, Resource.TEMPLATE),
)


def nav() -> list[NavItem]:
    subject = g.get("subject")
    if subject is None:
        return []
    s = store()
    return [item for item in NAV
            if any(s.can(item.action, Object(item.resource, owner_id=subject.id, org_id=org))
                   for org in (None, *subject.org_ids))]


def page(template: str, status: int = 200, /, **values):
    """``template`` rendered in the layout, with the viewer's navigation."""
    html = render_template(template, nav=nav(), active=request.endpoint,
                           me=g.get("subject"), csrf_token=csrf_token, **values)
    return current_app.response_class(html, status=status, mimetype="text/html")


def same_origin_path(target: str | None, default: str = HOME) -> str:
    """``target`` if it is a path on this origin (``/workspaces?q=x``), else ``default``:
    no scheme, no host, no ``//`` or ``/\\`` (which browsers read as another host), no
    control characters or spaces (which they strip before reading it)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) \
            or "\\" in target or any(ord(c) <= 0x20 or ord(c) == 0x7f for c in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def login_url(target: str) -> str:
    return url_for("dashboard.login") + "?" + urlencode({"redirect": target})


def signed_in(view):
    """The view needs a session: without one, the login page, which comes back here. An
    htmx request (a live part of a page) asks its page to reload, which then does so."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("subject") is None:
            if request.headers.get("HX-Request"):
                resp = current_app.response_class("", status=200)
                resp.headers["HX-Refresh"] = "true"
                return resp
            return redirect(login_url(request.full_path.rstrip("?")), code=303)
        return view(*args, **kwargs)
    return wrapper


@blueprint.after_request
def _security_headers(resp):
    resp.headers.update(SECURITY_HEADERS)
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


@blueprint.get("/static/<path:hashed>")
def static(hashed: str):
    return current_app.extensions[ASSETS].serve(hashed)


@blueprint.get("/")
def home():
    return redirect(HOME if g.get("subject") is not None else url_for("dashboard.login"), code=303)


@blueprint.errorhandler(APIError)
def _error_page(exc: APIError):
    return page("error.html", exc.status, message=exc.message, detail=exc.detail)


@blueprint.errorhandler(NotAuthorized)
def _not_authorized(exc: NotAuthorized):
    return page("error.html", 404, message="Not found, or you may not see it.", detail="")


@blueprint.app_template_filter("ago")
def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """``3 minutes ago``, as Coder's tables say when something last happened."""
    if when is None or when.year <= 1:
        return "Never"
    seconds = int((now - when).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "Just now"


@blueprint.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """``1m 5s``, as Coder's templates list shows a build time; ``Unknown`` without one."""
    if seconds is None:
        return "Unknown"
    whole = round(seconds)
    return f"{whole // 60}m {whole % 60}s" if whole >= 60 else f"{whole}s"
