"""What every dashboard page shares: the blueprint, its security headers, the layout's
navigation (decided by the authorization layer), sign-in redirects and error pages.

A page is a view that returns ``page(template, status, **values)``; ``templates/base.html``
is the layout, which every page (``/cli-auth`` too) extends, filling ``content``.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from appliance.sdk import model

from ..authz.rbac import Action, NotAuthorized, Object, Resource, allowed
from ..httpapi import DATABASE_UNAVAILABLE, APIError, database_unavailable
from .assets import EXTENSION as ASSETS
from .forms import csrf_token
from .regions import RegionChoice, menu

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
HOME = "/workspaces"

# Every dashboard response: resources only from coderd itself (connections also to the
# healthy regions' origins, for their latency checks: ``regions``), nothing inline, no framing.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "font-src 'self'; connect-src 'self'{regions}; form-action 'self'; base-uri 'none'; "
          "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": POLICY.format(regions=""),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavItem:
    """A page in the navigation, shown to whoever may do ``action`` on ``resource``: their
    own (for resources a user owns), in one of their organizations (``in_organization``,
    for an organization's, such as templates), or, ``site_wide``, everyone's."""
    label: str
    endpoint: str
    action: Action
    resource: Resource
    site_wide: bool = False
    in_organization: bool = False
    section: str = ""  # the paths it stands for (its own URL's, if not said)

    def allowed(self) -> bool:
        """Decided by the subject's roles alone, with no database connection: the page that
        says the database is unavailable shows it too."""
        subject = g.get("subject")
        if subject is None:
            return False
        owner = None if self.site_wide else subject.id
        orgs = subject.org_ids if self.in_organization else (None,)
        return any(allowed(subject, self.action, Object(self.resource, owner_id=owner, org_id=org))
                   for org in orgs)


NAV = (
    NavItem("Workspaces", "dashboard.workspaces", Action.READ, Resource.WORKSPACE),
    NavItem("Templates", "dashboard.templates", Action.READ, Resource.TEMPLATE,
            in_organization=True),
    NavItem("Users", "dashboard.users", Action.READ, Resource.USER, site_wide=True),
    NavItem("Audit", "dashboard.audit", Action.READ, Resource.AUDIT_LOG, site_wide=True),
    NavItem("Deployment", "dashboard.deployment_home", Action.READ, Resource.DEPLOYMENT_CONFIG,
            site_wide=True),
    NavItem("Account", "dashboard.account", Action.READ_PERSONAL, Resource.USER,
            section="/settings"),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


def nav() -> list[NavLink]:
    """The viewer's navigation; the current page's item is the one whose section holds the
    path most closely (/deployment/users: Users, not Deployment)."""
    items = [item for item in NAV if item.allowed()]
    sections = [item.section or url_for(item.endpoint) for item in items]
    path = request.path
    current = max((s for s in sections if path == s or path.startswith(s + "/")), key=len,
                  default=None)
    return [NavLink(item.label, url_for(item.endpoint), section == current)
            for item, section in zip(items, sections)]


def require_nav(endpoint: str) -> None:
    """A page of the navigation opened by someone it is not shown to: the 404 page, as the
    API's answer to what one may not see."""
    item = next(i for i in NAV if i.endpoint == endpoint)
    if not item.allowed():
        raise NotAuthorized(g.subject, item.action, Object(item.resource))


def page(template: str, status: int = 200, /, **values):
    """``template`` rendered in the layout, with the viewer's navigation."""
    me = g.get("subject")
    html = render_template(template, nav=nav(), me=me, csrf_token=csrf_token,
                           regions=_region_menu() if me is not None else [], **values)
    return current_app.response_class(html, status=status, mimetype="text/html")


def _region_menu() -> list[RegionChoice]:
    """The menu; none on the page that says the database is unavailable (it lists them)."""
    try:
        return menu()
    except DATABASE_UNAVAILABLE:
        return []


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
    if origins := g.get("region_origins"):  # set by regions.menu, for this page
        resp.headers["Content-Security-Policy"] = POLICY.format(regions="".join(
            " " + o for o in origins))
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


def _database_unavailable_page(exc: Exception):
    return _error_page(database_unavailable(exc))


for _kind in DATABASE_UNAVAILABLE:
    blueprint.register_error_handler(_kind, _database_unavailable_page)


@blueprint.app_template_filter("ago")
def ago(when: dt.datetime | str | None, now: dt.datetime) -> str:
    """``3 minutes ago``, as Coder's tables say when something last happened (a time as a
    row or as its JSON text: a page of users carries the latter)."""
    if isinstance(when, str):
        when = model.parse_time(when)
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
