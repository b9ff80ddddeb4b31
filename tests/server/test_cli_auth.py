"""/cli-auth, the page coder login points to: a new session token for the signed-in user
(session cookie) or after its own sign-in form; dashboard forms (coderd's own origin and
the browser's CSRF token); a dashboard page that loads nothing but coderd's own files."""
from __future__ import annotations

import re

import requests

from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import sql

PASSWORD = "AnotherSecurePassword!"


def _token(page: str) -> str:
    match = re.search(r'<input id="token" type="text" readonly value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _me(coderd, token: str) -> str:
    resp = raw(coderd, "GET", "/api/v2/users/me", token)
    assert resp.status_code == 200, resp.text
    return resp.json()["username"]


def _post(coderd, origin: str | None, cookie: str = "", **form) -> requests.Response:
    """The page's form sent as a browser would from ``origin``, with the token the page gave."""
    session = requests.Session()
    if cookie:
        session.cookies.set("coder_session_token", cookie)
    page = session.get(coderd.url + "/cli-auth", timeout=10)
    form["csrf_token"] = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    headers = {"Origin": origin} if origin else {}
    return session.post(coderd.url + "/cli-auth", data=form, headers=headers, timeout=20,
                        allow_redirects=False)


def test_the_page_loads_only_coderds_files_and_is_never_cached_or_framed(shared_coderd):
    resp = requests.get(shared_coderd.url + "/cli-auth", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp and "script-src 'self';" in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "same-origin"  # else a browser's Origin is null
    assert resp.headers["X-Frame-Options"] == "DENY"
    page = resp.text
    assert '<form method="post" action="/cli-auth">' in page and 'name="password"' in page
    assert "<script>" not in page and " style=" not in page and "http" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources and all(src.startswith("/static/") for src in sources)


def test_sign_in_form_gives_a_token_that_works(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner, password=PASSWORD)
    resp = _post(shared_coderd, shared_coderd.url, email=user.email, password=PASSWORD)
    assert resp.status_code == 200, resp.text
    assert "paste it in your terminal" in resp.text
    assert _me(shared_coderd, _token(resp.text)) == user.username
    assert resp.headers["Cache-Control"] == "no-store"

    wrong = _post(shared_coderd, shared_coderd.url, email=user.email, password="Nope-123456!")
    assert wrong.status_code == 401 and "Incorrect email or password." in wrong.text
    assert 'id="token"' not in wrong.text


def test_a_signed_in_user_gets_a_new_token_of_their_own(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner, password=PASSWORD)
    page = requests.get(shared_coderd.url + "/cli-auth", cookies={"coder_session_token": member.token},
                        timeout=10)
    assert f"Signed in as <strong>{user.username}</strong>" in page.text and page.status_code == 200
    assert 'name="password"' not in page.text
    resp = _post(shared_coderd, shared_coderd.url, cookie=member.token)
    assert resp.status_code == 200, resp.text
    token = _token(resp.text)
    assert token != member.token and _me(shared_coderd, token) == user.username


def test_forms_from_other_origins_or_none_are_refused(shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner, password=PASSWORD)
    keys = "SELECT count(*) FROM api_keys WHERE user_id = %s"
    (before,), = sql(shared_coderd.dsn, keys, (str(user.id),))
    for origin in ("http://evil.example", "null", None):
        resp = _post(shared_coderd, origin, cookie=member.token)
        assert resp.status_code == 403 and 'id="token"' not in resp.text, (origin, resp.text)
        resp = _post(shared_coderd, origin, email=user.email, password=PASSWORD)
        assert resp.status_code == 403 and 'id="token"' not in resp.text, (origin, resp.text)
    assert sql(shared_coderd.dsn, keys, (str(user.id),)) == [(before,)]  # no key was made
