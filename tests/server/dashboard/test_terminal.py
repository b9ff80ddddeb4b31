"""The web terminal in a real browser, on workspaces of the ``local`` example template (the
shipped agent in a bubblewrap sandbox), through a real coderd: typing, resizing, a dropped
connection replayed, and the attacks on it (another origin's page with the victim's cookie,
a member at the owner's terminal, no session).

coderd's access URL is ``http://localhost:PORT`` (the agent in its sandbox must reach it
by that name, and the browser resolves no other); the attacker's page is
``http://localhost:OTHER``: another origin of the same site, so the browser sends the
session cookie with its websocket, as it would from a sibling host.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from appliance.sdk import types
from appliance.sdk.client import Client
from server.dashboard.terminal import pick_agent
from server.httpapi import APIError

from tests.kit.browser import WEBSOCKET_PROBE, Browser, PageServer
from tests.kit.cli import new_cli
from tests.kit.coderd import FIRST_USER_PASSWORD, Coderd, create_another_user
from tests.kit.dashboard import PASSWORD, Dashboard, sign_in, test_output  # noqa: F401 (a fixture)
from tests.kit.localtemplate import WORKSPACES_DIR, local_workspaces

# Every page of the module's browser: its websockets kept in window.__sockets, and while
# window.__holdSockets is set, each new one goes to a websocket route of coderd that refuses
# it before the upgrade (a workspace ID that is none), which a browser sees as a dropped
# network does (code 1006; a refusal after the upgrade, 4000 + status, the terminal shows
# and does not retry), so a test can cut the terminal off and let it back.
SOCKET_SPY = """(() => {
  const Real = window.WebSocket;
  window.__sockets = [];
  window.__holdSockets = false;
  window.WebSocket = class extends Real {
    constructor(url, protocols) {
      super(window.__holdSockets ? url.replace(/\\/api\\/.*/, "/api/v2/workspaces/held/watch-ws") : url, protocols);
      window.__sockets.push(this);
    }
  };
})();"""
RED = "rgb(241, 76, 76)"  # the page's theme's ANSI red (\e[31m), from xterm's <style>


@dataclass
class Site:
    coderd: Coderd
    owner: Client
    workspace: str          # the owner's (admin's)
    member: types.User
    member_workspace: str

    def home(self, owner: str, name: str) -> Path:
        """A workspace's home folder, where the template keeps it on this machine."""
        workspace = self.owner.workspace_by_owner_and_name(owner, name)
        return Path(WORKSPACES_DIR) / owner / str(workspace.id)


@pytest.fixture(scope="module")
def site(local_site, tmp_path_factory):
    """A coderd with the ``local`` template, a running workspace of its owner and one of a
    member."""
    coderd, owner = local_site
    cli = new_cli(tmp_path_factory.mktemp("terminal-cli") / "coderv2").log_in_as(coderd.url, owner.token)
    member_client, member = create_another_user(owner, password=PASSWORD)
    site = Site(coderd, owner, "t" + uuid.uuid4().hex[:8], member, "m" + uuid.uuid4().hex[:8])
    with local_workspaces(cli, owner, [(owner, site.workspace), (member_client, site.member_workspace)]):
        yield site


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One chromium for the module, every page of it spied on by ``SOCKET_SPY``."""
    chromium = Browser(tmp_path_factory.mktemp("terminal-browser") / "profile")
    try:
        chromium.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SOCKET_SPY})
        yield chromium
    finally:
        chromium.stop()


@pytest.fixture
def dashboard(site, browser, test_output):  # noqa: F811
    browser.driver.delete_all_cookies()
    return Dashboard(browser, site.coderd, test_output)


def terminal_size(d: Dashboard) -> tuple[int, int]:
    """The shell's ``stty size`` (rows, columns), asked anew."""
    marker = uuid.uuid4().hex[:6]
    pattern = rf"{marker}-(\d+)x(\d+)-size"
    text = d.type_in_terminal(f"echo {marker}-$(stty size | tr ' ' x)-size\n", then_shows=pattern)
    rows, cols = re.findall(pattern, text)[-1]
    return int(rows), int(cols)


def status(d: Dashboard) -> str:
    return d.driver.find_element(By.ID, "terminal-status").text


def test_type_resize_and_reconnect_with_the_missed_output(site, dashboard):
    d = dashboard
    sign_in(d, "admin@example.com", FIRST_USER_PASSWORD)
    d.open(f"/@admin/{site.workspace}/terminal")  # one agent: its name may be left out
    assert re.fullmatch(rf"/@admin/{site.workspace}/terminal\?reconnect=[0-9a-f-]{{36}}", d.path())
    page = d.path()
    d.type_in_terminal("echo $((6 * 7))-answer $HOME\n", then_shows="42-answer /home/coder")
    # xterm.js's own <style> rules (cell sizes, colours) apply under the page's CSP.
    d.type_in_terminal("printf '\\033[31m%s\\033[0m\\n' red-$((1 + 1))\n", then_shows="\nred-2")
    colours = d.driver.execute_script("return [...document.querySelectorAll('.xterm-rows span')]"
                                      ".filter(s => s.textContent === 'red-2')"
                                      ".map(s => getComputedStyle(s).color);")
    assert colours == [RED]
    d.check("terminal")

    rows, cols = terminal_size(d)
    d.driver.set_window_size(900, 600)  # the fit addon, then the resize frame
    WebDriverWait(d.driver, 10).until(lambda _: d.driver.execute_script(
        "return document.querySelectorAll('.xterm-rows > div').length") < rows)
    shown_rows = d.driver.execute_script("return document.querySelectorAll('.xterm-rows > div').length")
    smaller = terminal_size(d)
    assert smaller[0] == shown_rows and smaller[1] < cols, (rows, cols, smaller)

    # The connection drops while a command runs; its output comes back with the reconnect.
    home = site.home("admin", site.workspace)
    d.type_in_terminal("sleep 1; echo missed-$((6 * 7)); touch ~/missed-done\n", then_shows="touch ~/missed-done\n")
    d.driver.execute_script("window.__holdSockets = true; window.__sockets.at(-1).close();")
    WebDriverWait(d.driver, 10).until(lambda _: status(d) == "Reconnecting...")
    WebDriverWait(d.driver, 10).until(lambda _: (home / "missed-done").exists())
    assert "missed-42" not in d.terminal_screen() and status(d) == "Reconnecting..."
    # Keys typed meanwhile reach the shell once it is back.
    d.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys("echo typed-away-$((1 + 1))\n")
    d.driver.execute_script("window.__holdSockets = false;")
    WebDriverWait(d.driver, 20).until(lambda _: "missed-42" in d.terminal_screen() and not status(d))
    WebDriverWait(d.driver, 10).until(lambda _: "typed-away-2" in d.terminal_screen())
    d.type_in_terminal("echo same-shell-$((2 + 3))\n", then_shows="same-shell-5")
    assert d.path() == page  # a reload, too, would come back to this shell
    d.check("terminal-reconnected")


def test_only_who_may_open_the_agent_gets_a_terminal(site, dashboard):
    """A member at the owner's terminal: 404, as any workspace they may not see. The
    deployment owner at the member's: a terminal, as in Coder. No session: the login page.
    Another origin's page, with the owner's cookie: its websocket is refused before 101,
    and nothing reaches the workspace."""
    d = dashboard
    anonymous = requests.get(f"{site.coderd.url}/@admin/{site.workspace}/terminal",
                             allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == f"/login?redirect=%2F%40admin%2F{site.workspace}%2Fterminal"

    sign_in(d, site.member.email, PASSWORD)
    for path in (f"/@admin/{site.workspace}/terminal", f"/@admin/{site.workspace}.main/terminal",
                 f"/@admin/{site.workspace}/terminal?reconnect={uuid.uuid4()}", "/@admin/nothing/terminal"):
        d.browser.statuses("/terminal")
        d.open(path)
        assert d.browser.statuses("/terminal") == [404], path
        assert d.text("h1") == "Workspace not found.", path
        assert not d.driver.find_elements(By.ID, "terminal")
    d.check("terminal-not-found")
    d.open(f"/@me/{site.member_workspace}.nosuchagent/terminal")
    assert d.text("h1") == "Workspace agent not found."

    d.driver.delete_all_cookies()
    sign_in(d, "admin@example.com", FIRST_USER_PASSWORD)
    d.open(f"/@{site.member.username}/{site.member_workspace}.main/terminal")
    d.type_in_terminal("echo $((3 * 3))-$HOME\n", then_shows="9-/home/coder")

    marker = site.home("admin", site.workspace) / "evil-was-here"
    pty = (site.coderd.url.replace("http://", "ws://", 1) + "/api/v2/workspaceagents/"
           + str(agent_id(site.owner, "admin", site.workspace)) + f"/pty?reconnect={uuid.uuid4()}")
    touch = json.dumps({"data": f"touch {marker.name}\r"})
    with PageServer() as evil:
        d.browser.open(evil.add("localhost", "/evil", "<html><body>evil</body></html>"))
        d.browser.statuses("/pty")
        assert d.browser.run(WEBSOCKET_PROBE, pty, touch) == ["closed 1006"]  # failed before opening
        assert 101 not in d.browser.statuses("/pty")
    assert not marker.exists()
    d.open("/workspaces")  # the control: the same socket, cookie and input from coderd's page
    assert d.browser.run(WEBSOCKET_PROBE, pty, touch)[0] == "open"
    WebDriverWait(d.driver, 10).until(lambda _: marker.exists())


def agent_id(client: Client, owner: str, name: str) -> uuid.UUID:
    workspace = client.workspace_by_owner_and_name(owner, name)
    return next(a.id for r in workspace.latest_build.resources for a in r.agents)


def test_the_agent_is_named_when_there_are_several():
    agents = [SimpleNamespace(name="dev"), SimpleNamespace(name="db")]
    workspace = SimpleNamespace(name="w", latest_build=SimpleNamespace(
        resources=[SimpleNamespace(agents=agents[:1]), SimpleNamespace(agents=agents[1:])]))
    assert pick_agent(workspace, "db") is agents[1]
    for name, status, says in (("", 400, "Open the terminal of one: w.dev, w.db."),
                               ("web", 404, "Is workspace 'w' started, with an agent 'web'?")):
        with pytest.raises(APIError) as refused:
            pick_agent(workspace, name)
        assert (refused.value.status, refused.value.detail) == (status, says)
    stopped = SimpleNamespace(name="w", latest_build=SimpleNamespace(resources=[]))
    with pytest.raises(APIError, match="Workspace agent not found"):
        pick_agent(stopped, "")
