"""The Origin check against every spelling of an API path that still reaches its view.

Werkzeug routes ``//api/v2/users`` to ``/api/v2/users``; the check once tested the raw
path for ``/api/`` and let such spellings through: a cross-site POST made a user (201),
a websocket to an agent's terminal and an ``Upgrade: tcp`` stream got their 101. Sent on
a bare socket, so the path arrives byte for byte as the page's browser could send it.
"""
from __future__ import annotations

import json
import uuid

import pytest

from tests.kit import rawhttp
from tests.kit.agent import workspace_with_agent
from .test_csrf import COOKIE, EVIL, member_app_origin, new_user_body, owner, site  # noqa: F401

SPELLINGS = ["//api/v2/{}", "///api/v2/{}", "/./api/v2/{}", "/api/v2/../v2/{}",
             "/x/../api/v2/{}", "/%2Fapi/v2/{}", "/%2F%2Fapi/v2/{}", "/%61pi/v2/{}",
             "/api%2Fv2%2F{}", "/.%2Fapi/v2/{}"]


@pytest.fixture(scope="module")
def agent_paths(site, owner) -> dict[str, str]:  # noqa: F811
    ws, agent = workspace_with_agent(owner, site.dsn)
    return {"pty": f"workspaceagents/{agent.id}/pty?reconnect={uuid.uuid4()}",
            "connect": f"users/me/workspace/{ws.name}/connect?target=ssh"}


def send(site, method: str, target: str, origin: str, token: str, headers=(), body=b"",
         connection: str = "keep-alive"):  # noqa: F811
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


def assert_refused(answers: rawhttp.Answers) -> None:
    assert answers.first == 403, answers.data[:400]
    assert b"Cross-origin request refused." in answers.data


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_cookie_post_is_refused_whatever_the_spelling(site, owner, spelling):  # noqa: F811
    before = owner.users().count
    body = new_user_body().encode()
    for origin in (EVIL, member_app_origin(site)):
        answers = send(site, "POST", spelling.format("users"), origin, owner.token, body=body,
                       headers=[("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        assert_refused(answers)
    assert owner.users().count == before


WEBSOCKET = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
             ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("kind", ["websocket to the terminal", "Upgrade: tcp to the stream"])
def test_upgrades_are_refused_whatever_the_spelling(site, owner, agent_paths, spelling, kind):  # noqa: F811
    path, headers = ((agent_paths["pty"], WEBSOCKET) if kind.startswith("websocket")
                     else (agent_paths["connect"], [("Upgrade", "tcp")]))
    answers = send(site, "GET", spelling.format(path), member_app_origin(site), owner.token,
                   headers=headers, connection="Upgrade")
    assert_refused(answers)
    assert 101 not in answers.statuses


def test_canonical_same_origin_requests_still_pass(site, owner, agent_paths):  # noqa: F811
    """The check still lets coderd's own pages through on every spelling that routes."""
    for spelling in ("/api/v2/{}", "//api/v2/{}"):
        body = new_user_body().encode()
        answers = send(site, "POST", spelling.format("users"), site.url, owner.token, body=body,
                       headers=[("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        assert answers.first == 201, answers.data[:400]
        created = json.loads(answers.data.split(b"\r\n\r\n", 1)[1])
        assert created["username"]
