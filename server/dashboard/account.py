"""The viewer's own settings: Coder's /settings/account (username and name),
/settings/security (password) and /settings/tokens (list, create, revoke).

Each is the API's own function on ``users/me`` (``change_profile``, ``change_password``,
``new_token``, ``user_tokens``, ``revoke_key``): the same validation, with its message at
the field, and the same audit. A page only ever names the viewer (``me``): another user's
token is not theirs to list or revoke (404, as the API).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, redirect, request, url_for

from appliance.digits import is_number
from appliance.sdk import types

from ..api import convert
from ..api.apikeys import NANOSECOND, new_token, revoke_key, user_tokens
from ..api.users import change_password, change_profile, set_session_cookie, sign_in, user_param
from ..httpapi import APIError, decode
from .forms import field_errors, read_form
from .pages import blueprint, page, require_nav, signed_in

# Coder's token lifetimes, in days; those beyond the deployment's maximum are not offered.
TOKEN_LIFETIMES = (7, 30, 60, 90)
PASSWORDS_DIFFER = "Passwords must match."


def _settings_page(template: str, status: int = 200, **values):
    require_nav("dashboard.account")
    return page(template, status, account=convert.user(user_param("me")), **values)


@blueprint.get("/settings/account")
@signed_in
def account():
    return _settings_page("account.html", form={}, errors={}, error="",
                          saved=request.args.get("saved") == "1")


@blueprint.post("/settings/account")
@signed_in
def account_post():
    form = read_form()
    try:
        change_profile(user_param("me"), decode(types.UpdateUserProfileRequest, form))
    except APIError as exc:
        errors, message = field_errors(exc)
        return _settings_page("account.html", exc.status, form=form, errors=errors, error=message,
                              saved=False)
    return redirect(url_for("dashboard.account", saved=1), code=303)


@blueprint.get("/settings/security")
@signed_in
def security():
    return _settings_page("security.html", errors={}, error="",
                          saved=request.args.get("saved") == "1")


@blueprint.post("/settings/security")
@signed_in
def security_post():
    form = read_form()
    me = user_param("me")
    try:
        req = decode(types.UpdateUserPasswordRequest, {k: form.get(k, "") for k in
                                                       ("password", "old_password")})
        if form.get("confirm_password") != req.password:
            raise APIError(400, PASSWORDS_DIFFER, validations=[
                types.ValidationError("confirm_password", PASSWORDS_DIFFER)])
        change_password(me, req)
    except APIError as exc:
        errors, message = field_errors(exc)
        return _settings_page("security.html", exc.status, errors=errors, error=message,
                              saved=False)
    # The change ended this user's sessions, this one too: a new one, with the new password.
    token, lifetime = sign_in(me.username, req.password)
    return set_session_cookie(redirect(url_for("dashboard.security", saved=1), code=303),
                              token, lifetime)


def _lifetimes() -> list[int]:
    longest = current_app.extensions["coderd"].settings.max_token_lifetime
    return [days for days in TOKEN_LIFETIMES if days * 86400 <= longest]


@blueprint.get("/settings/tokens")
@signed_in
def tokens():
    return _settings_page("tokens.html", tokens=user_tokens(user_param("me")),
                          now=dt.datetime.now(dt.timezone.utc))


@blueprint.get("/settings/tokens/new")
@signed_in
def new_token_page():
    return _settings_page("token_new.html", form={}, errors={}, error="", token="",
                          lifetimes=_lifetimes())


@blueprint.post("/settings/tokens/new")
@signed_in
def new_token_post():
    form = read_form()
    days = form.get("lifetime_days", "")
    try:
        if not is_number(days):
            raise APIError(400, "Choose a lifetime.", validations=[
                types.ValidationError("lifetime_days", "must be a number of days")])
        req = decode(types.CreateTokenRequest, {"token_name": form.get("token_name", ""),
                                                "lifetime": int(days) * 86400 * NANOSECOND})
        token = new_token(user_param("me"), req)
    except APIError as exc:
        errors, message = field_errors(exc)
        if "lifetime" in errors:  # the API's field, the form's days
            errors["lifetime_days"] = errors.pop("lifetime")
        return _settings_page("token_new.html", exc.status, form=form, errors=errors,
                              error=message, token="", lifetimes=_lifetimes())
    return _settings_page("token_new.html", 201, form=form, errors={}, error="", token=token,
                          lifetimes=_lifetimes())


@blueprint.post("/settings/tokens/<keyid>/delete")
@signed_in
def revoke_token(keyid: str):
    read_form()
    require_nav("dashboard.account")
    revoke_key("me", keyid)
    return redirect(url_for("dashboard.tokens"), code=303)
