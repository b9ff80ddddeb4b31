"""The nearest region: ``/latency-check`` on coderd and on a workspace proxy (Coder's
``coderd/latencycheck.go``), and ``coder ping|ssh|port-forward --region`` choosing the
region with the lowest measured latency, through a real proxy process to a real agent;
regions that must not be used (failing TLS verification, redirecting elsewhere) are
unhealthy, never followed."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from appliance.sdk import relay, types
from appliance.sdk.client import Client
from appliance.sdk.errors import APIError

from server.wsproxy.server import SIGNED_TOKEN_PARAM

from tests.kit.agent import REPO, cli_config, coder_cli, read_until, start_agent, wait_for, workspace_with_agent
from tests.kit.coderd import create_another_user, raw, start_proxy
from tests.kit.postgres import free_port
from tests.kit.tcpproxy import TCPProxy, echo_once, end, pipe
from tests.kit.regions import register_redirecting

DELAY = 0.25  # what the slow road to the primary adds to each answer


class SlowRoad(TCPProxy):
    """coderd far away: each answer from it waits ``DELAY``; the start of each request
    through it is kept (to see which streams went this way)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.requests: list[bytes] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        host, _, port = self.upstream.rpartition(":")
        far = socket.create_connection((host, int(port)))
        threading.Thread(target=self._upload, args=(conn, far), daemon=True).start()
        try:
            while data := far.recv(65536):
                time.sleep(DELAY)
                conn.sendall(data)
        except OSError:
            pass
        end(conn)

    def _upload(self, conn: socket.socket, far: socket.socket) -> None:
        self.requests.append(conn.recv(4096, socket.MSG_PEEK))
        pipe(conn, far)


@pytest.fixture(scope="module")
def near(shared_coderd, shared_owner, tmp_path_factory):
    """A workspace whose real agent is connected, a real proxy "near" for it, and a CLI
    logged in to coderd through the slow road."""
    ws, agent = workspace_with_agent(shared_owner, shared_coderd.dsn)
    process = start_agent(shared_coderd.url, agent.token)
    made = shared_owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(
        name="near", display_name="Near"))
    proc, url = start_proxy(shared_coderd, made.proxy_token)
    road = SlowRoad(shared_coderd.url)
    slow = type("Slow", (), {"url": road.url, "token": shared_owner.token})
    config = cli_config(tmp_path_factory.mktemp("cli"), slow)
    try:
        wait_for(lambda: shared_owner.workspace_proxy("near").healthy, what="registered")
        wait_for(lambda: shared_owner.workspace_agent(agent.id).status == "connected",
                 what="agent connected")
        yield ws, config, road, url, agent.id
    finally:
        road.stop()
        proc.terminate()
        proc.communicate(timeout=20)
        process.stop()


def test_latency_check_answers_empty_with_only_the_headers_timing_needs(shared_coderd, near):
    for base in (shared_coderd.url, near[3]):
        resp = requests.get(base + "/latency-check", headers={"Origin": "http://elsewhere"},
                            timeout=10)
        assert (resp.status_code, resp.content) == (200, b""), base
        assert resp.headers["Timing-Allow-Origin"] == "*"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["Cache-Control"] == "no-store"
        assert "Access-Control-Allow-Credentials" not in resp.headers
        assert "Set-Cookie" not in resp.headers


def test_auto_takes_the_nearest_region_and_remembers_it(near):
    ws, config, road, proxy_url, _ = near
    pinged = coder_cli(config, "ping", ws.name, "-n", "2", "--wait", "0.05")
    assert pinged.returncode == 0, pinged.stderr
    first, *rest = pinged.stdout.splitlines()
    assert first.startswith("Region: Near (near), latency "), first
    pongs = [line for line in rest if line.startswith("pong")]
    assert len(pongs) == 2 and all("proxied via workspace proxy near in" in p for p in pongs)

    cached = json.loads((config / "regions.json").read_text())
    assert cached["url"] == road.url
    figures = {r["name"]: r["latency"] for r in cached["regions"]}
    assert figures["near"] < DELAY <= figures["primary"], figures

    road.requests.clear()
    shell = coder_cli(config, "ssh", ws.name, "--", "echo through-the-proxy")
    assert (shell.returncode, shell.stdout) == (0, "through-the-proxy\n"), shell.stderr
    assert not [r for r in road.requests if b"/connect" in r]  # the stream went the near way

    primary = coder_cli(config, "ping", ws.name, "-n", "1", "--region", "primary")
    assert primary.returncode == 0, primary.stderr
    assert primary.stdout.startswith("Region: Default (primary), latency ") and "via coderd relay" in primary.stdout

    # The cache is what decides within its minutes: the proxy marked unhealthy there...
    for region in cached["regions"]:
        if region["name"] == "near":
            region.update(latency=None, problem="marked by the test")
    (config / "regions.json").write_text(json.dumps(cached))
    auto = coder_cli(config, "ping", ws.name, "-n", "1")
    assert auto.returncode == 0 and "via coderd relay" in auto.stdout, auto.stderr
    named = coder_cli(config, "ssh", "--region", "near", ws.name, "--", "true")
    assert named.returncode == 1 and "Traceback" not in named.stderr
    assert named.stderr.startswith("error: region 'near' is unhealthy: marked by the test")
    # ...until it is older than that: measured again.
    cached["measured_at"] -= 3600
    (config / "regions.json").write_text(json.dumps(cached))
    again = coder_cli(config, "ping", ws.name, "-n", "1")
    assert "via workspace proxy near" in again.stdout, again.stdout + again.stderr

    # A token coderd refuses: its own answer, whatever the region; nothing kept.
    (config / "regions.json").unlink()
    for region in ("auto", "primary", "near"):
        refused = coder_cli(config, "--token", "not-a-token", "ping", ws.name, "-n", "1",
                            "--region", region)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.stderr.startswith("error: Invalid API key format"), refused.stderr
    assert not (config / "regions.json").exists()

    unknown = coder_cli(config, "ssh", "--region", "mars", ws.name, "--", "true")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") <= 2, unknown.stderr
    assert "unknown region 'mars'" in unknown.stderr and "near" in unknown.stderr


def test_port_forward_goes_through_the_chosen_region(near):
    ws, config, road, _, _ = near
    echo = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=echo_once, args=(echo,), daemon=True).start()
    local = free_port()
    road.requests.clear()
    forward = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli.main", "--global-config", str(config),
         "port-forward", ws.name, "--region", "near", "--tcp",
         f"{local}:{echo.getsockname()[1]}"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert forward.stdout.readline().startswith(f"Forwarding 127.0.0.1:{local}")
        with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
            conn.sendall(b"near")
            assert conn.recv(10) == b"near"
        assert not [r for r in road.requests if b"/connect" in r]
    finally:
        forward.terminate()
        forward.wait(10)
        echo.close()


def test_the_terminal_at_a_proxy_takes_a_token_coderd_signed_for_it(shared_coderd,
                                                                   shared_owner, near):
    """Coder's ``POST /applications/reconnecting-pty-signed-token``: 200 with
    ``signed_token`` for a terminal URL at a registered proxy; the proxy opens that very
    terminal with it and no session. Refused: another user's agent, no session, a URL at
    coderd itself or at a host coderd did not register, a wrong scheme or path; and at the
    proxy, the token for another terminal or altered."""
    _, _, _, proxy_url, agent_id = near
    reconnect = uuid.uuid4()
    url = (proxy_url.replace("http", "ws", 1) + f"/api/v2/workspaceagents/{agent_id}/pty"
           f"?reconnect={reconnect}&width=100&height=30")
    path = "/api/v2/applications/reconnecting-pty-signed-token"
    body = {"url": url, "agentID": str(agent_id)}
    made = raw(shared_coderd, "POST", path, shared_owner.token, json=body)
    assert made.status_code == 200 and set(made.json()) == {"signed_token"}, made.text
    token = made.json()["signed_token"]
    at_proxy = Client(proxy_url, "")  # no session: the token alone
    terminal = f"/api/v2/workspaceagents/{agent_id}/pty"
    query = {"reconnect": str(reconnect), "width": 100, "height": 30}
    term = relay.open_websocket(at_proxy, terminal, {**query, SIGNED_TOKEN_PARAM: token})
    term.send_text(json.dumps({"data": "stty size\r"}))
    read_until(term, b"30 100")
    term.close()

    member, _ = create_another_user(shared_owner)
    assert raw(shared_coderd, "POST", path, member.token, json=body).status_code == 404
    assert raw(shared_coderd, "POST", path, json=body).status_code == 401
    for wrong, message in (
            (url.replace(proxy_url.split("//")[1], shared_coderd.url.split("//")[1]),
             "Invalid hostname in URL."),
            (url.replace("127.0.0.1", "localhost"), "Invalid hostname in URL."),
            (url.replace("ws://", "http://"), "Invalid URL."),
            (url.replace("/pty", "/connect"), "Invalid URL path.")):
        refused = raw(shared_coderd, "POST", path, shared_owner.token,
                      json={**body, "url": wrong})
        assert (refused.status_code, refused.json()["message"]) == (400, message), wrong
    for changed, mark in (({"width": 101}, token), ({}, token[:-3] + "abc")):
        term = relay.open_websocket(at_proxy, terminal,
                                    {**query, **changed, SIGNED_TOKEN_PARAM: mark})
        with pytest.raises(APIError) as refused:
            term.recv()
        assert refused.value.status == 502, changed


def test_a_region_failing_tls_or_redirecting_is_unhealthy_never_followed(
        shared_coderd, shared_owner, near, tmp_path):
    """A real proxy serving HTTPS with a certificate from a CA: unhealthy for a CLI that does
    not trust the CA (nothing sent over that connection), the way for one that does. A
    registered region whose check redirects to another host: unhealthy, the host never asked."""
    from mirror_tools.ca import CertificateAuthority

    ws, config, _, _, _ = near
    ca = CertificateAuthority.init(tmp_path / "ca")
    bundle = ca.bundle(tmp_path / "ca.pem")
    cert = ca.issue(ips=["127.0.0.1"], name="proxy")
    made = shared_owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="tls"))
    port = free_port()
    proc, _ = start_proxy(shared_coderd, made.proxy_token, CODER_TLS_ADDRESS=f"127.0.0.1:{port}",
                          CODER_ACCESS_URL=f"https://127.0.0.1:{port}",
                          CODER_TLS_CERT_FILE=str(cert.chain_path),
                          CODER_TLS_KEY_FILE=str(cert.key_path))
    _, elsewhere_asked = register_redirecting(shared_coderd.url, shared_owner, "redirecting")
    try:
        wait_for(lambda: shared_owner.workspace_proxy("tls").healthy, what="registered")
        assert shared_owner.workspace_proxy("tls").path_app_url == f"https://127.0.0.1:{port}"
        (config / "regions.json").unlink(missing_ok=True)
        refused = coder_cli(config, "ssh", "--region", "tls", ws.name, "--", "true")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert refused.stderr.startswith("error: region 'tls' is unhealthy: TLS verification "
                                         "failed"), refused.stderr
        redirected = coder_cli(config, "ssh", "--region", "redirecting", ws.name, "--", "true")
        assert "region 'redirecting' is unhealthy: /latency-check answered 302" in \
            redirected.stderr
        assert elsewhere_asked == []
        auto = coder_cli(config, "ping", ws.name, "-n", "1")
        assert auto.returncode == 0 and auto.stdout.startswith("Region: Near"), auto.stdout

        (config / "regions.json").unlink()
        trusted = coder_cli(config, "--ca-cert", str(bundle), "ping", ws.name, "-n", "1",
                            "--region", "tls")
        assert trusted.returncode == 0, trusted.stderr
        assert "proxied via workspace proxy tls in" in trusted.stdout
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    half, _ = start_proxy(shared_coderd, made.proxy_token, CODER_TLS_CERT_FILE=str(cert.chain_path))
    output = half.communicate(timeout=30)[0]
    assert (half.returncode, output) == (
        2, "coderd wsproxy server: --tls-cert-file and --tls-key-file go together\n")
