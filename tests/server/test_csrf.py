"""Requests a hostile page can make a browser send to coderd with its visitor's cookie.

Each attack is sent as the browser would send it for the page: the session cookie, the
page's ``Origin``, a ``text/plain`` body (what a form posts without a preflight), or a
websocket / ``Upgrade: tcp`` upgrade. The page lives on another site, or on a member's
subdomain app (same site as coderd, so ``SameSite=Lax`` does not hold the cookie back).
"""
from __future__ import annotations

import json
import uuid

import pytest
import requests
import websocket

from appliance.sdk import relay
from appliance.sdk.client import APIError

from tests.kit import rawhttp
from tests.kit.agent import workspace_with_agent
from tests.kit.coderd import create_first_user, running_coderd

EVIL = "https://evil.example"
COOKIE = "coder_session_token"


@pytest.fixture(scope="module")
def site(pg_server, pg_template):
    env = {"CODER_WILDCARD_ACCESS_URL": "*.apps.test"}
    with running_coderd(pg_server, pg_template, env=env) as c:
        yield c


@pytest.fixture(scope="module")
def owner(site):
    return create_first_user(site)[0]


@pytest.fixture(scope="module")
def connect_path(site, owner) -> str:
    """The owner's workspace, with an agent (not connected: a stream that gets through
    authorization ends in 502)."""
    ws, _ = workspace_with_agent(owner, site.dsn)
    return f"/api/v2/users/me/workspace/{ws.name}/connect"


def member_app_origin(site) -> str:
    """The origin of a member's public subdomain app: a sibling of coderd's host."""
    return "http://web--main--ws--member.apps.test:" + site.url.rsplit(":", 1)[1]


def new_user_body() -> str:
    name = "csrf" + uuid.uuid4().hex[:8]
    return json.dumps({"email": f"{name}@example.com", "username": name, "password": "Csrf-Secure-Pass1"})


def form_post(site, token: str, headers: dict, body: str, path: str = "/api/v2/users"):
    """A cross-site form post: the browser attaches the cookie, the page picks the rest."""
    return requests.post(site.url + path, data=body, cookies={COOKIE: token}, timeout=10,
                         headers={"Content-Type": "text/plain", **headers})


def assert_refused(resp, status: int = 403) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["message"] and "detail" in body, body


def test_cookie_post_from_another_origin_is_refused(site, owner):
    """The measured attack: POST /users with the owner's cookie from evil.example was a 201."""
    before = owner.users().count
    for headers in ({"Origin": EVIL},
                    {"Origin": member_app_origin(site)},
                    {"Origin": "null"},  # sandboxed frames, data: pages
                    {"Referer": EVIL + "/page"},  # no Origin: the Referer decides
                    {}):  # neither: nothing proves where it came from
        resp = form_post(site, owner.token, headers, new_user_body())
        assert_refused(resp)
        assert "Origin" in resp.json()["detail"], resp.text
    assert owner.users().count == before


def test_cookie_requests_from_coderds_own_pages_pass(site, owner):
    for headers in ({"Origin": site.url}, {"Referer": site.url + "/users"}):
        resp = requests.post(site.url + "/api/v2/users", data=new_user_body(), timeout=10,
                             cookies={COOKIE: owner.token},
                             headers={"Content-Type": "application/json", **headers})
        assert resp.status_code == 201, resp.text
    # Reads are not refused: without CORS the page cannot read the answer.
    me = requests.get(site.url + "/api/v2/users/me", cookies={COOKIE: owner.token},
                      headers={"Origin": EVIL}, timeout=10)
    assert me.status_code == 200


def test_header_token_requests_pass_whatever_their_origin(site, owner):
    """A page cannot set Coder-Session-Token on another origin's request: programs do."""
    resp = requests.post(site.url + "/api/v2/users", data=new_user_body(), timeout=10,
                         headers={"Coder-Session-Token": owner.token, "Origin": EVIL,
                                  "Content-Type": "application/json"})
    assert resp.status_code == 201, resp.text


def test_json_bodies_must_say_they_are_json(site, owner):
    """text/plain is what a page can send without a preflight; every JSON reader refuses it."""
    token = {"Coder-Session-Token": owner.token}
    name = "ct" + uuid.uuid4().hex[:8]
    for method, path, body in (
            ("POST", "/api/v2/users", new_user_body()),
            ("PUT", "/api/v2/users/me/profile", json.dumps({"username": name})),
            ("POST", "/api/v2/users/me/keys/tokens", json.dumps({"token_name": name})),
            ("POST", "/api/v2/users/login", json.dumps({"email": "admin", "password": "x"}))):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {**token, **({"Content-Type": content_type} if content_type else {})}
            resp = requests.request(method, site.url + path, data=body, headers=headers,
                                    timeout=10)
            assert_refused(resp, 415)
            assert "application/json" in resp.json()["message"]
    assert owner.user("me").username == "admin"
    resp = requests.put(site.url + "/api/v2/users/me/profile", json={"username": name},
                        headers={**token, "Content-Type": "application/json; charset=utf-8"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["username"] == name
    owner.update_user_profile("me", "admin")


def ws_url(site, path: str) -> str:
    return site.url.replace("http://", "ws://", 1) + path


def test_websocket_from_another_origin_is_refused_before_the_upgrade(site, owner, connect_path):
    """The measured attack: the victim's agent connection opened from evil.example was a 101."""
    for origin in (EVIL, member_app_origin(site)):
        with pytest.raises(websocket.WebSocketBadStatusException) as exc:
            websocket.create_connection(ws_url(site, connect_path), timeout=10, origin=origin,
                                        cookie=f"{COOKIE}={owner.token}")
        assert exc.value.status_code == 403
        assert json.loads(exc.value.resp_body)["message"] == "Cross-origin request refused."


@pytest.mark.parametrize("auth", ["same-origin cookie", "header token"])
def test_websocket_of_coderds_pages_or_of_programs_passes(site, owner, connect_path, auth):
    """Both get through to the stream (502: the agent is not connected)."""
    if auth == "header token":
        options = {"origin": EVIL, "header": {"Coder-Session-Token": owner.token}}
    else:
        options = {"origin": site.url, "cookie": f"{COOKIE}={owner.token}"}
    ws = websocket.create_connection(ws_url(site, connect_path), timeout=10, **options)
    with pytest.raises(APIError) as exc:
        relay.WebSocketStream(ws).recv()
    assert exc.value.status == 502


def tcp_upgrade(site, path: str, headers: dict, cookies: dict | None = None):
    return requests.get(site.url + path, cookies=cookies, timeout=10,
                        headers={"Connection": "Upgrade", "Upgrade": "tcp", **headers})


def test_tcp_upgrade_from_another_origin_is_refused(site, owner, connect_path):
    for origin in (EVIL, member_app_origin(site)):
        resp = tcp_upgrade(site, connect_path, {"Origin": origin}, {COOKIE: owner.token})
        assert_refused(resp)
    # Coderd's own page, and a program with the header, get through to the stream.
    assert tcp_upgrade(site, connect_path, {"Origin": site.url},
                       {COOKIE: owner.token}).status_code == 502
    assert tcp_upgrade(site, connect_path, {"Origin": EVIL,
                                            "Coder-Session-Token": owner.token}).status_code == 502


# The Origin check against every spelling of an API path that still reaches its view.
#
# Werkzeug routes ``//api/v2/users`` to ``/api/v2/users``; the check once tested the raw
# path for ``/api/`` and let such spellings through: a cross-site POST made a user (201),
# a websocket to an agent's terminal and an ``Upgrade: tcp`` stream got their 101. Sent on
# a bare socket, so the path arrives byte for byte as the page's browser could send it.

SPELLINGS = ["//api/v2/{}", "///api/v2/{}", "/./api/v2/{}", "/api/v2/../v2/{}",
             "/x/../api/v2/{}", "/%2Fapi/v2/{}", "/%2F%2Fapi/v2/{}", "/%61pi/v2/{}",
             "/api%2Fv2%2F{}", "/.%2Fapi/v2/{}"]


@pytest.fixture(scope="module")
def agent_paths(site, owner) -> dict[str, str]:
    ws, agent = workspace_with_agent(owner, site.dsn)
    return {"pty": f"workspaceagents/{agent.id}/pty?reconnect={uuid.uuid4()}",
            "connect": f"users/me/workspace/{ws.name}/connect?target=ssh"}


def send(site, method: str, target: str, origin: str, token: str, headers=(), body=b"",
         connection: str = "keep-alive"):
    """The first response's status line, headers and body (a refused upgrade's connection
    stays open: its end is not waited for)."""
    request = rawhttp.request(method, target, [("Origin", origin), ("Cookie", f"{COOKIE}={token}"),
                                               ("Connection", connection), *headers], body)
    with rawhttp.connect(site.url) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return rawhttp.Answers([int(data[9:12])] if data[:5] == b"HTTP/" else [], False, data)


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def assert_raw_refused(answers: rawhttp.Answers) -> None:
    assert answers.first == 403, answers.data[:400]
    assert b"Cross-origin request refused." in answers.data


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_cookie_post_is_refused_whatever_the_spelling(site, owner, spelling):
    before = owner.users().count
    body = new_user_body().encode()
    for origin in (EVIL, member_app_origin(site)):
        answers = send(site, "POST", spelling.format("users"), origin, owner.token, body=body,
                       headers=[("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        assert_raw_refused(answers)
    assert owner.users().count == before


WEBSOCKET = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
             ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("kind", ["websocket to the terminal", "Upgrade: tcp to the stream"])
def test_upgrades_are_refused_whatever_the_spelling(site, owner, agent_paths, spelling, kind):
    path, headers = ((agent_paths["pty"], WEBSOCKET) if kind.startswith("websocket")
                     else (agent_paths["connect"], [("Upgrade", "tcp")]))
    answers = send(site, "GET", spelling.format(path), member_app_origin(site), owner.token,
                   headers=headers, connection="Upgrade")
    assert_raw_refused(answers)
    assert 101 not in answers.statuses


def test_canonical_same_origin_requests_still_pass(site, owner, agent_paths):
    """The check still lets coderd's own pages through on every spelling that routes."""
    for spelling in ("/api/v2/{}", "//api/v2/{}"):
        body = new_user_body().encode()
        answers = send(site, "POST", spelling.format("users"), site.url, owner.token, body=body,
                       headers=[("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        assert answers.first == 201, answers.data[:400]
        created = json.loads(answers.data.split(b"\r\n\r\n", 1)[1])
        assert created["username"]
