"""Workspace proxies' API: /workspaceproxies (owners create, everyone reads), /regions, and
what a proxy calls with its token (register, deregister, issue-signed-app-token), checked
against Coder's JSON (codersdk.WorkspaceProxy, Region, UpdateWorkspaceProxyResponse;
wsproxysdk's RegisterWorkspaceProxyResponse and IssueSignedAppTokenResponse) and against
callers who must not get through."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import uuid

import pytest
import requests
import websocket

from appliance.sdk import rawstream, relay, types
from appliance.sdk.client import Client
from appliance.sdk.errors import APIError
from appliance.sdk.wsproxysdk import ProxyClient
from server.relay import appauth
from server.relay.registry import RelayAuthError, dial_handshake
from server.wsproxy import apptoken

from tests.kit.agent import cli_config, coder_cli, read_until, start_agent, wait_for, workspace_with_agent
from tests.kit.coderd import create_another_user, create_first_user, raw, running_coderd, start_proxy
from tests.kit.provisioning import sql
from tests.kit.tcpproxy import echo_once

# codersdk.Region, and WorkspaceProxy's own fields on top of it
REGION_FIELDS = {"id", "name", "display_name", "icon_url", "healthy", "path_app_url",
                 "wildcard_hostname"}
PROXY_FIELDS = REGION_FIELDS | {"status", "created_at", "updated_at", "deleted"}
STATUS_FIELDS = {"status", "report", "checked_at"}
PROXY_HEADER = "Coder-External-Proxy-Token"


@pytest.fixture(scope="module")
def created(shared_coderd, shared_owner):
    """A proxy named "sydney" and its token, as Coder's POST answers it."""
    resp = raw(shared_coderd, "POST", "/api/v2/workspaceproxies", shared_owner.token,
               json={"name": "sydney", "display_name": "Sydney", "icon": "/emojis/1f1e6.png"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def proxy_call(coderd, path: str, token: str, body: dict) -> requests.Response:
    return raw(coderd, "POST", f"/api/v2/workspaceproxies/me/{path}",
               headers={PROXY_HEADER: token}, json=body)


def test_an_owner_creates_a_proxy_and_sees_its_token_once(shared_coderd, shared_owner, created):
    assert set(created) == {"proxy", "proxy_token"}
    body = created["proxy"]
    assert set(body) == PROXY_FIELDS and set(body["status"]) == STATUS_FIELDS, body
    assert (body["name"], body["display_name"], body["icon_url"]) == \
        ("sydney", "Sydney", "/emojis/1f1e6.png")
    assert body["status"]["status"] == "unregistered" and body["healthy"] is False
    assert body["path_app_url"] == "" and body["deleted"] is False
    assert created["proxy_token"].startswith(body["id"] + ":")

    listed = raw(shared_coderd, "GET", "/api/v2/workspaceproxies", shared_owner.token).json()
    assert [p["name"] for p in listed] == ["sydney"]
    for key in (body["id"], "sydney"):
        one = raw(shared_coderd, "GET", f"/api/v2/workspaceproxies/{key}", shared_owner.token)
        assert one.status_code == 200 and "proxy_token" not in one.json()
    again = raw(shared_coderd, "POST", "/api/v2/workspaceproxies", shared_owner.token,
                json={"name": "Sydney"})
    assert again.status_code == 409 and again.json()["validations"][0]["field"] == "name"
    bad = raw(shared_coderd, "POST", "/api/v2/workspaceproxies", shared_owner.token,
              json={"name": "no spaces"})
    assert bad.status_code == 400 and bad.json()["validations"][0]["field"] == "name"


def test_register_makes_it_healthy_in_regions_and_deregister_unreachable(shared_coderd,
                                                                         shared_owner, created):
    proxy = ProxyClient(shared_coderd.url, created["proxy_token"])
    answer = proxy.register(types.RegisterWorkspaceProxyRequest(
        access_url="http://127.0.0.1:1/", wildcard_hostname="*.sydney.test", version="v2.0.0"))
    build = shared_owner.build_info()
    assert answer.deployment_id == uuid.UUID(build.deployment_id) and answer.app_security_key

    regions = raw(shared_coderd, "GET", "/api/v2/regions", shared_owner.token).json()["regions"]
    assert all(set(r) == REGION_FIELDS for r in regions)
    primary, sydney = regions
    assert (primary["name"], primary["healthy"], primary["path_app_url"]) == \
        ("primary", True, shared_coderd.url)
    assert primary["id"] == build.deployment_id
    assert (sydney["name"], sydney["healthy"], sydney["path_app_url"],
            sydney["wildcard_hostname"]) == ("sydney", True, "http://127.0.0.1:1", "*.sydney.test")
    assert shared_owner.workspace_proxy("sydney").status.status == "ok"

    proxy.deregister()
    assert shared_owner.workspace_proxy("sydney").status.status == "unreachable"
    assert [r.healthy for r in shared_owner.regions().regions] == [True, False]
    proxy.register(types.RegisterWorkspaceProxyRequest(access_url="http://127.0.0.1:1"))
    assert shared_owner.workspace_proxy("sydney").healthy


def test_members_read_proxies_but_never_manage_them(shared_coderd, shared_owner, created):
    member, _ = create_another_user(shared_owner)
    assert [r.name for r in member.regions().regions][0] == "primary"
    assert [p.name for p in member.workspace_proxies()] == ["sydney"]
    proxy_id = created["proxy"]["id"]
    for method, path, body in (
            ("POST", "/api/v2/workspaceproxies", {"name": "members-own"}),
            ("PATCH", f"/api/v2/workspaceproxies/{proxy_id}",
             {"id": proxy_id, "name": "stolen", "display_name": "x", "icon": "",
              "regenerate_token": True}),
            ("DELETE", f"/api/v2/workspaceproxies/{proxy_id}", None)):
        resp = raw(shared_coderd, method, path, member.token, json=body)
        assert resp.status_code == 403, (method, resp.text)
        assert "proxy_token" not in resp.text
        # Without a session: 401, whatever the route.
        assert raw(shared_coderd, method, path, json=body).status_code == 401
    assert raw(shared_coderd, "GET", "/api/v2/regions").status_code == 401
    assert [p.name for p in shared_owner.workspace_proxies()] == ["sydney"]


def test_a_proxy_token_is_no_session_and_a_session_no_proxy_token(shared_coderd, shared_owner,
                                                                   created):
    token = created["proxy_token"]
    for path in ("/api/v2/users/me", "/api/v2/workspaceproxies", "/api/v2/regions"):
        assert raw(shared_coderd, "GET", path, token).status_code == 401
        assert raw(shared_coderd, "GET", path, headers={PROXY_HEADER: token}).status_code == 401
    body = {"access_url": "http://127.0.0.1:1"}
    assert proxy_call(shared_coderd, "register", shared_owner.token, body).status_code == 401
    assert raw(shared_coderd, "POST", "/api/v2/workspaceproxies/me/register", shared_owner.token,
               json=body).status_code == 401
    wrong = token.rpartition(":")[0] + ":wrong"
    assert proxy_call(shared_coderd, "register", wrong, body).status_code == 401
    assert proxy_call(shared_coderd, "register", "not-a-token", body).status_code == 401
    bad_url = proxy_call(shared_coderd, "register", token, {"access_url": "ftp://x"})
    assert bad_url.status_code == 400 and bad_url.json()["validations"][0]["field"] == "access_url"


def test_app_tokens_answer_only_for_what_the_session_may_open(shared_coderd, shared_owner):
    """The proxy asks for a user's app with their session, a member's, none and its own
    token; only the first is signed, for that app and proxy, with a key only coderd holds
    (not the one the proxy's registration gave)."""
    member = shared_owner
    member_user = shared_owner.user()
    other, _ = create_another_user(shared_owner)
    ws, agent = workspace_with_agent(member, shared_coderd.dsn,
                                     apps=[{"slug": "web", "url": "http://localhost:8080/base"}])
    made = shared_owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="tokyo"))
    proxy = ProxyClient(shared_coderd.url, made.proxy_token)
    key = proxy.register(types.RegisterWorkspaceProxyRequest(
        access_url="http://127.0.0.1:2")).app_security_key
    app = types.WorkspaceAppRequest(access_method="path", username_or_id=member_user.username,
                                    workspace_name_or_id=ws.name, app_slug_or_port="web")

    signed = proxy.issue_signed_app_token(app, member.token)
    wanted = {"access_method": "path", "username_or_id": member_user.username,
              "workspace_name_or_id": ws.name, "agent_name_or_id": "", "app_slug_or_port": "web"}
    [(secret,)] = sql(shared_coderd.dsn, "SELECT value FROM deployment_config WHERE key = %s",
                      (apptoken.KEY_NAME,))
    grant_key = apptoken.grant_key(secret, made.proxy.id)
    claims = apptoken.verify(grant_key, signed, {"request": wanted})
    assert claims is not None and claims == apptoken.claims(signed, {"request": wanted})
    assert (claims["agent_id"], claims["target"], claims["base_path"], claims["user_id"]) == \
        (str(agent.id), "tcp:127.0.0.1:8080", "/base", str(member_user.id))
    assert key != grant_key and apptoken.verify(key, signed, {"request": wanted}) is None
    # Replayed for another app, or forged with another key, or altered: refused.
    assert apptoken.verify(grant_key, signed,
                           {"request": {**wanted, "app_slug_or_port": "8080"}}) is None
    assert apptoken.verify(grant_key + "x", signed, {"request": wanted}) is None
    assert apptoken.verify(grant_key, signed[:-2] + ("A" if signed[-2] != "A" else "B")
                           + signed[-1], {"request": wanted}) is None
    assert apptoken.verify(grant_key, signed, {"request": wanted}, max_age=-1) is None  # expired

    body = {"app_request": wanted, "session_token": other.token}
    for session, status in ((other.token, 404), ("", 401), (made.proxy_token, 401),
                            (member.token[:-1] + ("x" if member.token[-1] != "x" else "y"), 401)):
        resp = proxy_call(shared_coderd, "issue-signed-app-token", made.proxy_token,
                          {**body, "session_token": session})
        assert resp.status_code == status, (session[:8], resp.text)
        assert "signed_token_str" not in resp.text
    port = proxy_call(shared_coderd, "issue-signed-app-token", made.proxy_token,
                      {"app_request": {**wanted, "app_slug_or_port": "9000"},
                       "session_token": other.token})
    assert port.status_code == 404  # another user's port: never
    # A user's session cannot ask for tokens; a deleted proxy's token asks nothing more.
    assert raw(shared_coderd, "POST", "/api/v2/workspaceproxies/me/issue-signed-app-token",
               other.token, json={**body, "session_token": member.token}).status_code == 401
    shared_owner.delete_workspace_proxy("tokyo")
    gone = proxy_call(shared_coderd, "issue-signed-app-token", made.proxy_token,
                      {**body, "session_token": member.token})
    assert gone.status_code == 401
    assert "tokyo" not in [p.name for p in shared_owner.workspace_proxies()]


def test_the_cli_creates_lists_and_deletes_proxies(shared_coderd, shared_owner, tmp_path):
    """``coder wsproxy create|list|delete``, as Coder's prints them; a member is refused with
    a one-line error, and the token never appears in ``list``."""
    (tmp_path / "owner").mkdir(), (tmp_path / "member").mkdir()
    owner_config = cli_config(tmp_path / "owner", shared_owner)
    made = coder_cli(owner_config, "wsproxy", "create", "--name", "cli-proxy",
                     "--display-name", "CLI")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Workspace Proxy 'cli-proxy' created successfully.")
    token = made.stdout.rsplit("Token: ", 1)[1].strip()
    ProxyClient(shared_coderd.url, token).register(
        types.RegisterWorkspaceProxyRequest(access_url="http://127.0.0.1:3"))
    only = coder_cli(owner_config, "wsproxy", "create", "--name", "cli-two", "--only-token")
    assert only.returncode == 0 and only.stdout.count(":") == 1, only.stdout

    listed = coder_cli(owner_config, "wsproxy", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "URL", "PROXY", "STATUS"]  # Coder's "proxy status"
    row = next(line.split() for line in lines if line.startswith("cli-proxy"))
    assert row == ["cli-proxy", "http://127.0.0.1:3", "ok"]
    assert token.split(":")[1] not in listed.stdout
    as_json = coder_cli(owner_config, "wsproxy", "ls", "-o", "json")
    assert {p["name"] for p in json.loads(as_json.stdout)} >= {"cli-proxy", "cli-two"}

    member, _ = create_another_user(shared_owner)
    member_config = cli_config(tmp_path / "member", member)
    refused = coder_cli(member_config, "wsproxy", "create", "--name", "mine")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "Forbidden" in refused.stderr
    assert coder_cli(member_config, "wsproxy", "delete", "--yes", "cli-proxy").returncode != 0

    gone = coder_cli(owner_config, "wsproxy", "delete", "--yes", "cli-proxy")
    assert (gone.returncode, gone.stdout) == (0, "Workspace proxy 'cli-proxy' deleted successfully\n")
    missing = coder_cli(owner_config, "wsproxy", "delete", "--yes", "cli-proxy")
    assert missing.returncode != 0 and "not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) <= 2  # message and hint, no traceback


def test_a_proxy_process_registers_heartbeats_and_deregisters_when_stopped(shared_coderd,
                                                                           shared_owner):
    made = shared_owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="process"))
    proc, url = start_proxy(shared_coderd, made.proxy_token)
    try:
        wait_for(lambda: shared_owner.workspace_proxy("process").healthy, what="registered")
        assert requests.get(url + "/healthz", timeout=5).text == "OK"
        region = next(r for r in shared_owner.regions().regions if r.name == "process")
        assert (region.healthy, region.path_app_url) == (True, url)
        proxy = raw(shared_coderd, "GET", "/api/v2/workspaceproxies/process",
                    shared_owner.token).json()
        assert proxy["status"]["status"] == "ok"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, output
    assert shared_owner.workspace_proxy("process").status.status == "unreachable"
    assert not shared_owner.workspace_proxy("process").healthy

    # A wrong token: a one-line refusal, the token not echoed, and no server.
    wrong = made.proxy_token.rpartition(":")[0] + ":not-the-secret"
    proc, _ = start_proxy(shared_coderd, wrong)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1 and "Traceback" not in output and "not-the-secret" not in output
    assert "coderd refused the registration: Invalid workspace proxy token." in output


def test_an_app_and_streams_through_the_proxy_to_an_agent_held_by_coderd(shared_coderd,
                                                                         shared_owner):
    """A real agent connected to coderd, a real proxy process: a path app, ``coder ssh``'s
    stream and a port's reach the agent through the proxy and coderd's relay listener;
    another member's session is refused at coderd, and the listener opens nothing without
    a fresh grant for that very stream (altered, for another target, or without the
    proxy's relay key)."""
    echo = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=echo_once, args=(echo,), daemon=True).start()
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PathEcho)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    ws, agent = workspace_with_agent(shared_owner, shared_coderd.dsn, apps=[
        {"slug": "web", "url": f"http://localhost:{web.server_port}/base"}])
    process = start_agent(shared_coderd.url, agent.token)
    made = shared_owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="streams"))
    proc, url = start_proxy(shared_coderd, made.proxy_token)
    path = f"/api/v2/workspaceagents/{agent.id}/connect"
    try:
        wait_for(lambda: shared_owner.workspace_proxy("streams").healthy, what="registered")
        app_url = f"{url}/@admin/{ws.name}/apps/web/hello?x=1"
        wait_for(lambda: requests.get(app_url, headers={"Coder-Session-Token": shared_owner.token},
                                      timeout=10).status_code == 200, what="the app")
        page = requests.get(app_url, headers={"Coder-Session-Token": shared_owner.token},
                            timeout=10)
        assert (page.status_code, page.text) == (200, "GET /base/hello?x=1")
        ssh = rawstream.connect_to_agent(url, path, {"target": "ssh"}, shared_owner.token)
        assert ssh.recv(8) == b"SSH-2.0-"
        ssh.close()
        port = rawstream.connect(url, path, {"target": f"tcp:{echo.getsockname()[1]}"},
                                 shared_owner.token)
        port.sendall(b"through the proxy")
        assert port.recv(100) == b"through the proxy"
        port.close()
        term = relay.reconnecting_pty(Client(url, shared_owner.token), agent.id, uuid.uuid4(),
                                      100, 30)
        term.send_text(json.dumps({"data": "stty size\r"}))
        read_until(term, b"30 100")
        term.close()
        # The terminal with this host's cookie, opened by a page of another origin: 403.
        cookie = f"{appauth.ticket_cookie('http', '')}={shared_owner.token}"
        pty_url = (url.replace("http", "ws", 1) + f"/api/v2/workspaceagents/{agent.id}"
                   f"/pty?reconnect={uuid.uuid4()}")
        with pytest.raises(websocket.WebSocketBadStatusException) as foreign:
            websocket.create_connection(pty_url, origin="http://evil.example", timeout=10,
                                        cookie=cookie)
        assert foreign.value.status_code == 403
        own = websocket.create_connection(pty_url, origin=url, timeout=10,
                                          cookie=cookie)
        own.close()  # from the proxy's own pages, the cookie serves

        member, _ = create_another_user(shared_owner)
        for token, status in ((member.token, 404), ("", 401)):
            other = requests.get(app_url, headers={"Coder-Session-Token": token}, timeout=10)
            assert other.status_code == status and "/base" not in other.text
        with pytest.raises(APIError) as refused:
            rawstream.connect(url, path, {"target": "ssh"}, member.token)
        assert refused.value.status == 404
        with pytest.raises(APIError) as anonymous:
            rawstream.connect(url, path, {"target": "ssh"}, "")
        assert anonymous.value.status == 401

        client = ProxyClient(shared_coderd.url, made.proxy_token)
        keys = client.register(types.RegisterWorkspaceProxyRequest(access_url=url))
        grant = client.issue_signed_connect_token(agent.id, "ssh", shared_owner.token)
        claims = apptoken.claims(grant, {"target": "ssh"})
        relay_address = claims["relay_address"]
        assert _dial(relay_address, keys.relay_key, agent.id, "ssh", made, grant) == {"ok": True}
        # A grant the proxy signs itself, with every key it was given: refused.
        forged = apptoken.sign(keys.app_security_key, {**claims, "target": "tcp:22"})
        for key, target, token in ((keys.relay_key, "tcp:22", grant),  # another target
                                   (keys.relay_key, "ssh", grant[:-3] + "abc"),  # altered
                                   (keys.relay_key, "tcp:22", forged),
                                   ("not-the-key", "ssh", grant)):  # no relay key
            with pytest.raises((RelayAuthError, OSError, ValueError)):
                _dial(relay_address, key, agent.id, target, made, token)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
        process.stop()
        echo.close()
        web.shutdown()


def _dial(relay: str, key: str, agent_id, target: str, made, grant: str) -> dict:
    host, _, port = relay.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        answer = dial_handshake(sock, key, agent_id, target, proxy_id=str(made.proxy.id),
                                grant=grant)
    return {k: v for k, v in answer.items() if k != "mac"}


class _PathEcho(http.server.BaseHTTPRequestHandler):
    """An app in the workspace that answers with the request line it got."""

    def do_GET(self):
        body = f"{self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_streams_through_the_proxy_over_relay_tls(pg_server, pg_template, tmp_path):
    """A coderd whose relay listener speaks TLS (certificate from the appliance CA): a proxy
    given the CA reaches the agent through it."""
    from mirror_tools.ca import CertificateAuthority

    ca = CertificateAuthority.init(tmp_path / "ca")
    bundle = ca.bundle(tmp_path / "ca.pem")
    cert = ca.issue(ips=["127.0.0.1"], name="relay")
    tls = {"CODER_RELAY_TLS_CERT_FILE": str(cert.chain_path),
           "CODER_RELAY_TLS_KEY_FILE": str(cert.key_path), "CODER_RELAY_TLS_CA_FILE": str(bundle)}
    with running_coderd(pg_server, pg_template, env=tls) as coderd:
        owner, _ = create_first_user(coderd)
        ws, agent = workspace_with_agent(owner, coderd.dsn)
        process = start_agent(coderd.url, agent.token)
        made = owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="tls"))
        proc, url = start_proxy(coderd, made.proxy_token, CODER_RELAY_TLS_CA_FILE=str(bundle))
        path = f"/api/v2/workspaceagents/{agent.id}/connect"
        try:
            wait_for(lambda: owner.workspace_proxy("tls").healthy, what="registered")
            ssh = rawstream.connect_to_agent(url, path, {"target": "ssh"}, owner.token)
            assert ssh.recv(8) == b"SSH-2.0-"
            ssh.close()
        finally:
            proc.terminate()
            proc.communicate(timeout=20)
            process.stop()
