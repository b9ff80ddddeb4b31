"""``/cli-auth``: the page ``coder login`` sends a user to, which hands out a new session
token to paste into the terminal, as Coder's dashboard page does.

Coder's page is part of its single-page dashboard: it sends a visitor without a session
to log in, then creates the token (``POST /api/v2/users/me/keys``) and shows it with a
copy button. This one is rendered by coderd, with nothing loaded from anywhere and no
script: with a session cookie it offers a button that makes the token; without, a login
form (email or username, password) that does. Both are POSTs, answered only from a page
of coderd's own origin (its Origin or Referer), so no other site can make a token appear
or log a visitor in; the page is never cached, framed or sent as a Referer. The dashboard
(a later issue) restyles it.
"""
from __future__ import annotations

import base64
import hashlib
from html import escape

from flask import Flask, current_app, g, request

from .csrf import EXTENSION as CSRF
from .httpapi import APIError
from .httpmw import store

PATH = "/cli-auth"
STYLE = ("body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em}"
         "input{display:block;margin:.5em 0 1em;width:100%;padding:.4em;font:inherit}"
         "code{word-break:break-all}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def init_app(app: Flask) -> None:
    app.add_url_rule(PATH, "cli_auth", cli_auth, methods=["GET", "POST"])


def cli_auth():
    user = _signed_in_user()
    if request.method == "GET":
        return _sign_in_page() if user is None else _create_page(user.username)
    guard = current_app.extensions[CSRF]
    if guard.foreign_origin(request.environ) is not None:
        return _page("Session token", "<p>This form must be sent from this deployment's own "
                     "page: open it again and retry.</p>", 403)
    from .api.apikeys import new_session_key
    from .api.users import check_login_rate, sign_in

    if user is not None:
        return _token_page(new_session_key(user))
    try:
        check_login_rate()
        token, _ = sign_in(request.form.get("email", ""), request.form.get("password", ""))
    except APIError as exc:
        return _sign_in_page(exc.message, exc.status)
    return _token_page(token)


def _signed_in_user():
    """The user whose session cookie came with the request (not a token, not an agent)."""
    if g.get("subject") is None or g.subject.id is None or g.get("api_key_id") is None:
        return None
    return store().get_user_by_id(g.subject.id)


def _sign_in_page(error: str = "", status: int = 200):
    notice = f'<p role="alert"><strong>{escape(error)}</strong></p>' if error else ""
    return _page("Sign in to get a session token", f"""{notice}
<form method="post" action="{PATH}">
<label>Email or username<input name="email" autocomplete="username" required autofocus></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in and create a token</button>
</form>""", status)


def _create_page(username: str):
    return _page("Session token", f"""<p>Signed in as <strong>{escape(username)}</strong>.</p>
<form method="post" action="{PATH}"><button type="submit">Create a session token</button></form>""")


def _token_page(token: str):
    return _page("Session token", f"""<p>Copy the session token below and paste it in your
terminal.</p>
<p><code id="token">{escape(token)}</code></p>""")


def _page(title: str, body: str, status: int = 200):
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">'
            f"<title>{escape(title)} - Coder</title><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return current_app.response_class(html, status=status, mimetype="text/html",
                                      headers=HEADERS)
