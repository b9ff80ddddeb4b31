"""Account takeover through workspace apps: each attack against a real coderd, a real agent
and a real HTTP server in the workspace (``tests/kit/apps.py``), with what the app received.

Path apps run on coderd's own origin, where the browser holds the session cookie, so a
page of a member's app opened by someone else acts with that visitor's session. Where the
attack is "a page in the browser", the test makes the requests such a page would make.
"""
from __future__ import annotations

import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import websocket
from websockets.sync.server import serve

from tests.kit.apps import (APP_PORT, APPS_DOMAIN, MEMBER_PASSWORD, AppDeployment, browser, raw_request,
                            start_deployment)
from tests.kit.browser import loopback_names
from tests.kit.postgres import free_port


@pytest.fixture(scope="module")
def apps(pg_server, pg_template, provider_mirror, tmp_path_factory) -> AppDeployment:
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    deployment = start_deployment(dsn, provider_mirror, tmp_path_factory.mktemp("app-agent"))
    yield deployment
    deployment.stop()


@pytest.fixture(scope="module")
def recording_websocket_app():
    """A websocket app "inside the workspace" that records each handshake's headers."""
    seen: list[dict] = []

    def record(conn):
        seen.append(dict(conn.request.headers.raw_items()))

    server = serve(record, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.socket.getsockname()[1], seen
    server.shutdown()


def get(coderd, path: str, token: str = "") -> requests.Response:
    cookies = {"coder_session_token": token} if token else {}
    return requests.get(coderd.url + path, cookies=cookies, allow_redirects=False, timeout=15)


def test_site_owner_cannot_open_members_path_apps_or_ports(apps):
    """A page of a member's path app or port, opened by an owner, would run as the owner."""
    for kind, name in (("port", str(APP_PORT)), ("apps", "web")):
        path = apps.path(kind, name, f"owner-probe-{kind}")
        assert get(apps.strict, path, apps.admin.token).status_code == 404
        assert not apps.app.reached(f"owner-probe-{kind}")  # refused before reaching the app
        assert get(apps.strict, path, apps.member.token).status_code == 200  # the workspace's owner
        # CODER_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS lets site owners in again.
        assert get(apps.dangerous, path, apps.admin.token).status_code == 200
        # Never other members, who lack the permission whatever the flags.
        assert get(apps.dangerous, path, apps.other.token).status_code == 404


def test_path_apps_are_not_shared_without_the_flag(apps):
    """``authenticated`` and ``public`` path apps are owner-only unless sharing is allowed."""
    auth, pub = apps.path("apps", "auth", "shared-probe"), apps.path("apps", "pub", "shared-probe")
    assert get(apps.strict, auth, apps.other.token).status_code == 404
    assert get(apps.strict, pub, apps.other.token).status_code == 404
    assert get(apps.strict, pub).status_code == 401
    assert not apps.app.reached("shared-probe")
    assert get(apps.strict, auth, apps.member.token).status_code == 200
    # CODER_DANGEROUS_ALLOW_PATH_APP_SHARING: the sharing levels apply again.
    assert get(apps.dangerous, auth, apps.other.token).status_code == 200
    assert get(apps.dangerous, auth).status_code == 401
    assert get(apps.dangerous, pub).status_code == 200
    assert get(apps.dangerous, apps.path("apps", "web"), apps.other.token).status_code == 404


def assert_no_credentials(echo: dict, *secrets: str) -> None:
    seen = echo["line"] + "\n" + "\n".join(f"{k}: {v}" for k, v in echo["headers"]) + echo["body"]
    for secret in secrets:
        assert secret not in seen, seen
    assert "coder_session_token" not in seen.lower(), seen


def test_app_never_sees_the_callers_coderd_credentials(apps):
    token = apps.member.token
    target = apps.path("apps", "web", f"creds?coder_session_token={token}&keep=1")
    r = raw_request(apps.strict.url, target, [
        ("Coder-Session-Token", token), ("Authorization", f"Bearer {token}"),
        ("Cookie", f"coder_session_token={token};other=v"),
        ("Referer", f"{apps.strict.url}{apps.path('apps', 'web')}?coder_session_token={token}&r=1")])
    assert r.status == 200, r.body
    echo = r.echo()
    assert_no_credentials(echo, token)
    assert echo["line"] == "GET /base/creds?keep=1 HTTP/1.1"
    headers = dict(echo["headers"])
    assert headers["Cookie"] == "other=v"
    assert headers["Referer"].endswith("?r=1")
    # Every form of Cookie header a parser might read, one request each.
    for cookie in (f"other=v;coder_session_token={token}", f'other=v; coder_session_token="{token}"',
                   f"Coder_Session_Token={token}; other=v", f"other=v, coder_session_token={token}",
                   f"other=v;  coder_session_token = {token} ;x=1"):
        r = raw_request(apps.strict.url, apps.path("apps", "web", "cookie-forms"),
                        [("Coder-Session-Token", token), ("Cookie", cookie)])
        assert r.status == 200, (cookie, r.body)
        assert_no_credentials(r.echo(), token)
        assert "other=v" in dict(r.echo()["headers"]).get("Cookie", ""), cookie
    # An Authorization header that is the app's own, not coderd's, reaches the app.
    r = raw_request(apps.strict.url, apps.path("apps", "web", "app-auth"),
                    [("Cookie", f"coder_session_token={token}"), ("Authorization", "Bearer app-own-token")])
    assert r.status == 200 and dict(r.echo()["headers"])["Authorization"] == "Bearer app-own-token"


def test_app_cannot_set_coderds_cookies_and_is_marked(apps):
    """A page of the app cannot plant a session (login CSRF) or widen CORS on coderd's origin."""
    r = raw_request(apps.strict.url, apps.path("apps", "web", "set-cookie"),
                    [("Cookie", f"coder_session_token={apps.member.token}")])
    assert r.status == 200
    assert r.all("Set-Cookie") == ["app_pref=dark; Path=/"]
    assert r.header("Access-Control-Allow-Origin") is None
    assert r.header("Access-Control-Allow-Credentials") is None
    assert r.all("X-Content-Type-Options") == ["nosniff"]


ESCAPES = ["%2e%2e/secret", "a/%2e%2e/%2E%2E/secret", "..%2fsecret", "%2e%2e%2fsecret", "..%5csecret",
           "%252e%252e/secret", "..;/secret", "../../../api/v2/users/me?secret", "a/../../secret",
           # what an app that cuts a decoded segment at NUL, '?', '#' or a blank reads as '..'
           "..%00/secret", "%2e%2e%00/secret", "..%09/secret", "..%23/secret", "%2e%2e%3fsecret",
           "..%20/secret"]


@pytest.mark.parametrize("rest", ESCAPES)
def test_path_escapes_are_refused(apps, rest):
    auth = [("Cookie", f"coder_session_token={apps.member.token}")]
    for kind, name in (("apps", "web"), ("port", str(APP_PORT))):
        r = raw_request(apps.strict.url, apps.path(kind, name, rest), auth)
        assert r.status == 400, (kind, rest, r.status, r.body)
    assert not apps.app.reached("secret")


@pytest.mark.parametrize("how", ["te-cl", "cl-cl"])
def test_an_app_cannot_smuggle_a_response(apps, how):
    """An answer with two framings would end, for the browser's connection, where the app
    chose: the rest (a whole response with coderd's cookie) would answer the browser's
    next request. coderd answers 502 instead, and the next request on the connection gets
    coderd's own answer."""
    host, port = apps.strict.url.split("//", 1)[1].split(":")
    target = apps.path("apps", "web", f"x/smuggle?{how}")
    pipelined = (f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Cookie: coder_session_token={apps.member.token}\r\n\r\n"
                 f"GET /api/v2/buildinfo HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(pipelined)
        got = b""
        while b"version" not in got and (chunk := sock.recv(65536)):
            got += chunk
    assert got.startswith(b"HTTP/1.1 502"), got[:200]
    assert b"planted" not in got and b"smuggled" not in got
    assert got.count(b"HTTP/1.1 ") == 2, got


def test_app_websockets_see_the_browsers_origin(apps, recording_websocket_app):
    """An app's own check against cross-site websockets (code-server's, Jupyter's) sees the
    page that opened it, as behind Coder's proxy, not an Origin made up to pass."""
    port, seen = recording_websocket_app
    url = apps.strict.url.replace("http", "ws", 1) + apps.path("port", str(port))
    cookie = f"Cookie: coder_session_token={apps.member.token}"
    for count, origin in enumerate(("http://web--main--other--other.apps.test:1", None), 1):
        ws = websocket.create_connection(url, header=[cookie], origin=origin,
                                         suppress_origin=origin is None, timeout=15)
        ws.close()
        deadline = time.monotonic() + 10
        while len(seen) < count and time.monotonic() < deadline:  # the app's handler runs on its own
            time.sleep(0.05)
        assert [h.get("Origin") for h in seen[count - 1:]] == [origin]


def test_paths_reach_the_app_as_sent(apps):
    auth = [("Cookie", f"coder_session_token={apps.member.token}")]
    sent = {"a%3fb%20c/x%2fy?q=%20&r": "/base/a%3fb%20c/x%2fy?q=%20&r",
            "a/./b/../c/": "/base/a/c/", "%2e/d": "/base/d", "": "/base/", "e//f": "/base/e//f"}
    for rest, expected in sent.items():
        r = raw_request(apps.strict.url, apps.path("apps", "web", rest), auth)
        assert r.status == 200, (rest, r.body)
        assert r.echo()["line"] == f"GET {expected} HTTP/1.1"
    r = raw_request(apps.strict.url, apps.path("port", str(APP_PORT), "p%3fq"), auth)
    assert r.echo()["line"] == "GET /p%3fq HTTP/1.1"


def test_subdomain_app_sign_in_through_coderd(apps):
    """The browser reaches a subdomain app without coderd's cookie: redirected through coderd,
    it comes back with a ticket for that host only, which the app never sees."""
    member = browser(apps.strict, "member@example.com", MEMBER_PASSWORD)
    web = apps.app_url(apps.strict, "web")
    with loopback_names(APPS_DOMAIN):
        r = member.get(web + "/x?y=1", timeout=15)
        assert r.status_code == 200, r.text
        first, back, clean = r.history
        assert first.status_code == 307
        assert first.headers["Location"].startswith(apps.strict.url + "/api/v2/applications/auth-redirect?")
        assert back.status_code == 303 and back.headers["Location"].startswith(web + "/x?")
        assert clean.status_code == 303 and clean.headers["Location"] == "/x?y=1"
        echo = r.json()
        assert echo["line"] == "GET /base/x?y=1 HTTP/1.1"
        assert_no_credentials(echo, member.cookies["coder_session_token"])
        assert not any(k.lower() == "cookie" for k, _ in echo["headers"]), echo  # the ticket stays out
        [ticket] = [c for c in member.cookies if c.name.startswith("coder_subdomain_app_session_token_")]
        assert ticket.domain == urlsplit(web).hostname and not ticket.domain_specified
        assert ticket.has_nonstandard_attr("HttpOnly")
        # The ticket is good for that host only: not another app, not another user's app.
        for url in (apps.app_url(apps.strict, "auth"), apps.app_url(apps.strict, str(APP_PORT)),
                    apps.app_url(apps.strict, "auth", "other", apps.other_workspace)):
            r = requests.get(url + "/", cookies={ticket.name: ticket.value}, allow_redirects=False,
                             timeout=15)
            assert r.status_code == 307 and "/applications/auth-redirect" in r.headers["Location"], url
        # ...where the member's session would have been let in (public-shared via sign in).
        r = member.get(apps.app_url(apps.strict, "auth", "other", apps.other_workspace) + "/", timeout=15)
        assert r.status_code == 502  # authorized; the other workspace's agent is not running
        r = requests.get(web + "/again", cookies={ticket.name: ticket.value}, allow_redirects=False,
                         timeout=15)
        assert r.status_code == 200 and r.json()["line"] == "GET /base/again HTTP/1.1"
        # Logging out ends the session, and the tickets made from it with it.
        assert member.post(apps.strict.url + "/api/v2/users/logout", headers={"Origin": apps.strict.url},
                           timeout=15).status_code == 200
        r = requests.get(web + "/after-logout", cookies={ticket.name: ticket.value},
                         allow_redirects=False, timeout=15)
        assert r.status_code == 307
    assert not apps.app.reached("after-logout")


def test_subdomain_tickets_expire(apps):
    member = browser(apps.dangerous, "member@example.com", MEMBER_PASSWORD)  # 2 s tickets here
    web = apps.app_url(apps.dangerous, "web")
    with loopback_names(APPS_DOMAIN):
        r = member.get(web + "/fresh", timeout=15)
        assert r.status_code == 200, r.text
        exchange = r.history[1].headers["Location"]
        [ticket] = [c for c in member.cookies if c.name.startswith("coder_subdomain_app_session_token_")]
        time.sleep(1.2)  # past half its life: used, it is renewed
        r = requests.get(web + "/renew", cookies={ticket.name: ticket.value}, allow_redirects=False,
                         timeout=15)
        assert r.status_code == 200 and r.cookies.get(ticket.name) not in (None, ticket.value)
        time.sleep(2.3)
        r = requests.get(web + "/stale", cookies={ticket.name: ticket.value}, allow_redirects=False,
                         timeout=15)
        assert r.status_code == 307 and "/applications/auth-redirect" in r.headers["Location"]
        r = requests.get(exchange, allow_redirects=False, timeout=15)  # the redirect that carried the ticket, replayed late
        assert r.status_code == 400
    assert not apps.app.reached("stale")


def test_app_host_without_ticket(apps):
    """Scripts get a 401 rather than a redirect; the API is not served on app hosts."""
    web = apps.app_url(apps.strict, "web")
    with loopback_names(APPS_DOMAIN):
        assert requests.post(web + "/form", allow_redirects=False, timeout=15).status_code == 401
        r = requests.get(web + "/api/v2/users/me", headers={"Coder-Session-Token": apps.member.token},
                         timeout=15)
        assert r.json()["line"] == "GET /base/api/v2/users/me HTTP/1.1"  # the app's, not coderd's


def test_auth_redirect_goes_only_to_app_hosts(apps):
    port = apps.strict.url.rsplit(":", 1)[1]
    path = "/api/v2/applications/auth-redirect?redirect_uri="
    good = apps.app_url(apps.strict, "web") + "/p"
    r = requests.get(apps.strict.url + path + good, headers={"Coder-Session-Token": apps.member.token},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 303
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == good
    assert list(parse_qs(location.query)) == ["coder_application_connect_api_key_35e783"]
    for uri in ("http://evil.example/", f"http://127.0.0.1:{port}/", "http://web--main--ws--member.apps.test:1/",
                f"http://x@evil.example#.apps.test:{port}/", "", "javascript:alert(1)"):
        r = requests.get(apps.strict.url + path + requests.utils.quote(uri, safe=""),
                         headers={"Coder-Session-Token": apps.member.token}, allow_redirects=False, timeout=15)
        assert r.status_code == 400, (uri, r.status_code, r.headers.get("Location"))
    # Without a session: to coderd's sign-in first, which comes back here (as Coder).
    r = requests.get(apps.strict.url + path + good, allow_redirects=False, timeout=15)
    assert r.status_code == 307
    login = urlsplit(r.headers["Location"])
    assert login.path == "/login" and parse_qs(login.query)["redirect"] == [path + good]


def test_a_shared_port_opens_on_its_subdomain_by_its_level(apps):
    """Coder's port sharing: an unshared port is the owner's (a visitor without a session is
    sent to sign in, another member is refused); shared ``authenticated`` it lets in any
    user, ``public`` anyone; unshared again, it is the owner's again."""
    url = apps.app_url(apps.strict, str(APP_PORT)) + "/"
    ws = apps.member.workspace_by_owner_and_name("me", apps.workspace)
    shares = f"{apps.strict.url}/api/v2/workspaces/{ws.id}/port-share"
    owner_header = {"Coder-Session-Token": apps.member.token}

    def visit(marker: str, token: str = "") -> int:
        headers = {"Coder-Session-Token": token} if token else {}
        return requests.get(url + marker, headers=headers, allow_redirects=False,
                            timeout=15).status_code

    def share(level: str) -> None:
        r = requests.post(shares, json={"agent_name": "main", "port": APP_PORT,
                                        "share_level": level, "protocol": "http"},
                          headers=owner_header, timeout=15)
        assert r.status_code == 200, r.text

    with loopback_names(APPS_DOMAIN):
        assert (visit("unshared"), visit("unshared", apps.other.token)) == (307, 404)
        assert not apps.app.reached("unshared")
        share("authenticated")
        assert (visit("auth-share"), visit("auth-share", apps.other.token)) == (307, 200)
        share("public")
        assert visit("public-share") == 200 and apps.app.reached("public-share")
        # Path ports stay the owner's whatever the share (as Coder: sharing is for subdomains).
        r = get(apps.strict, apps.path("port", str(APP_PORT), "path-probe"), apps.other.token)
        assert r.status_code == 404 and not apps.app.reached("path-probe")
        r = requests.delete(shares, json={"agent_name": "main", "port": APP_PORT},
                            headers=owner_header, timeout=15)
        assert r.status_code == 200
        assert visit("unshared-again") == 307 and not apps.app.reached("unshared-again")
