"""A real browser for tests: Debian's ``chromium``, headless, driven by Selenium.

Attacks that are pages (a sibling subdomain posting a form, opening a websocket,
tossing a cookie) and the dashboard are tested in the browser users have, not by
requests that imitate one: what a browser sends (``Origin``, ``Sec-Fetch-*``,
which cookies for which host) is the browser's decision.

Nothing is downloaded: chromedriver and chromium are Debian's (``/usr/bin``, from
the ``chromium chromium-driver`` packages in ``dev``'s TEST_PACKAGES), named to
Selenium explicitly, so its Selenium Manager (which would fetch a driver and a
browser) is never run; chromium uses no proxy, resolves ``coder.test`` and
``*.coder.test`` to 127.0.0.1 and no other name at all, and has its background
services (updates, sync, metrics) off.

A test names coderd ``http(s)://coder.test:PORT`` (``CODER_ACCESS_URL``) with app
hosts under ``*.apps.coder.test`` (``CODER_WILDCARD_ACCESS_URL``), real host names
with real cookie and same-site rules, which 127.0.0.1 has not. ``loopback_names``
makes this process's own HTTP clients resolve them the same way.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import time
import warnings
from pathlib import Path

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

from tests.kit.httpserve import GetServer
from tests.kit.postgres import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOMAIN = "coder.test"
APP_SUFFIX = ".apps." + DOMAIN
# Every other name fails to resolve: a page can reach nothing but this machine.
RESOLVER_RULES = f"MAP *.{DOMAIN} 127.0.0.1, MAP {DOMAIN} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost"
QUIET = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-proxy-server", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-domain-reliability", "--disable-breakpad",
         "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
         "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain")
# For Browser.run: open a websocket to arguments[0], send arguments[1] once open; what
# happened: ["open", ...] or ["closed CODE"] (1006: the handshake failed).
WEBSOCKET_PROBE = """const ws = new WebSocket(arguments[0]), seen = [];
    await new Promise((resolve) => {
        ws.onopen = () => { seen.push('open'); ws.send(arguments[1]); setTimeout(resolve, 2000); };
        ws.onclose = (e) => { seen.push('closed ' + e.code); resolve(); };
    });
    return seen;"""
# An async function's body run in the page; its value (or its error's text) comes back.
_ASYNC = """const done = arguments[arguments.length - 1];
(async () => { %s })().then(done, (e) => done({error: String(e)}));"""


@contextlib.contextmanager
def loopback_names(domain: str = DOMAIN):
    """``domain`` and its subdomains resolve to 127.0.0.1 for this process's HTTP clients
    (requests, the SDK), as ``coder.test``'s do for the browser and a deployment's
    wildcard DNS record would."""
    real = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        host, port = address
        here = host == domain or host.endswith("." + domain)
        return real(("127.0.0.1" if here else host, port), *args, **kwargs)

    urllib3.util.connection.create_connection = create_connection
    try:
        yield
    finally:
        urllib3.util.connection.create_connection = real


def spki_hash(cert_pem: bytes) -> str:
    """What ``--ignore-certificate-errors-spki-list`` takes: base64 SHA-256 of the key."""
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Browser:
    """One headless chromium with a throwaway profile; ``stop`` leaves no process behind."""

    def __init__(self, profile: Path, *, trusted_certs: tuple[bytes, ...] = ()):
        """``trusted_certs``: PEM server certificates chromium accepts as valid (by their
        keys), for coderd under TLS with a certificate from a test CA."""
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        with warnings.catch_warnings():
            # Deprecated for remote drivers' ClientConfig; the local Chrome driver reads only this.
            warnings.simplefilter("ignore", DeprecationWarning)
            options.ignore_local_proxy_environment_variables()  # Selenium's client: no proxy
        # DevTools' network events: what coderd answered, even where the page may not read it.
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        for arg in (*QUIET, f"--user-data-dir={profile}", f"--host-resolver-rules={RESOLVER_RULES}"):
            options.add_argument(arg)
        if trusted_certs:
            options.add_argument("--ignore-certificate-errors-spki-list="
                                 + ",".join(spki_hash(c) for c in trusted_certs))
        service = Service(executable_path=CHROMEDRIVER, port=free_port(),
                          log_output=str(profile.parent / "chromedriver.log"),
                          env={**os.environ, "SE_OFFLINE": "true"})
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_script_timeout(30)
        self.driver.set_page_load_timeout(30)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def page_with(self, text: str, timeout: float = 15) -> str:
        """The page's source once it contains ``text``: a form a script submits while its
        page loads navigates after ``open`` returned."""
        WebDriverWait(self.driver, timeout).until(lambda driver: text in driver.page_source,
                                                  f"no page containing {text!r}")
        return self.driver.page_source

    def run(self, body: str, *args):
        """Run an async function's ``body`` in the current page (``arguments[i]`` are
        ``args``); its return value, or ``{"error": text}`` if it threw."""
        return self.driver.execute_async_script(_ASYNC % body, *args)

    def statuses(self, url_part: str) -> list[int]:
        """The HTTP status of every answer (websocket handshakes included) the browser got,
        since the last call, for a URL containing ``url_part``, whatever the page was
        allowed to read of it."""
        urls, statuses = {}, []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            if method == "Network.webSocketCreated":
                urls[params["requestId"]] = params["url"]
            elif method == "Network.responseReceived":
                urls[params["requestId"]] = params["response"]["url"]
            if method in ("Network.responseReceived", "Network.webSocketHandshakeResponseReceived") \
                    and url_part in urls.get(params["requestId"], ""):
                statuses.append(params["response"]["status"])
        return statuses

    def requests(self) -> list[str]:
        """The URL of every request the browser made (documents, scripts, styles, images,
        fetches, websockets, redirects followed), since the last call. Like ``statuses``,
        it reads (and so empties) DevTools' performance log."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                urls.append(message["params"]["url"])
        return urls

    def cookies(self, url: str) -> list[dict]:
        """The cookies the browser would send to ``url``, HttpOnly ones included."""
        return self.driver.execute_cdp_cmd("Network.getCookies", {"urls": [url]})["cookies"]

    def stop(self) -> None:
        try:
            self.driver.quit()
        finally:
            self._kill_leftovers()

    def _kill_leftovers(self, timeout: float = 10) -> None:
        """Kill any process still using this profile (a renderer or crashpad helper that
        outlived ``quit``); fail if one survives."""
        marker = f"--user-data-dir={self.profile}".encode()
        deadline = time.monotonic() + timeout
        while pids := [p for p in _pids() if marker in _cmdline(p)]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium processes {pids} outlived the test")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


@pytest.fixture
def chromium(tmp_path):
    """A headless chromium for one test (profile under ``tmp_path``), stopped after it."""
    browser = Browser(tmp_path / "chromium-profile")
    try:
        yield browser
    finally:
        browser.stop()


class PageServer(GetServer):
    """An HTTP server on 127.0.0.1 serving the HTML pages a test gives it, on any host name
    that resolves here (``http://evil.apps.coder.test:PORT/...``): an attacker's site.
    ``tls``: a certificate chain and key file to serve HTTPS with (a page must be HTTPS
    to be the same site as an HTTPS coderd)."""

    def __init__(self, tls: tuple[str, str] | None = None):
        self.pages: dict[str, str] = {}
        super().__init__(self._page, tls=tls)

    def _page(self, request) -> tuple[int, str, bytes]:
        page = self.pages.get(request.path.split("?")[0])
        return 200 if page is not None else 404, "text/html; charset=utf-8", \
            (page or "not found").encode()

    def add(self, host: str, path: str, html: str) -> str:
        """Serve ``html`` at ``path``; its URL on ``host``."""
        self.pages[path] = html
        return f"{self.scheme}://{host}:{self.port}{path}"
