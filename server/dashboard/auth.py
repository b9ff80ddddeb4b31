"""Log in, log out, and the first user's setup: Coder's /login and /setup pages, through the
API's own code (``server.api.users``: the same checks, rate limit, audit and cookie)."""
from __future__ import annotations

from flask import g, redirect, request, url_for

from appliance.sdk import types

from ..api.users import (check_login_rate, create_first_user, first_user_exists, set_session_cookie,
                         sign_in, sign_out)
from ..httpapi import APIError, decode
from .forms import field_errors, read_form
from .pages import blueprint, page, same_origin_path, signed_in


def _signed_in_to(target: str, email: str, password: str):
    token, lifetime = sign_in(email, password)
    return set_session_cookie(redirect(target, code=303), token, lifetime)


@blueprint.get("/login")
def login():
    target = same_origin_path(request.args.get("redirect"))
    if g.get("subject") is not None:
        return redirect(target, code=303)
    if not first_user_exists():
        return redirect(url_for("dashboard.setup"), code=303)
    return page("login.html", target=target)


@blueprint.post("/login")
def login_post():
    check_login_rate()
    form = read_form()
    target = same_origin_path(form.get("redirect"))
    try:
        return _signed_in_to(target, form.get("email", ""), form.get("password", ""))
    except APIError as exc:
        return page("login.html", exc.status, target=target, email=form.get("email", ""),
                    error=exc.message)


@blueprint.post("/logout")
@signed_in
def logout():
    read_form()
    return sign_out(redirect(url_for("dashboard.login"), code=303))


@blueprint.get("/setup")
def setup():
    if first_user_exists():
        return redirect(url_for("dashboard.login"), code=303)
    return page("setup.html", form={}, errors={})


@blueprint.post("/setup")
def setup_post():
    if first_user_exists():
        return redirect(url_for("dashboard.login"), code=303)
    form = read_form()
    try:
        req = decode(types.CreateFirstUserRequest, form)
        create_first_user(req)
    except APIError as exc:
        errors, message = field_errors(exc)
        form.pop("password", None)  # never sent back
        return page("setup.html", exc.status, form=form, errors=errors, error=message)
    return _signed_in_to(url_for("dashboard.workspaces"), req.email, req.password)
