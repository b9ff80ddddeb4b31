"""Attacks that are web pages, played by a real browser (headless chromium, ``tests.kit.browser``).

The victim signs in through the browser (coderd sets its cookie), then opens a page on a
sibling host of coderd, ``evil.apps.coder.test``: the same site as ``coder.test``, so
``SameSite=Lax`` does not keep the cookie from its requests, as a member's subdomain app
would be. Coderd, its app hosts and the attacker all resolve to 127.0.0.1. The workspace
(``tests/kit/apps.py``) is a member's, with a running agent and an app that records every
request it gets, so "nothing reached the workspace" is checked where it would have arrived.
"""
from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from mirror_tools.ca import CertificateAuthority

from tests.kit.apps import APP_PORT, MEMBER_PASSWORD, AppDeployment, start_deployment
from tests.kit.browser import (APP_SUFFIX, DOMAIN, WEBSOCKET_PROBE, Browser, PageServer,  # noqa: F401
                       chromium, loopback_names)
from tests.kit.coderd import FIRST_USER_PASSWORD, Coderd, start_coderd
from tests.kit.postgres import free_port

EVIL_HOST = "evil" + APP_SUFFIX
ADMIN = ("admin@example.com", FIRST_USER_PASSWORD)
MEMBER = ("member@example.com", MEMBER_PASSWORD)


@dataclass
class Site:
    apps: AppDeployment
    http: Coderd           # http://coder.test:PORT, apps under *.apps.coder.test
    https: Coderd          # the same under TLS, its certificate from the appliance CA
    cert_pem: bytes
    ca_bundle: str
    evil: PageServer       # http://evil.apps.coder.test:PORT
    evil_tls: PageServer   # https://evil.apps.coder.test:PORT, same site as the TLS coderd

    @property
    def agent_id(self) -> uuid.UUID:
        ws = self.apps.member.workspace_by_owner_and_name("me", self.apps.workspace)
        return next(a.id for r in ws.latest_build.resources for a in r.agents)


@contextlib.contextmanager
def _env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def site(pg_server, pg_template, provider_mirror, tmp_path_factory):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    with contextlib.ExitStack() as stack:  # each server stopped, even when a later one fails
        apps = start_deployment(dsn, provider_mirror, tmp_path_factory.mktemp("browser-agent"))
        stack.callback(apps.stop)
        ca = CertificateAuthority.init(tmp_path_factory.mktemp("browser-ca") / "ca",
                                       permitted_dns=[DOMAIN], permitted_ips=["127.0.0.0/8"])
        cert = ca.issue(dns=[DOMAIN, "*" + APP_SUFFIX], name="coderd")
        wildcard = {"CODER_WILDCARD_ACCESS_URL": "*" + APP_SUFFIX}
        http_port, tls_port = free_port(), free_port()
        evil = stack.enter_context(PageServer())
        evil_tls = stack.enter_context(PageServer(tls=(str(cert.chain_path), str(cert.key_path))))
        stack.enter_context(loopback_names())
        http = start_coderd(dsn, env={**wildcard, "CODER_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
                                      "CODER_ACCESS_URL": f"http://{DOMAIN}:{http_port}"})
        stack.callback(http.stop)
        with _env(REQUESTS_CA_BUNDLE=str(ca.bundle_path)):  # start_coderd's readiness check
            https = start_coderd(dsn, env={
                **wildcard, "CODER_TLS_ENABLE": "true", "CODER_TLS_ADDRESS": f"127.0.0.1:{tls_port}",
                "CODER_TLS_CERT_FILE": str(cert.chain_path), "CODER_TLS_KEY_FILE": str(cert.key_path),
                "CODER_ACCESS_URL": f"https://{DOMAIN}:{tls_port}"})
        stack.callback(https.stop)
        yield Site(apps, http, https, Path(cert.chain_path).read_bytes(), str(ca.bundle_path), evil,
                   evil_tls)


@pytest.fixture
def tls_chromium(site, tmp_path):
    """Chromium trusting the TLS coderd's certificate (by its key), as a deployment's
    browsers trust the appliance CA."""
    browser = Browser(tmp_path / "chromium-profile", trusted_certs=(site.cert_pem,))
    try:
        yield browser
    finally:
        browser.stop()


def sign_in(browser: Browser, coderd: Coderd, who: tuple[str, str]) -> None:
    """Log in as the dashboard does: a page of coderd's origin posts the password, coderd
    answers with its session cookie."""
    browser.open(coderd.url + "/healthz")
    status = browser.run("""const r = await fetch('/api/v2/users/login', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: arguments[0], password: arguments[1]})});
        return r.status;""", *who)
    assert status == 201


def whoami(browser: Browser, coderd: Coderd) -> str | int:
    """Who coderd takes the browser for, asked from a page of coderd's own origin."""
    browser.open(coderd.url + "/healthz")
    return browser.run("""const r = await fetch('/api/v2/users/me');
        return r.status === 200 ? (await r.json()).username : r.status;""")


def attack_page(site: Site, name: str, script: str, body: str = "", tls: bool = False) -> str:
    """The attacker's page on the sibling host; ``script`` runs once it has loaded."""
    return (site.evil_tls if tls else site.evil).add(
        EVIL_HOST, f"/{name}", f"<html><body>{body}<script>{script}</script></body></html>")


def usernames(site: Site) -> set[str]:
    return {u.username for u in site.apps.admin.users().users}


def new_user_json(name: str) -> str:
    return json.dumps({"email": f"{name}@example.com", "username": name, "password": "Attack123!x"})


def post_from_sibling(browser: Browser, site: Site, coderd: Coderd, username: str) -> list[int]:
    """What coderd answered to a text/plain ``POST /users`` with credentials, sent by a
    script on the sibling host's page (over TLS when coderd is)."""
    api = coderd.url + "/api/v2/users"
    browser.open(attack_page(site, "fetch-post", "", tls=coderd.url.startswith("https:")))
    browser.statuses(api)  # forget what came before
    outcome = browser.run("""try {
        await fetch(arguments[0], {method: 'POST', credentials: 'include', mode: 'no-cors',
            headers: {'Content-Type': 'text/plain'}, body: arguments[1]});
        return 'sent'; } catch (e) { return String(e); }""", api, new_user_json(username))
    assert outcome == "sent"
    return browser.statuses(api)


def test_sibling_page_cannot_create_users_with_the_owners_session(site, chromium):
    """A script's text/plain POST and a plain HTML form, from the sibling host, with the
    owner's cookie: refused by the Origin check (403) before the body is read."""
    sign_in(chromium, site.http, ADMIN)
    api = site.http.url + "/api/v2/users"
    assert post_from_sibling(chromium, site, site.http, "fetchvictim") == [403]
    # A form needs no script at all; its text/plain body is the JSON coderd would read.
    name_part, value_part = new_user_json("formvictim")[:-1] + ', "x": "', '"}'
    form = (f"<form id=f method=POST action='{api}' enctype=text/plain>"
            f"<input type=hidden name='{name_part}' value='{value_part}'></form>")
    chromium.open(attack_page(site, "form-post", "document.getElementById('f').submit();", form))
    chromium.page_with("Cross-origin request refused.")  # coderd's answer page
    assert chromium.statuses(api) == [403]
    assert not {"fetchvictim", "formvictim"} & usernames(site)


def test_sibling_page_cannot_open_the_victims_workspace_streams(site, chromium, tmp_path):
    """A websocket to the workspace's TCP stream and to its terminal, from the sibling host:
    no 101, and nothing reaches the workspace. The same sockets from coderd's own page work."""
    sign_in(chromium, site.http, MEMBER)
    ws_base = site.http.url.replace("http://", "ws://", 1)
    stream = f"{ws_base}/api/v2/users/me/workspace/{site.apps.workspace}/connect?target=tcp:{APP_PORT}"
    marker = tmp_path / "pty-was-here"
    pty = f"{ws_base}/api/v2/workspaceagents/{site.agent_id}/pty?reconnect={uuid.uuid4()}"
    terminal_input = json.dumps({"data": f"touch {marker}\r"})

    chromium.open(attack_page(site, "websockets", ""))
    chromium.statuses("/api/v2/")
    tcp_request = b"GET /from-the-evil-page HTTP/1.0\r\n\r\n".decode()
    assert chromium.run(WEBSOCKET_PROBE, stream, tcp_request) == ["closed 1006"]  # failed before opening
    assert chromium.run(WEBSOCKET_PROBE, pty, terminal_input) == ["closed 1006"]
    assert 101 not in chromium.statuses("/api/v2/")
    assert not site.apps.app.reached("/from-the-evil-page")
    assert not marker.exists()

    # The control: coderd's own page opens both, and they reach the workspace.
    chromium.open(site.http.url + "/healthz")
    assert chromium.run(WEBSOCKET_PROBE, stream, tcp_request.replace("evil", "own"))[0] == "open"
    assert chromium.run(WEBSOCKET_PROBE, pty, terminal_input)[0] == "open"
    assert site.apps.app.reached("/from-the-own-page")
    assert marker.exists()


def test_sibling_page_cannot_read_api_answers(site, chromium):
    """coderd grants no CORS: the sibling page's credentialed fetch fails, an opaque one
    shows nothing, though the browser sent the cookie and coderd answered."""
    sign_in(chromium, site.http, ADMIN)
    me = site.http.url + "/api/v2/users/me"
    chromium.open(attack_page(site, "read", ""))
    chromium.statuses(me)
    read = chromium.run("""const out = [];
        try { const r = await fetch(arguments[0], {credentials: 'include'});
              out.push(await r.text()); } catch (e) { out.push(String(e)); }
        const o = await fetch(arguments[0], {credentials: 'include', mode: 'no-cors'});
        out.push(o.type, o.status, await o.text());
        return out;""", me)
    assert read == ["TypeError: Failed to fetch", "opaque", 0, ""]
    # coderd answered the opaque one (the cookie went with it): the page cannot read it. The
    # browser reports the other only as a CORS failure.
    assert chromium.statuses(me) == [200]
    assert whoami(chromium, site.http) == "admin"  # the same fetch from coderd's own page


def test_path_apps_in_the_browser(site, chromium):
    """An owner opening a member's path app or port is not served; the workspace owner's
    own path app gets no coderd credential (not the cookie, not the query's token)."""
    sign_in(chromium, site.http, ADMIN)
    for kind, name in (("apps", "web"), ("port", str(APP_PORT))):
        chromium.open(site.http.url + site.apps.path(kind, name, f"owner-in-browser-{kind}"))
        assert chromium.statuses(f"owner-in-browser-{kind}") == [404]
        assert not site.apps.app.reached(f"owner-in-browser-{kind}")
    chromium.driver.delete_all_cookies()

    sign_in(chromium, site.http, MEMBER)
    token = site.apps.member.token
    chromium.open(site.http.url + site.apps.path("apps", "web", f"own-in-browser?coder_session_token={token}"))
    echo = json.loads(chromium.driver.find_element("tag name", "body").text)
    cookie_value = next(c["value"] for c in chromium.cookies(site.http.url) if c["name"] == "coder_session_token")
    seen = json.dumps(echo)
    assert "own-in-browser" in echo["line"]
    for secret in (cookie_value, cookie_value.split("-")[0], token.split("-")[1]):
        assert secret not in seen
    assert not any(k.lower() in ("coder-session-token", "authorization") for k, _ in echo["headers"])


def test_cookie_tossing_under_tls(site, tls_chromium):
    """A sibling page writes ``coder_session_token`` for the whole domain with the
    attacker's token. Under TLS coderd's cookie is ``__Host-`` (Secure, Path=/, no Domain):
    the tossed one neither replaces it nor, after logout, signs the victim in as the
    attacker. The app host's ticket cookie is ``__Host-`` too."""
    browser, coderd = tls_chromium, site.https
    sign_in(browser, coderd, ADMIN)
    jar = {c["name"]: c for c in browser.cookies(coderd.url)}
    assert set(jar) == {"__Host-coder_session_token"}
    host_cookie = jar["__Host-coder_session_token"]
    assert host_cookie["secure"] and host_cookie["httpOnly"] and host_cookie["path"] == "/"
    assert host_cookie["domain"] == DOMAIN  # host-only: no leading dot
    # The Origin check knows this cookie too: an HTTPS sibling page (same site) is refused.
    assert post_from_sibling(browser, site, coderd, "tlsvictim") == [403]
    assert "tlsvictim" not in usernames(site)

    attacker = site.apps.other.token
    toss = "".join(f"document.cookie = 'coder_session_token={attacker}; domain={DOMAIN}; path={path}';"
                   for path in ("/", "/api/v2/users"))
    browser.open(attack_page(site, "toss", toss))
    tossed = [c for c in browser.cookies(coderd.url + "/api/v2/users/me") if c["name"] == "coder_session_token"]
    assert len(tossed) == 2 and all(c["value"] == attacker for c in tossed)  # the browser took them
    assert whoami(browser, coderd) == "admin"

    browser.open(coderd.url + "/healthz")
    assert browser.run("return (await fetch('/api/v2/users/logout', {method: 'POST'})).status;") == 200
    assert not [c for c in browser.cookies(coderd.url) if c["name"].startswith("__Host-")]
    assert whoami(browser, coderd) == 401  # the tossed cookies are still there, and ignored
    # A program that sends Coder's plain cookie (no Sec-Fetch-Site) is still served.
    with loopback_names():
        me = requests.get(coderd.url + "/api/v2/users/me", cookies={"coder_session_token": attacker},
                          verify=site.ca_bundle, timeout=15)
    assert me.status_code == 200 and me.json()["username"] == "other"

    # Behind a proxy that ends TLS coderd's own listener is plain HTTP; the access URL, which
    # browsers use, says HTTPS, and so does the cookie.
    login = requests.post(f"http://{coderd.env['CODER_HTTP_ADDRESS']}/api/v2/users/login", timeout=15,
                          json={"email": ADMIN[0], "password": ADMIN[1]})
    assert login.status_code == 201
    assert login.headers["Set-Cookie"].startswith("__Host-coder_session_token=")
    assert "Secure" in login.headers["Set-Cookie"]

    # The member's own path app under TLS receives the __Host- cookie from no one.
    browser.driver.delete_all_cookies()
    sign_in(browser, coderd, MEMBER)
    browser.open(coderd.url + site.apps.path("apps", "web", "tls-path-app"))
    seen = browser.driver.find_element("tag name", "body").text
    assert "tls-path-app" in seen
    session = next(c["value"] for c in browser.cookies(coderd.url) if c["name"] == "__Host-coder_session_token")
    assert session.split("-")[1] not in seen and "__Host-" not in seen

    # The member's subdomain app: signed in through coderd, the app host's cookie is __Host-.
    port = coderd.url.rsplit(":", 1)[1]
    app_url = f"https://web--main--{site.apps.workspace}--member{APP_SUFFIX}:{port}/tls-app"
    browser.open(app_url)
    assert "tls-app" in json.loads(browser.driver.find_element("tag name", "body").text)["line"]
    names = [c["name"] for c in browser.cookies(app_url)]
    assert names and all(n.startswith("__Host-coder_subdomain_app_session_token_") for n in names), names
