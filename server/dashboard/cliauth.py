"""``/cli-auth``: the page ``coder login`` sends a user to, which hands out a new session
token to paste into the terminal, as Coder's dashboard page does.

Coder's page sends a visitor without a session to log in, then creates the token
(``POST /api/v2/users/me/keys``) and shows it with a copy button. Here, with a session
cookie it offers a button that makes the token (``api.apikeys.new_session_key``);
without, its own sign-in form (email or username, password: ``api.users.sign_in``, the
rate limit and audit of the API's login) that does. Both are dashboard forms
(``forms.read_form``: coderd's own origin and this browser's token), so no other site can
make a token appear or log a visitor in; like every dashboard page it is never cached or
framed. Its Referrer-Policy is the dashboard's ``same-origin`` (the token is in no URL):
under ``no-referrer``, which it had as a stand-alone page, a browser sends its forms with
``Origin: null``, which the origin check rightly refuses.
"""
from __future__ import annotations

from flask import g

from ..api.apikeys import new_session_key
from ..api.users import check_login_rate, sign_in
from ..httpapi import APIError
from ..httpmw import store
from .forms import read_form
from .pages import blueprint, page

PATH = "/cli-auth"


def _signed_in_user():
    """The user whose session cookie came with the request (not a token, not an agent)."""
    if g.get("subject") is None or g.subject.id is None or g.get("api_key_id") is None:
        return None
    return store().get_user_by_id(g.subject.id)


@blueprint.get(PATH)
def cli_auth():
    return page("cli_auth.html", user=_signed_in_user())


@blueprint.post(PATH)
def cli_auth_post():
    user = _signed_in_user()
    if user is None:
        check_login_rate()
    form = read_form()
    if user is not None:
        return page("cli_auth.html", token=new_session_key(user))
    try:
        token, _ = sign_in(form.get("email", ""), form.get("password", ""))
    except APIError as exc:
        return page("cli_auth.html", exc.status, user=None, error=exc.message, email=form.get("email", ""))
    return page("cli_auth.html", token=token)
