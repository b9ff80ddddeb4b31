"""``coderd wsproxy server``: a workspace proxy process (Coder's ``coder wsproxy server``).

It holds no database connection and no DSN: everything it knows comes from coderd over
HTTP(S) with its proxy token. It registers its URLs and version, registers again every
``HEARTBEAT_SECONDS`` (its heartbeat: coderd shows it unreachable after three missed
ones) and deregisters when stopped, so ``/regions`` follows it. What it serves for now:
``/healthz``.
"""
from __future__ import annotations

import logging
import threading

from appliance.sdk import types
from appliance.sdk.client import APIError
from appliance.sdk.wsproxysdk import ProxyClient

from ..api.workspaceproxies import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)


class WorkspaceProxyServer:
    def __init__(self, client: ProxyClient, access_url: str, wildcard_hostname: str,
                 version: str):
        self.client = client
        self.registration = types.RegisterWorkspaceProxyRequest(
            access_url=access_url, wildcard_hostname=wildcard_hostname, version=version)
        self.app_security_key = ""
        self._stopped = threading.Event()

    def register(self) -> None:
        """Register once (raising what coderd answers: a wrong token stops the start)."""
        self.app_security_key = self.client.register(self.registration).app_security_key

    def heartbeat_forever(self) -> None:
        """Register again every heartbeat until stopped; a failure is logged and retried."""
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.register()
            except (APIError, OSError) as exc:
                log.warning("wsproxy: registering with coderd failed: %s", exc)

    def stop(self) -> None:
        """Stop the heartbeat and tell coderd at once (it shows the proxy unreachable)."""
        self._stopped.set()
        try:
            self.client.deregister()
        except (APIError, OSError) as exc:
            log.warning("wsproxy: deregistering from coderd failed: %s", exc)

    def wsgi(self, environ: dict, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"404: not served by this workspace proxy yet\n"]
