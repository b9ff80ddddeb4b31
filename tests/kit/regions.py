"""Regions for the region tests: small HTTP hosts standing for a proxy's ``/latency-check``,
and a region coderd registered whose check redirects elsewhere (never to be followed)."""
from __future__ import annotations

import http.server
import threading

from appliance.sdk import types
from appliance.sdk.wsproxysdk import ProxyClient


class _Answer(http.server.BaseHTTPRequestHandler):
    answer = None
    asked: list[str]

    def do_GET(self):
        self.asked.append(self.path)
        type(self).answer(self)

    def log_message(self, *args):
        pass


def serve(answer) -> tuple[str, list[str]]:
    """A host answering every GET with ``answer(handler)``, and the paths it was asked."""
    asked: list[str] = []
    handler = type("Handler", (_Answer,), {"answer": staticmethod(answer), "asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", asked


def answer_ok(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def register_redirecting(coderd_url: str, owner, name: str) -> tuple[str, list[str]]:
    """A region coderd registered whose check redirects to another host; its URL, and what
    that other host was asked."""
    elsewhere, asked = serve(answer_ok)

    def redirect(handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", elsewhere + "/latency-check")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    url, _ = serve(redirect)
    made = owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name=name))
    ProxyClient(coderd_url, made.proxy_token).register(
        types.RegisterWorkspaceProxyRequest(access_url=url))
    return url, asked
