"""Input PostgreSQL cannot store and JSON Python cannot parse: a 400, never a 500.

The review's findings: a NUL (``%00`` in the path or query, ``\\u0000`` in a JSON string)
made psycopg2 raise ValueError, and ``{"a":`` nested 5000 deep made json raise
RecursionError: 500s with a traceback in coderd's log, on routes anyone may call (login,
first user) among them.
"""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.kit.agent import workspace_with_agent
from tests.kit.coderd import create_first_user, running_coderd
from tests.kit.provisioning import make_template

NUL = "a\u0000b"
DEEP = ('{"a":' * 5000 + "1" + "}" * 5000).encode()


@pytest.fixture(scope="module")
def odd_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template) as c:
        yield c


def call(coderd, method: str, path: str, body=None, token: str = "", raw: bytes | None = None):
    headers = {"Coder-Session-Token": token} if token else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(method, coderd.url + "/api/v2" + path, json=body, data=raw,
                            headers=headers, timeout=30)


def assert_refused(coderd, resp) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert resp.json()["message"]
    assert "Traceback" not in coderd.log()


def test_first_user_refuses_odd_bodies_before_anyone_exists(odd_coderd):
    user = {"email": "first@example.com", "username": "first", "password": "SomeSecurePassword!"}
    assert_refused(odd_coderd, call(odd_coderd, "POST", "/users/first", {**user, "username": NUL}))
    assert_refused(odd_coderd, call(odd_coderd, "POST", "/users/first", raw=DEEP))
    assert call(odd_coderd, "GET", "/users/first").status_code == 404  # still no user


@pytest.fixture(scope="module")
def actors(odd_coderd) -> dict:
    owner = create_first_user(odd_coderd)[0]
    template = make_template(owner, odd_coderd.dsn)
    _, agent = workspace_with_agent(owner, odd_coderd.dsn)
    return {"owner": owner.token, "template": str(template.id), "agent": str(agent.token)}


ROUTES = {  # (method, path, JSON body, who): each with a NUL somewhere PostgreSQL sees it
    "user in the path": ("GET", "/users/a%00b", None, "owner"),
    "user in a sub-route's path": ("GET", "/users/a%00b/workspaces", None, "owner"),
    "user's organizations": ("GET", "/users/a%00b/organizations", None, "owner"),
    "users q=": ("GET", "/users?q=a%00b", None, "owner"),
    "workspaces q=": ("GET", "/workspaces?q=owner:a%00b", None, "owner"),
    "login email": ("POST", "/users/login", {"email": NUL, "password": "x"}, ""),
    "profile name": ("PUT", "/users/me/profile", {"username": "admin", "name": NUL}, "owner"),
    "template PATCH": ("PATCH", "/templates/{template}", {"display_name": NUL}, "owner"),
    "agent startup": ("POST", "/workspaceagents/me/startup",
                      {"version": NUL, "expanded_directory": "/home"}, "agent"),
    "agent log source": ("POST", "/workspaceagents/me/log-source",
                         {"id": str(uuid.uuid4()), "display_name": NUL}, "agent"),
}


def test_a_nul_in_the_session_cookie_is_a_400(odd_coderd):
    """A quoted cookie's ``\\000`` is a NUL once parsed: in the key ID looked up, anonymously."""
    for path in ("/users/me", "/buildinfo"):
        resp = requests.get(odd_coderd.url + "/api/v2" + path, timeout=10, headers={
            "Cookie": 'coder_session_token="abcdefghi\\000-aaaaaaaaaaaaaaaaaaaaaa"'})
        assert_refused(odd_coderd, resp)


@pytest.mark.parametrize("route", ROUTES)
def test_a_nul_is_a_400(odd_coderd, actors, route):
    method, path, body, who = ROUTES[route]
    resp = call(odd_coderd, method, path.format(**actors), body, actors.get(who, ""))
    assert_refused(odd_coderd, resp)


DEEP_ROUTES = {"login": ("POST", "/users/login", ""), "first user": ("POST", "/users/first", ""),
               "create user": ("POST", "/users", "owner"),
               "profile": ("PUT", "/users/me/profile", "owner"),
               "agent startup": ("POST", "/workspaceagents/me/startup", "agent")}


@pytest.mark.parametrize("route", DEEP_ROUTES)
def test_deep_json_is_never_a_500(odd_coderd, actors, route):
    method, path, who = DEEP_ROUTES[route]
    resp = call(odd_coderd, method, path, raw=DEEP, token=actors.get(who, ""))
    if route == "first user":  # refused before its body is read, once there is a user
        assert resp.status_code == 409, resp.text
        return
    assert_refused(odd_coderd, resp)


def test_an_escaped_backslash_before_u0000_is_text(odd_coderd, actors):
    """``\\\\u0000`` in JSON is a backslash and "u0000", which PostgreSQL stores."""
    resp = call(odd_coderd, "PUT", "/users/me/profile", token=actors["owner"],
                raw=b'{"username": "admin", "name": "a\\\\u0000"}')
    assert resp.status_code == 200 and resp.json()["name"] == "a\\u0000", resp.text
