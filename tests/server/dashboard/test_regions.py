"""The region menu (Coder's "Workspace proxy" selector) in a real browser: every region
coderd lists with its latency measured by the page (a real ``coderd wsproxy server``
among them), the choice kept in localStorage, and the workspace page's app links built on
the chosen region's URL, and the terminal opened through the chosen proxy (a real agent).
Attacks: a registered region whose check redirects to another
host is unreachable and that host is never asked (the page's policy names only what
coderd registered); an unregistered proxy is not measured; no menu without a session."""
from __future__ import annotations

from types import SimpleNamespace

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.sdk import types

from tests.kit.agent import start_agent, wait_for, workspace_with_agent
from tests.kit.coderd import FIRST_USER_PASSWORD, start_proxy
from tests.kit.regions import register_redirecting
from tests.kit.dashboard import sign_in


def _options(d) -> dict[str, tuple[str, bool]]:
    return {o.get_attribute("value"): (o.text, o.get_attribute("disabled") is not None)
            for o in d.driver.find_elements(By.CSS_SELECTOR, "#region option")}


def _measured(d) -> None:
    WebDriverWait(d.driver, 20).until(lambda drv: drv.execute_script(
        "return document.getElementById('region').dataset.measured === 'true'"))


def _app_link(d) -> str:
    return d.driver.find_element(By.CSS_SELECTOR, "ul.apps a").get_attribute("href")


def test_the_menu_measures_each_region_and_links_follow_the_choice(site, dashboard):
    coderd, owner = site
    d = dashboard
    ws, agent = workspace_with_agent(owner, coderd.dsn, apps=[
        {"slug": "web", "url": "http://localhost:9/"}])
    process = start_agent(coderd.url.replace("coder.test", "127.0.0.1"), agent.token)
    made = owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(
        name="near", display_name="Near"))
    # The proxy reaches coderd by address; browsers reach it by a name of its own.
    proc, near = start_proxy(SimpleNamespace(url=coderd.url.replace("coder.test", "127.0.0.1")),
                             made.proxy_token, host="near.coder.test")
    redirecting, elsewhere_asked = register_redirecting(coderd.url, owner, "moved")
    owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(name="never"))
    try:
        wait_for(lambda: owner.workspace_proxy("near").healthy, what="registered")
        assert requests.get(near + "/latency-check", timeout=10).status_code == 200  # warm
        d.open("/login")
        assert not d.driver.find_elements(By.ID, "region")  # no session: no menu
        sign_in(d, "admin@example.com", FIRST_USER_PASSWORD, f"/@admin/{ws.name}")
        _measured(d)
        options = _options(d)
        assert list(options) == ["auto", "primary", "near", "moved", "never"]
        assert options["auto"] == ("Auto (lowest latency)", False)
        assert options["primary"][0].startswith("Default (") and options["primary"][0].endswith(" ms)")
        assert options["near"][0].startswith("Near (") and not options["near"][1]
        assert options["moved"] == ("moved (unreachable)", False)
        assert options["never"] == ("never (unhealthy)", True)
        assert elsewhere_asked == []
        path = f"/@admin/{ws.name}.main/apps/web/"
        auto = d.driver.find_element(By.ID, "region").get_attribute("data-chosen")
        assert _app_link(d) == {"primary": coderd.url, "near": near}[auto] + path

        Select(d.driver.find_element(By.ID, "region")).select_by_value("near")
        assert _app_link(d) == near + path
        assert d.driver.execute_script("return localStorage.getItem('coder.region')") == "near"
        d.open(f"/@admin/{ws.name}")  # remembered
        _measured(d)
        assert d.driver.find_element(By.ID, "region").get_attribute("value") == "near"
        assert _app_link(d) == near + path
        d.check("regions", regions=(near, redirecting))
        Select(d.driver.find_element(By.ID, "region")).select_by_value("primary")
        assert _app_link(d) == coderd.url + path

        # The terminal through the proxy: coderd signs a token for it, the proxy opens it.
        wait_for(lambda: owner.workspace_agent(agent.id).status == "connected", what="agent")
        d.driver.execute_script("localStorage.setItem('coder.region', 'near')")
        d.open(f"/@admin/{ws.name}.main/terminal")
        d.type_in_terminal("echo through-$((40+2))\n", r"through-42")
        sockets = [u for u in d.browser.requests() if u.startswith("ws")]
        assert sockets and all(u.startswith(near.replace("http", "ws", 1) + "/api/v2/")
                               for u in sockets), sockets
        d.check("regions-terminal", regions=(near, redirecting))

        policy = requests.get(coderd.url + f"/@admin/{ws.name}", timeout=10, cookies={
            "coder_session_token": owner.token}).headers["Content-Security-Policy"]
        connect = next(p for p in policy.split("; ") if p.startswith("connect-src"))
        registered = [redirecting, near]  # what coderd registered, and their websockets
        assert connect == "connect-src 'self' " + " ".join(sorted(
            registered + [u.replace("http", "ws", 1) for u in registered]))
    finally:
        proc.terminate()
        print("--- wsproxy log ---\n" + proc.communicate(timeout=20)[0])
        process.stop()
