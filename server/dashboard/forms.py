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
import io
import secrets
from urllib.parse import parse_qsl

from flask import after_this_request, current_app, g, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

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
    return dict(read_form_pairs(limit))


def read_form_pairs(limit: int = ANONYMOUS_MAX_BODY) -> list[tuple[str, str]]:
    """``read_form``'s fields as (name, value) pairs in the order sent, for a form whose
    field may come more than once (checkboxes of one name)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise APIError(415, "A form must be sent as application/x-www-form-urlencoded.")
    _check_origin()
    pairs = parse_qsl(read_body(limit, "Form").decode("utf-8", "replace"), keep_blank_values=True)
    _check_token(dict(pairs).get(FIELD, ""))
    return _without_nul([(k, v) for k, v in pairs if k != FIELD])


def read_upload(limit: int, max_parts: int) -> tuple[dict[str, str], list[FileStorage]]:
    """A posted ``multipart/form-data`` form, checked as ``read_form`` checks one: its
    fields, and its files in the order sent (a file's name as the browser gave it: a
    folder input sends each file's path below the folder). The body is read whole by
    ``httpapi.read_body`` (its limit and timeouts) before it is parsed."""
    if request.mimetype != "multipart/form-data":
        raise APIError(415, "An upload must be sent as multipart/form-data.")
    _check_origin()
    body = read_body(limit, "Upload")
    parser = FormDataParser(max_form_memory_size=limit, max_form_parts=max_parts)
    try:
        _, form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body),
                                      request.mimetype_params)
    except RequestEntityTooLarge:
        raise APIError(413, "The upload has too many parts.",
                       f"At most {max_parts} files and fields.") from None
    except ValueError as exc:
        raise APIError(400, "The upload could not be read.", str(exc)) from None
    _check_token(form.get(FIELD, ""))
    fields = dict(_without_nul([(k, v) for k, v in form.items(multi=True) if k != FIELD]))
    return fields, [f for _, f in files.items(multi=True) if f.filename]


def _without_nul(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise APIError(400, "A form must not contain NUL characters.")
    return pairs


def field_errors(exc: APIError) -> tuple[dict[str, str], str]:
    """The server's error as a page shows it: each validation next to its field, else
    the message at the top of the form."""
    errors = {v.field: v.detail for v in exc.validations or ()}
    return errors, "" if errors else exc.message


def _check_origin() -> None:
    guard = current_app.extensions[csrf.EXTENSION]
    came_from = guard.foreign_origin(request.environ)
    if came_from is not None:
        raise APIError(403, REFUSED, f"It came from {came_from}. Open the dashboard at "
                                     f"{guard.origin} (CODER_ACCESS_URL).")


def _check_token(token: str) -> None:
    if not (g.get("subject") is not None or request.cookies.get(_cookie_name())) \
            or not hmac.compare_digest(token.encode(), csrf_token().encode()):
        raise APIError(403, REFUSED, "Reload the page and send the form again.")
