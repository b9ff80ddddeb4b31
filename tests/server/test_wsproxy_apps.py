"""Workspace apps at a workspace proxy as a browser meets them: subdomain apps under the
proxy's wildcard, the sign-in redirect through coderd that leaves a cookie good only at
that proxy, websockets to apps, and the attacks on each.

One coderd, two real proxy processes ("sydney" with a wildcard, "tokyo" without) and a
real agent serve the whole module. The test's HTTP client resolves ``*.proxies.test`` to
127.0.0.1 (``loopback_names``), as the proxies' DNS records would, and keeps cookies per
host as a browser does (coderd's on 127.0.0.1, each proxy's on its own host).
"""
from __future__ import annotations

import struct
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
import websocket
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from websockets.sync.server import serve

from appliance.sdk import types
from appliance.sdk.client import Client
from appliance.sdk.errors import APIError
from appliance.sdk.wsproxysdk import ProxyClient
from server.relay import appauth
from server.relay.appfilter import EXCHANGE_PARAM
from server.wsproxy import apptoken

from tests.kit.agent import start_agent, wait_for, workspace_with_agent
from tests.kit.apps import EchoApp, browser, raw_request
from tests.kit.browser import loopback_names
from tests.kit.coderd import (FIRST_USER_PASSWORD, Coderd, create_another_user, create_first_user,
                          running_coderd, start_proxy)
from tests.kit.postgres import free_port
from tests.kit.provisioning import sql

DOMAIN = "proxies.test"
SYDNEY, TOKYO = "sydney." + DOMAIN, "tokyo." + DOMAIN
# Not under the proxy's own host name, whose cookies Python's jar (unlike a browser's) would
# send to its subdomains too.
APPS = ".sydney-apps." + DOMAIN
MEMBER_PASSWORD = "MemberSecurePassword!"
AUTH_REDIRECT = "/api/v2/applications/auth-redirect"


@dataclass
class Region:
    coderd: Coderd
    owner: Client
    member: Client
    workspace: str
    agent_id: uuid.UUID
    app: EchoApp            # "web" (at /base) and its port, answering with what it received
    echo_port: int          # "echo": a websocket echo app
    sydney: str             # the proxy's URL (wildcard *.sydney-apps.proxies.test)
    sydney_id: uuid.UUID
    tokyo: str              # another proxy, without a wildcard
    tokyo_token: str

    @property
    def port(self) -> int:
        return urlsplit(self.sydney).port

    def path_app(self, rest: str, slug: str = "web") -> str:
        return f"{self.sydney}/@admin/{self.workspace}/apps/{slug}/{rest}"

    def app_host(self, part: str = "web", user: str = "admin") -> str:
        return f"{part}--main--{self.workspace}--{user}{APPS}"

    def app_url(self, part: str = "web", user: str = "admin") -> str:
        return f"http://{self.app_host(part, user)}:{self.port}"

    @property
    def cookie(self) -> str:
        return appauth.ticket_cookie("http", "*" + APPS)


def _echo(conn) -> None:
    for message in conn:
        conn.send(message)


@pytest.fixture(scope="module")
def region(pg_server, pg_template):
    with running_coderd(pg_server, pg_template) as coderd:
        owner, _ = create_first_user(coderd)
        member, _ = create_another_user(owner, username="member", password=MEMBER_PASSWORD)
        app = EchoApp(free_port())
        echo = serve(_echo, "127.0.0.1", free_port())
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        echo_port = echo.socket.getsockname()[1]
        app_port = app.server.server_address[1]
        ws, agent = workspace_with_agent(owner, coderd.dsn, apps=[
            {"slug": "web", "url": f"http://localhost:{app_port}/base"},
            {"slug": "echo", "url": f"http://localhost:{echo_port}"}])
        agent_process = start_agent(coderd.url, agent.token)
        sydney = owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="sydney"))
        tokyo = owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="tokyo"))
        procs = [start_proxy(coderd, sydney.proxy_token, SYDNEY,
                             CODER_WILDCARD_ACCESS_URL="*" + APPS),
                 start_proxy(coderd, tokyo.proxy_token, TOKYO)]
        region = Region(coderd, owner, member, ws.name, agent.id, app, echo_port, procs[0][1],
                        sydney.proxy.id, procs[1][1], tokyo.proxy_token)
        try:
            with loopback_names(DOMAIN):
                for name in ("sydney", "tokyo"):
                    wait_for(lambda: owner.workspace_proxy(name).healthy, what=f"{name} registered")
                wait_for(lambda: requests.get(region.path_app("ready"), timeout=10, headers={
                    "Coder-Session-Token": owner.token}).status_code == 200, what="the app")
                yield region
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.communicate(timeout=20)
            agent_process.stop()
            app.stop()
            echo.shutdown()


def signed_in_browser(region: Region, email: str = "admin@example.com",
                      password: str = FIRST_USER_PASSWORD) -> requests.Session:
    return browser(region.coderd, email, password)


def assert_signed_in_through_coderd(region: Region, r: requests.Response, url: str) -> str:
    """The three redirects of a sign-in at the proxy; the ticket the proxy set, for its host
    only and kept from the app."""
    assert r.status_code == 200, r.text
    first, back, clean = r.history
    assert first.status_code == 307
    assert first.headers["Location"] == \
        f"{region.coderd.url}{AUTH_REDIRECT}?{urlencode({'redirect_uri': url})}"
    assert back.status_code == 303 and back.headers["Location"].startswith(
        url + ("&" if "?" in url else "?") + EXCHANGE_PARAM + "=")
    parts = urlsplit(url)
    assert clean.status_code == 303
    assert clean.headers["Location"] == parts.path + ("?" + parts.query if parts.query else "")
    [cookie] = [c for c in r.history[-1].cookies]
    assert cookie.name == region.cookie and cookie.domain == parts.hostname
    assert not cookie.domain_specified and cookie.has_nonstandard_attr("HttpOnly")
    echo = r.json()
    seen = echo["line"] + "".join(f"{k}: {v}" for k, v in echo["headers"])
    assert cookie.value not in seen and EXCHANGE_PARAM not in seen
    assert not any(k.lower() == "cookie" for k, _ in echo["headers"]), echo
    return cookie.value


def test_a_browser_signs_in_at_the_proxy_through_coderd(region):
    """Path and subdomain apps and ports at the proxy: a browser signed in to coderd comes
    back from coderd with a ticket for the proxy's host; one not signed in is sent to
    coderd's login first, and back."""
    owner = signed_in_browser(region)
    path_url = region.path_app("x?y=1")
    r = owner.get(path_url, timeout=15)
    assert_signed_in_through_coderd(region, r, path_url)
    assert r.json()["line"] == "GET /base/x?y=1 HTTP/1.1"
    assert owner.get(region.path_app("again"), timeout=15).json()["line"] == \
        "GET /base/again HTTP/1.1"

    sub_url = region.app_url() + "/sub?z=2"
    r = owner.get(sub_url, timeout=15)
    assert_signed_in_through_coderd(region, r, sub_url)
    assert r.json()["line"] == "GET /base/sub?z=2 HTTP/1.1"
    port_url = region.app_url(str(region.app.server.server_address[1])) + "/by-port"
    r = owner.get(port_url, timeout=15)
    assert_signed_in_through_coderd(region, r, port_url)
    assert r.json()["line"] == "GET /by-port HTTP/1.1"
    # The API's paths on an app host are the app's.
    r = owner.get(region.app_url() + "/api/v2/users/me", timeout=15)
    assert r.json()["line"] == "GET /base/api/v2/users/me HTTP/1.1"

    fresh = requests.Session()
    r = fresh.get(path_url, allow_redirects=False, timeout=15)
    assert r.status_code == 307 and r.headers["Location"].startswith(region.coderd.url + AUTH_REDIRECT)
    r = fresh.get(r.headers["Location"], allow_redirects=False, timeout=15)
    assert r.status_code == 307
    login = urlsplit(r.headers["Location"])
    assert login.path == "/login"
    [back_to] = parse_qs(login.query)["redirect"]
    assert back_to.startswith(AUTH_REDIRECT + "?")
    assert fresh.get(urljoin(region.coderd.url, r.headers["Location"]), timeout=15).status_code == 200
    assert fresh.post(region.coderd.url + "/api/v2/users/login", json={
        "email": "admin@example.com", "password": FIRST_USER_PASSWORD}, timeout=15).status_code == 201
    r = fresh.get(region.coderd.url + back_to, timeout=15)
    assert r.status_code == 200 and r.json()["line"] == "GET /base/x?y=1 HTTP/1.1"
    # A script (not a navigation) without a session gets a 401, not a redirect.
    assert requests.post(region.path_app("form"), timeout=15,
                         allow_redirects=False).status_code == 401
    assert not region.app.reached("form")


def _backdated(key: str, payload: list, seconds: int) -> str:
    """A ticket coderd's key signed ``seconds`` ago."""
    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    return URLSafeTimedSerializer(key, salt=appauth.SALT, signer=Earlier).dumps(payload)


def test_the_proxy_credential_is_refused_at_coderd_at_another_proxy_and_once_expired(region):
    owner = signed_in_browser(region)
    assert owner.get(region.path_app("sign-in"), timeout=15).status_code == 200
    ticket = owner.cookies.get(region.cookie, domain=SYDNEY)
    assert ticket and ticket != owner.cookies.get("coder_session_token")
    marker = region.path_app("replay")

    # At coderd it is no session, as a header or as coderd's cookie.
    for how in ({"headers": {"Coder-Session-Token": ticket}},
                {"cookies": {"coder_session_token": ticket}}):
        assert requests.get(region.coderd.url + "/api/v2/users/me", timeout=15,
                            **how).status_code == 401
    # At another proxy: sent to sign in (its cookie) or refused (a header), never served.
    tokyo_app = f"{region.tokyo}/@admin/{region.workspace}/apps/web/replay"
    r = requests.get(tokyo_app, cookies={appauth.ticket_cookie("http", ""): ticket},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 307 and AUTH_REDIRECT in r.headers["Location"]
    r = requests.get(tokyo_app, headers={"Coder-Session-Token": ticket}, timeout=15)
    assert r.status_code == 401
    request = types.WorkspaceAppRequest(access_method="path", username_or_id="admin",
                                        workspace_name_or_id=region.workspace,
                                        app_slug_or_port="web")
    with pytest.raises(APIError) as refused:
        ProxyClient(region.coderd.url, region.tokyo_token).issue_signed_app_token(request, ticket)
    assert refused.value.status == 401
    assert not region.app.reached("replay")
    # ...where sydney serves it.
    r = requests.get(marker, cookies={region.cookie: ticket}, allow_redirects=False, timeout=15)
    assert r.status_code == 200 and r.json()["line"] == "GET /base/replay HTTP/1.1"

    # Past its lifetime, or signed with another key: sent to sign in again.
    [(key,)] = sql(region.coderd.dsn,
                   "SELECT value FROM deployment_config WHERE key = %s", (appauth.KEY_NAME,))
    kind, key_id, audience = URLSafeTimedSerializer(key, salt=appauth.SALT).loads(ticket)
    assert (kind, audience) == (appauth.PROXY_SESSION, str(region.sydney_id))
    for stale in (_backdated(key, [kind, key_id, audience], 86400),
                  URLSafeTimedSerializer("not-coderds", salt=appauth.SALT).dumps(
                      [kind, key_id, audience])):
        r = requests.get(region.path_app("stale"), cookies={region.cookie: stale},
                         allow_redirects=False, timeout=15)
        assert r.status_code == 307 and AUTH_REDIRECT in r.headers["Location"]
    assert not region.app.reached("stale")
    # Used past half its life (default 1 h), it is renewed, as coderd's own app tickets are.
    aging = _backdated(key, [kind, key_id, audience], 40 * 60)
    r = requests.get(region.path_app("aging"), cookies={region.cookie: aging},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 200 and r.cookies.get(region.cookie) not in (None, aging)
    r = requests.get(region.path_app("renewed"), cookies={region.cookie: r.cookies[region.cookie]},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 200 and region.cookie not in r.headers.get("Set-Cookie", "")

    # A sign-in link past its 60 s, or made for another host of the proxy: refused.
    [(deployment_key,)] = sql(region.coderd.dsn, "SELECT value FROM deployment_config "
                              "WHERE key = %s", (apptoken.KEY_NAME,))
    proxy_key = apptoken.proxy_key(deployment_key, region.sydney_id)
    late = apptoken._fernet(proxy_key).encrypt_at_time(
        f'{{"host": "{SYDNEY}", "max_age": 60, "ticket": "{ticket}"}}'.encode(),
        int(time.time()) - apptoken.EXCHANGE_SECONDS - 5).decode()
    r = requests.get(region.path_app("late"), params={EXCHANGE_PARAM: late},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 400 and region.cookie not in r.headers.get("Set-Cookie", "")
    link = owner.get(region.coderd.url + AUTH_REDIRECT, params={"redirect_uri": region.app_url()
                                                                + "/x"},
                     allow_redirects=False, timeout=15).headers["Location"]
    elsewhere = region.path_app("elsewhere") + "?" + urlsplit(link).query
    r = requests.get(elsewhere, allow_redirects=False, timeout=15)
    assert r.status_code == 400 and "Set-Cookie" not in r.headers
    assert not region.app.reached("late") and not region.app.reached("elsewhere")

    # Logging out at coderd ends the session, and the proxy's ticket with it.
    assert owner.post(region.coderd.url + "/api/v2/users/logout", timeout=15,
                      headers={"Origin": region.coderd.url}).status_code == 200
    r = requests.get(region.path_app("after-logout"), cookies={region.cookie: ticket},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 307 and not region.app.reached("after-logout")


def test_coderd_redirects_only_to_its_app_hosts_and_registered_proxies(region):
    redirect = region.coderd.url + AUTH_REDIRECT
    header = {"Coder-Session-Token": region.member.token}
    for good in (region.path_app("p?q=1"), region.app_url() + "/p", region.tokyo + "/t"):
        r = requests.get(redirect, params={"redirect_uri": good}, headers=header,
                         allow_redirects=False, timeout=15)
        assert r.status_code == 303, (good, r.text)
        location = urlsplit(r.headers["Location"])
        assert location._replace(query="").geturl() == urlsplit(good)._replace(query="").geturl()
        assert EXCHANGE_PARAM in parse_qs(location.query)
    gone = region.owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="gone"))
    ProxyClient(region.coderd.url, gone.proxy_token).register(
        types.RegisterWorkspaceProxyRequest(access_url=f"http://gone.{DOMAIN}:9"))
    region.owner.delete_workspace_proxy("gone")
    port = region.port
    for uri in ("http://evil.example/", f"http://{SYDNEY}:{port + 1}/", f"https://{SYDNEY}:{port}/",
                f"http://{region.app_host()}:1/", f"http://not-an-app{APPS}:{port}/",
                f"http://x@evil.example#@{SYDNEY}:{port}/", f"http://evil.example\\@{SYDNEY}:{port}/",
                f"http://{SYDNEY}.evil.example:{port}/", f"http://{region.app_host()}.evil:{port}/",
                f"http://web--main--w--admin.{TOKYO}:{urlsplit(region.tokyo).port}/",
                f"http://gone.{DOMAIN}:9/", "javascript:alert(1)//", "", "//" + SYDNEY):
        for headers in (header, {}):
            r = requests.get(redirect, params={"redirect_uri": uri}, headers=headers,
                             allow_redirects=False, timeout=15)
            assert r.status_code == 400 and "Location" not in r.headers, (uri, r.status_code)


def test_another_users_app_is_refused_by_subdomain_and_path(region):
    member = signed_in_browser(region, "member@example.com", MEMBER_PASSWORD)
    r = member.get(region.app_url() + "/member-probe", timeout=15)
    assert r.status_code == 404 and len(r.history) == 3  # signed in, then refused
    assert "/base" not in r.text
    app_port = str(region.app.server.server_address[1])
    for url in (region.app_url() + "/member-probe", region.app_url(app_port) + "/member-probe",
                region.path_app("member-probe"), region.app_url("echo") + "/member-probe"):
        r = requests.get(url, headers={"Coder-Session-Token": region.member.token}, timeout=15)
        assert r.status_code == 404, (url, r.status_code)
    # An app host under the wildcard that is not an app's shape, or another proxy's name.
    r = requests.get(f"http://no-app{APPS}:{region.port}/", timeout=15)
    assert r.status_code == 404
    assert not region.app.reached("member-probe")


def _ws(region: Region, host: str, path: str, **options) -> websocket.WebSocket:
    """websocket-client resolves names itself: dial 127.0.0.1 with the proxy's host name."""
    return websocket.create_connection(f"ws://127.0.0.1:{region.port}{path}",
                                       host=f"{host}:{region.port}", timeout=15, **options)


def _close_code(conn: websocket.WebSocket) -> int:
    opcode, data = conn.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return struct.unpack("!H", data[:2])[0]


def test_websockets_to_apps_through_the_proxy(region):
    """A websocket echo app, by path and by subdomain: text and binary frames both ways;
    refused (after the upgrade, by close code) without a session or to another user."""
    token = {"header": [f"Coder-Session-Token: {region.owner.token}"]}
    path = f"/@admin/{region.workspace}/apps/echo/chat"
    owner = signed_in_browser(region)
    owner.get(region.path_app("sign-in"), timeout=15)
    cookie = f"{region.cookie}={owner.cookies.get(region.cookie, domain=SYDNEY)}"
    for host, target, how in ((SYDNEY, path, token), (SYDNEY, path, {"cookie": cookie}),
                              (region.app_host("echo"), "/chat", token)):
        conn = _ws(region, host, target, **how)
        try:
            conn.send("hello through the proxy")
            assert conn.recv() == "hello through the proxy"
            conn.send_binary(b"\x00\xffbinary" * 1000)
            assert conn.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x00\xffbinary" * 1000)
        finally:
            conn.close()
    for host, target, how, code in (
            (SYDNEY, path, {}, 4401),
            (region.app_host("echo"), "/chat", {}, 4401),
            (SYDNEY, path, {"header": [f"Coder-Session-Token: {region.member.token}"]}, 4404),
            # The terminal's websocket to another user's agent: coderd grants no ticket.
            (SYDNEY, f"/api/v2/workspaceagents/{region.agent_id}/pty?reconnect={uuid.uuid4()}",
             {"header": [f"Coder-Session-Token: {region.member.token}"]}, 4404)):
        conn = _ws(region, host, target, **how)
        try:
            assert _close_code(conn) == code, (host, how)
        finally:
            conn.close()


def test_a_page_of_another_origin_cannot_use_the_proxy_cookie(region):
    """The terminal's websocket and the ``Upgrade: tcp`` stream with the proxy's cookie: only
    from the proxy's own pages, not from another site or one of its own app hosts."""
    owner = signed_in_browser(region)
    owner.get(region.path_app("sign-in"), timeout=15)
    cookie = f"{region.cookie}={owner.cookies.get(region.cookie, domain=SYDNEY)}"
    pty = f"/api/v2/workspaceagents/{region.agent_id}/pty?reconnect={uuid.uuid4()}"
    for origin in ("http://evil.example", region.app_url(), f"http://{SYDNEY}:{region.port + 1}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _ws(region, SYDNEY, pty, origin=origin, cookie=cookie)
        assert refused.value.status_code == 403, origin
        r = raw_request(f"http://127.0.0.1:{region.port}",
                        f"/api/v2/workspaceagents/{region.agent_id}/connect?target=ssh",
                        [("Host", f"{SYDNEY}:{region.port}"), ("Connection", "Upgrade"),
                         ("Upgrade", "tcp"), ("Cookie", cookie), ("Origin", origin)])
        assert r.status == 403, origin
    own = _ws(region, SYDNEY, pty, origin=region.sydney, cookie=cookie)
    own.close()  # from the proxy's own pages, the cookie serves
