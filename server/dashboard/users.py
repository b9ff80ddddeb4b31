"""The users pages: Coder's /deployment/users (list, search, suspend and activate, roles)
and /deployment/users/create.

Everything goes through the API's own functions (``server.api.users``: ``search_users``,
``new_user``, ``set_user_status``, ``set_user_roles``), so the page refuses what the API
refuses (oneself suspended, one's own roles changed, owner given by a user admin, an
owner changed by anyone but an owner) with the API's message, shown at the row or field.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import redirect, request, url_for

from appliance.sdk import types

from ..api.users import new_user, search_users, set_user_roles, set_user_status, user_param
from ..authz.rbac import ASSIGNABLE_ROLES, ROLES, Action, Object, Resource
from ..httpapi import APIError, decode, not_found, query_int
from ..httpmw import store
from .forms import field_errors, read_form
from .pages import blueprint, page, require_nav, signed_in

PAGE_SIZE = 25
ROLE_CHOICES = [(name, ROLES[name][0]) for name in ASSIGNABLE_ROLES]
STATUS_ACTIONS = {"suspend": "suspended", "activate": "active"}


def _list(status: int = 200, row_error: tuple[str, str] = ("", "")):
    """The list page; ``row_error``: a user's id and the API's refusal of a change to it."""
    q = request.args.get("q", "")
    number = query_int("page", 1, 1)
    try:
        found, error = search_users(q, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE), ""
    except APIError as exc:
        errors, message = field_errors(exc)
        found, error, status = types.GetUsersResponse(users=[], count=0), errors.get("q", message), \
            exc.status
    s = store()
    return page("users.html", status, q=q, page_number=number, page_size=PAGE_SIZE,
                users=found.users, count=found.count, error=error, row_error=row_error,
                roles=ROLE_CHOICES, now=dt.datetime.now(dt.timezone.utc),
                can_create=s.can(Action.CREATE, Object(Resource.USER)),
                can_update=s.can(Action.UPDATE, Object(Resource.USER)))


def _back_to_list():
    q = request.args.get("q", "")
    return redirect(url_for("dashboard.users") + ("?" + urlencode({"q": q}) if q else ""), code=303)


@blueprint.get("/deployment/users")
@signed_in
def users():
    require_nav("dashboard.users")
    return _list()


@blueprint.post("/deployment/users/<user>/<action>")
@signed_in
def user_change(user: str, action: str):
    form = read_form()
    require_nav("dashboard.users")
    if action != "roles" and action not in STATUS_ACTIONS:
        raise not_found("Page")
    row = user_param(user)
    try:
        if action == "roles":
            set_user_roles(row, [name for name, _ in ROLE_CHOICES if form.get("role-" + name)])
        else:
            set_user_status(row, STATUS_ACTIONS[action])
    except APIError as exc:
        return _list(exc.status, (str(row.id), exc.message))
    return _back_to_list()


@blueprint.get("/deployment/users/create")
@signed_in
def create_user():
    require_nav("dashboard.users")
    return page("user_create.html", form={}, errors={}, error="")


@blueprint.post("/deployment/users/create")
@signed_in
def create_user_post():
    form = read_form()
    require_nav("dashboard.users")
    try:
        new_user(decode(types.CreateUserRequest, form))
    except APIError as exc:
        errors, message = field_errors(exc)
        form.pop("password", None)  # never sent back
        return page("user_create.html", exc.status, form=form, errors=errors, error=message)
    return redirect(url_for("dashboard.users"), code=303)
