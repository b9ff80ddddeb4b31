"""The dashboard's forms: a CSRF token per session, and bodies read as the API reads them.

A page of another site can make a browser POST a form to coderd with its cookies. So every
dashboard form carries ``csrf_token``, an HMAC keyed with a secret only coderd and this
browser hold: the session token (HttpOnly: no page can read it), or, before login (the
login and setup forms), a random ``coder_csrf`` cookie (``__Host-`` over TLS, so a
sibling host cannot set it). A form is accepted only with the token its session gives,
and only when it also comes from a page of coderd's own origin (``server.csrf``'s rule
for the API): a sibling host that tossed its own cookie under plain HTTP still fails
the second check. A new session (login) gives a new token.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl

from flask import after_this_request, current_app, g, request

from .. import csrf
from ..httpapi import ANONYMOUS_MAX_BODY, APIError, read_body
from ..httpmw import browser_tls, session_token

FIELD = "csrf_token"
ANONYMOUS_COOKIE = "coder_csrf"
_PURPOSE = b"coder-dashboard-form"
REFUSED = "This form was not sent from this dashboard's own page, or it has expired."


def _cookie_name() -> str:
    return ("__Host-" if browser_tls() else "") + ANONYMOUS_COOKIE


def _key() -> str:
    """The secret this browser's forms are signed with (see the module's docstring)."""
    if g.get("subject") is not None:
        return session_token()
    key = g.get("_csrf_cookie") or request.cookies.get(_cookie_name(), "")
    if not key:
        key = g._csrf_cookie = secrets.token_urlsafe(32)
        name = _cookie_name()

        @after_this_request
        def _set_cookie(resp):
            resp.set_cookie(name, key, httponly=True, samesite="Strict", path="/",
                            secure=name.startswith("__Host-"))
            return resp
    return key


def csrf_token() -> str:
    """The token this browser's forms must carry now (templates: ``csrf_token()``)."""
    return hmac.new(_key().encode(), _PURPOSE, hashlib.sha256).hexdigest()


def read_form(limit: int = ANONYMOUS_MAX_BODY) -> dict[str, str]:
    """The posted form, checked (origin and token), as a dict of its fields (decode it
    with ``httpapi.decode``, the API's validation). A field sent twice keeps its last
    value; a NUL anywhere is a 400, as in the API."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise APIError(415, "A form must be sent as application/x-www-form-urlencoded.")
    fields = dict(parse_qsl(read_body(limit, "Form").decode("utf-8", "replace"),
                            keep_blank_values=True))
    _check(fields.pop(FIELD, ""))
    if any("\x00" in value for value in fields.values()):
        raise APIError(400, "A form must not contain NUL characters.")
    return fields


def field_errors(exc: APIError) -> tuple[dict[str, str], str]:
    """The server's error as a page shows it: each validation next to its field, else
    the message at the top of the form."""
    errors = {v.field: v.detail for v in exc.validations or ()}
    return errors, "" if errors else exc.message


def _check(token: str) -> None:
    guard = current_app.extensions[csrf.EXTENSION]
    came_from = guard.foreign_origin(request.environ)
    if came_from is not None:
        raise APIError(403, REFUSED, f"It came from {came_from}.")
    if not (g.get("subject") is not None or request.cookies.get(_cookie_name())) \
            or not hmac.compare_digest(token.encode(), csrf_token().encode()):
        raise APIError(403, REFUSED, "Reload the page and send the form again.")
