"""Workspace apps as a browser meets them, for the app proxy's security tests.

A deployment of two coderd processes sharing one database (one with the
defaults, one with both ``CODER_DANGEROUS_*`` path-app flags and short app
tickets), a member's workspace built by real terraform whose agent runs here,
and a real HTTP server "inside the workspace" that answers every request with
what it received, byte for byte, so a test sees exactly what reached the app.

The test's HTTP client resolves ``*.apps.test`` to 127.0.0.1 (tests/kit/browser.py's
``loopback_names(APPS_DOMAIN)``), as the deployment's wildcard DNS record would,
and keeps cookies per host as a browser does.
"""
from __future__ import annotations

import http.client
import http.server
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from appliance.sdk.client import Client

from tests.kit.coderd import FIRST_USER_PASSWORD, Coderd, create_another_user, create_first_user, start_coderd
from tests.kit.postgres import free_port
from tests.kit.provisioning import Rows
from tests.kit.relay import TEMPLATE as RELAY_TEMPLATE, AgentProcess, wait_connected

APPS_DOMAIN = "apps.test"
SUFFIX = "." + APPS_DOMAIN
APP_PORT = free_port()
MEMBER_PASSWORD = "MemberSecurePassword!"
# The relay tests' template (its agent, and the box counted by start_count), with these apps.
_HEAD, _, _APPS_AND_BOX = RELAY_TEMPLATE.partition('resource "coder_app"')
_BOX = 'resource "null_resource"' + _APPS_AND_BOX.partition('resource "null_resource"')[2]
_APPS = (("web", "base", "owner"), ("auth", "auth", "authenticated"), ("pub", "pub", "public"))
TEMPLATE = _HEAD + "".join(f'''resource "coder_app" "{slug}" {{
  agent_id = coder_agent.main.id
  slug     = "{slug}"
  url      = "http://localhost:{APP_PORT}/{path}"
  share    = "{share}"
}}
''' for slug, path, share in _APPS) + _BOX
# What an app answers at .../set-cookie: coderd's own cookie names among its own.
HOSTILE_HEADERS = [("Set-Cookie", "coder_session_token=planted; Path=/"),
                   ("Set-Cookie", "Coder_Session_Token=planted2; Path=/"),
                   ("Set-Cookie", "coder_subdomain_app_session_token_0123=planted; Path=/"),
                   ("Set-Cookie", "app_pref=dark; Path=/"),
                   ("Access-Control-Allow-Origin", "http://evil.example"),
                   ("Access-Control-Allow-Credentials", "true"),
                   ("X-Content-Type-Options", "sniff-please")]


class EchoApp:
    """An HTTP server answering each request with JSON of what it received: the request
    line as sent, the header lines in order, the body. It records the request lines."""

    def __init__(self, port: int):
        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                seen.append(self.requestline)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.dumps({"line": self.requestline, "headers": list(self.headers.items()),
                                   "body": self.rfile.read(length).decode("latin-1")}).encode()
                if self.path.split("?")[0].endswith("/smuggle"):
                    return self.smuggle(self.path.split("?")[1])
                self.send_response(200)
                if self.path.split("?")[0].endswith("/set-cookie"):
                    for name, value in HOSTILE_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def smuggle(self, how: str):
                """An answer framed two ways: its chunked body holds a whole second response
                (``how``: "te-cl" with a short Content-Length too, "cl-cl" two lengths)."""
                inner = (b"HTTP/1.1 200 OK\r\nSet-Cookie: coder_session_token=planted\r\n"
                         b"Content-Length: 8\r\n\r\nsmuggled")
                body = b"short" + inner
                self.send_response(200)
                if how == "te-cl":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Content-Length", "5")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
                else:
                    self.send_header("Content-Length", "5")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reached(self, marker: str) -> bool:
        return any(marker in line for line in self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def echo(self) -> dict:
        return json.loads(self.body)


def raw_request(url: str, target: str, headers: list[tuple[str, str]] = (),
                method: str = "GET") -> Response:
    """One request sent exactly as given: the target unnormalised, a header as often as
    it is listed (what ``requests`` cannot do)."""
    host, port = url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if not any(k.lower() == "host" for k, _ in headers):
            conn.putheader("Host", f"{host}:{port}")
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def browser(coderd: Coderd, email: str, password: str) -> requests.Session:
    """A client that logs in as the dashboard does: coderd sets its session cookie."""
    session = requests.Session()
    r = session.post(coderd.url + "/api/v2/users/login", json={"email": email, "password": password},
                     timeout=15)
    assert r.status_code == 201, r.text
    assert session.cookies.get("coder_session_token")
    return session


@dataclass
class AppDeployment:
    strict: Coderd        # the defaults
    dangerous: Coderd     # both dangerous path-app flags, 2 s app tickets
    admin: Client         # the site owner
    member: Client        # owns the workspace
    other: Client         # another member
    workspace: str
    other_workspace: str  # other's, built from the same template, its agent not running
    app: EchoApp
    agent: AgentProcess
    procs: list = field(default_factory=list)

    def path(self, kind: str, name: str, rest: str = "", workspace: str = "") -> str:
        return f"/@member/{workspace or self.workspace}/{kind}/{name}/{rest}"

    def app_url(self, coderd: Coderd, part: str, user: str = "member", workspace: str = "") -> str:
        port = coderd.url.rsplit(":", 1)[1]
        return f"http://{part}--main--{workspace or self.workspace}--{user}{SUFFIX}:{port}"

    def stop(self) -> None:
        self.agent.stop()
        self.app.stop()
        for c in (self.dangerous, self.strict):
            c.stop()


def _build(dsn: str, owner_id, org_id, version_id=None) -> tuple[str, str, uuid.UUID]:
    """A workspace for ``owner_id`` (the template imported first when no version is given):
    its name, its agent's token, the version."""
    rows = Rows(dsn, owner_id, org_id)
    try:
        if version_id is None:
            version_id, job_id = rows.import_version({"main.tf": TEMPLATE})
            assert rows.wait(job_id)["job_status"] == "succeeded"
            template_id = rows.template(version_id)
        else:
            template_id = rows.q("SELECT template_id FROM template_versions WHERE id = %s",
                                 (version_id,))[0]["template_id"]
        workspace_id = rows.workspace(template_id)
        _, job_id = rows.build(workspace_id, version_id, "start")
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
        token = rows.q("""SELECT a.auth_token FROM workspace_agents a JOIN workspace_resources r
                          ON r.id = a.resource_id WHERE r.job_id = %s""", (job_id,))[0]["auth_token"]
        name = rows.q("SELECT name FROM workspaces WHERE id = %s", (workspace_id,))[0]["name"]
    finally:
        rows.conn.close()
    return name, str(token), version_id


def start_deployment(dsn: str, provider_mirror: str, home: Path) -> AppDeployment:
    wildcard = {"CODER_WILDCARD_ACCESS_URL": "*" + SUFFIX}
    strict = start_coderd(dsn, env={**wildcard, "CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                    "CODER_PROVISIONER_DAEMONS": "1"})
    dangerous = start_coderd(dsn, env={**wildcard, "CODER_DANGEROUS_ALLOW_PATH_APP_SHARING": "true",
                                       "CODER_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS": "true",
                                       "CODER_APP_TICKET_LIFETIME": "2s"})
    admin, first = create_first_user(strict)
    member, member_user = create_another_user(admin, username="member", password=MEMBER_PASSWORD)
    other, other_user = create_another_user(admin, username="other", password=MEMBER_PASSWORD)
    workspace, token, version = _build(dsn, member_user.id, first.organization_id)
    other_workspace, _, _ = _build(dsn, other_user.id, first.organization_id, version)
    app = EchoApp(APP_PORT)
    agent = AgentProcess(strict.url, token, home).start()
    wait_connected(member, _agent_id(member, workspace))
    return AppDeployment(strict, dangerous, admin, member, other, workspace, other_workspace, app, agent)


def _agent_id(client: Client, workspace: str) -> uuid.UUID:
    ws = client.workspace_by_owner_and_name("me", workspace)
    return next(a.id for r in ws.latest_build.resources for a in r.agents)


__all__ = ["APP_PORT", "APPS_DOMAIN", "FIRST_USER_PASSWORD", "MEMBER_PASSWORD", "SUFFIX",
           "AppDeployment", "EchoApp", "Response", "browser", "raw_request", "start_deployment"]
