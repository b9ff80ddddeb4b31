"""Input a careless or hostile client sends that once broke coderd, checked as the client
sees it: digits Python reads as digits but int() refuses (a 500), and a connection coderd
closes without saying so (the client's next request lost)."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from appliance import settings
from appliance.cli import prompt

from tests.kit.coderd import create_another_user, raw

# Unicode digits str.isdigit() takes and int() refuses: '²' (U+00B2), '①' (U+2460).
NOT_ASCII_DIGITS = ("\u00b2", "\u2460")


def _form(coderd, token: str, path: str, **fields) -> requests.Response:
    """A dashboard form sent as a signed-in browser on coderd's page sends it."""
    session = requests.Session()
    session.cookies.set("coder_session_token", token)
    page = session.get(coderd.url + path, timeout=10)
    fields["csrf_token"] = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    return session.post(coderd.url + path, data=fields, headers={"Origin": coderd.url},
                        timeout=10, allow_redirects=False)


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_unicode_digits_are_a_400_never_a_500(shared_coderd, shared_owner, digit):
    member, _ = create_another_user(shared_owner)
    resp = _form(shared_coderd, member.token, "/settings/tokens/new", token_name="t" + uuid.uuid4().hex[:6],
                 lifetime_days=digit)
    assert resp.status_code == 400 and "must be a number of days" in resp.text, resp.text
    assert raw(shared_coderd, "GET", "/api/v2/users/me/keys/tokens", member.token).json() == []

    resp = raw(shared_coderd, "GET", f"/api/v2/audit?q=status_code:{digit}", shared_owner.token)
    assert resp.status_code == 400 and resp.json()["message"] == f"Invalid status code {digit!r}."

    with pytest.raises(settings.SettingsError, match="not a host:port address"):
        settings.parse_address(f"127.0.0.1:{digit}")
    assert prompt._picked(digit, ["a", "b"]) is None


def test_an_answer_after_which_the_connection_closes_says_so(shared_coderd):
    """A body left unread (too large, or not wanted), or a client's own ``Connection:
    close``: coderd closes the connection after the answer, and must say so, else a
    kept-alive client sends its next request into a closed connection (a reset, a lost
    form)."""
    url = shared_coderd.url
    too_large = requests.post(url + "/api/v2/users/validate-password", timeout=10,
                              data=b"x" * 70_000, headers={"Content-Type": "application/json"})
    unread = requests.post(url + "/deployment/users/create", data=b"x" * 100_000, timeout=10,
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           allow_redirects=False)
    asked = requests.get(url + "/healthz", headers={"Connection": "close"}, timeout=10)
    for resp, status in ((too_large, 413), (unread, 303), (asked, 200)):
        assert (resp.status_code, resp.headers.get("Connection")) == (status, "close"), resp.headers
    # A small unread body is read and dropped: the connection stays open.
    small = requests.post(url + "/deployment/users/create", data=b"x" * 1000, timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          allow_redirects=False)
    assert small.status_code == 303 and "Connection" not in small.headers
