"""The dashboard in a real browser: a coderd named ``coder.test``, and the checks every page
test runs on every page it opens (``Dashboard.check``):

- the network rule: every request the browser made over a network for the page
  (documents, scripts, styles, images, fetches, websockets) went to coderd's origin (a
  websocket: ``ws(s)://`` and coderd's host and port), or to a region the test names
  (a workspace proxy coderd registered), read from DevTools' performance
  log (``goog:loggingPrefs``), not from what the page chose to report;
- accessibility: axe-core (vendored for tests only by ``packaging/vendor_js.py``, never
  served by coderd) finds no serious or critical violation;
- a screenshot, ``NAME.png`` in the test's output folder (``CODER_TEST_OUTPUT``, else
  ``.cache/test-output/``), kept whether the test passes or fails.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.kit.browser import APP_SUFFIX, DOMAIN, Browser, PageServer
from tests.kit.coderd import Coderd, start_coderd
from tests.kit.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# What reaches a network; the browser's own chrome:// pages and data: URLs do not.
NETWORK = re.compile(r"(?i)^(https?|wss?|ftp):")


def start_dashboard_coderd(dsn: str, env: dict | None = None) -> Coderd:
    """A coderd at ``http://coder.test:PORT`` (a real host name, with real cookie and
    same-site rules; use ``browser.loopback_names`` for this process's clients)."""
    port = free_port()
    return start_coderd(dsn, env={"CODER_HTTP_ADDRESS": f"127.0.0.1:{port}",
                                  "CODER_ACCESS_URL": f"http://{DOMAIN}:{port}", **(env or {})})


@pytest.fixture
def test_output(request) -> Path:
    """This test's output folder (screenshots), emptied when the test starts."""
    root = Path(os.environ.get("CODER_TEST_OUTPUT", REPO / ".cache" / "test-output"))
    folder = root / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class Dashboard:
    """A browser on one coderd's dashboard."""

    def __init__(self, browser: Browser, coderd: Coderd, output: Path):
        self.browser, self.coderd, self.output = browser, coderd, output
        self.driver = browser.driver
        self.driver.set_window_size(1280, 900)
        browser.requests()  # what the browser did before (its own new tab page) is not ours

    def open(self, path: str) -> None:
        self.browser.open(self.coderd.url + path)

    def path(self) -> str:
        """The current page's path and query."""
        url = self.driver.current_url
        return url[len(self.coderd.url):] if url.startswith(self.coderd.url) else url

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def submit(self, form_selector: str = "main form") -> None:
        """Press the form's submit button and wait for the next page to load. A button in a
        part htmx refreshes may be replaced between finding and pressing it: found again."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        WebDriverWait(self.driver, 20, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_element(By.CSS_SELECTOR, f"{form_selector} button[type=submit]").click()
            or True)
        WebDriverWait(self.driver, 20).until(lambda d: _stale(old))
        WebDriverWait(self.driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete")

    def text(self, selector: str = "main") -> str:
        return self.driver.find_element(By.CSS_SELECTOR, selector).text

    def terminal_screen(self) -> str:
        """What the web terminal (xterm.js) shows, row by row."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('.xterm-rows > div')].map(r => r.textContent)"
            ".join('\\n');").replace("\xa0", " ")

    def type_in_terminal(self, keys: str, then_shows: str, timeout: float = 20) -> str:
        """Type into the web terminal (as keys pressed) and wait until its screen matches the
        pattern ``then_shows``; the screen then."""
        self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(keys)

        def shown(_):
            text = self.terminal_screen()
            return text if re.search(then_shows, text) else None
        try:
            return WebDriverWait(self.driver, timeout).until(shown)
        except TimeoutException:
            status = self.driver.find_element(By.ID, "terminal-status").text
            raise AssertionError(f"{then_shows!r} not on the screen in {timeout:.0f} s (status "
                                 f"{status!r}):\n{self.terminal_screen().rstrip()}") from None

    def check(self, name: str, regions: tuple[str, ...] = ()) -> None:
        """The checks of the module's docstring on the page now open; ``regions``: the URLs
        of workspace proxies coderd registered, which the page may reach too."""
        self.driver.save_screenshot(str(self.output / f"{name}.png"))
        own = tuple(u + "/" for base in (self.coderd.url, *regions)
                    for u in (base, re.sub(r"^http", "ws", base)))
        foreign = [u for u in self.browser.requests() if NETWORK.match(u) and not u.startswith(own)]
        assert not foreign, f"{name}: the browser reached beyond coderd: {foreign}"
        violations = self.axe()
        assert not violations, f"{name}: accessibility violations: {violations}"

    def axe(self) -> list[str]:
        """axe-core's serious and critical violations on the current page, one line each."""
        self.driver.execute_script(AXE.read_text())
        result = self.browser.run("const r = await axe.run(document, "
                                  "{resultTypes: ['violations']}); return r.violations;")
        assert not (isinstance(result, dict) and "error" in result), result
        return [f"{v['id']} ({v['impact']}): {v['help']} at "
                + ", ".join(str(n["target"]) for n in v["nodes"])
                for v in result if v["impact"] in BLOCKING]


def _stale(element) -> bool:
    try:
        element.is_enabled()
        return False
    except Exception:  # StaleElementReferenceException: the next page replaced it
        return True


# The password of the users the dashboard tests add besides the first.
PASSWORD = "AnotherSecurePassword!"


def sign_in(d: Dashboard, email: str, password: str, start: str = "/login") -> None:
    """Through the sign-in form, as a person would."""
    d.open(start)
    d.fill(email=email, password=password)
    d.submit()


def refuses_short_password(d: Dashboard, **fields: str) -> None:
    """A user form posted with a too short password: the API's error at the field, what
    was typed kept, the password not sent back."""
    d.fill(**fields, password="short")
    d.submit()
    assert "password" in d.text("#password-error").lower()
    assert d.driver.find_element(By.NAME, "username").get_attribute("value") == fields["username"]
    assert d.driver.find_element(By.NAME, "password").get_attribute("value") == ""


def post_from_another_origin(d: Dashboard, evil: PageServer, path: str, fields: dict) -> list[int]:
    """The statuses coderd answered a form the attacker's page (a sibling host of coderd's)
    posted to ``path`` with the browser's cookies and a guessed token."""
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    d.browser.statuses(path)  # forget earlier ones
    d.browser.open(evil.add("evil" + APP_SUFFIX, f"/post{uuid.uuid4().hex}",
                            f'<form method="post" action="{d.coderd.url}{path}">{inputs}'
                            '<input name="csrf_token" value="guess"></form>'
                            '<script>document.forms[0].submit()</script>'))
    deadline = time.monotonic() + 10
    while not (statuses := d.browser.statuses(path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return statuses
