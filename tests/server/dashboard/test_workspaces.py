"""The workspaces page in a real browser: what each viewer sees, Coder's ``q`` filter, and
the status kept live without reloading (htmx polling; no inline script)."""
from __future__ import annotations

import uuid

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from appliance.sdk import types

from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user
from tests.kit.dashboard import PASSWORD, sign_in
from tests.kit.provisioning import complete_job, make_template


def _workspace(client, template, name: str = "") -> types.Workspace:
    return client.create_workspace(types.CreateWorkspaceRequest(
        name=name or "w" + uuid.uuid4().hex[:10], template_id=template.id))


def _rows(dashboard) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in dashboard.driver.find_elements(By.CSS_SELECTOR, "#workspace-rows tr")]


def test_members_see_their_own_and_owners_everyone(site, dashboard):
    coderd, owner = site
    template = make_template(owner, coderd.dsn, display_name="Local process")
    client, user = create_another_user(owner, password=PASSWORD)
    mine = _workspace(client, template)
    complete_job(coderd.dsn, mine.latest_build.job.id)
    others = _workspace(owner, template)
    sign_in(dashboard, user.email, PASSWORD)
    assert dashboard.path() == "/workspaces"  # Coder's default filter: owner:me
    assert _rows(dashboard) == [[f"{user.username}/{mine.name}", "Local process", "Running",
                                 "Just now"]]
    dashboard.check("workspaces-member")
    for q in ("", "owner:admin", f"name:{others.name}"):  # no filter reveals another's
        dashboard.open("/workspaces?q=" + q)
        assert not any(others.name in r[0] for r in _rows(dashboard)), q
    dashboard.driver.delete_all_cookies()
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD, start="/workspaces?q=")
    names = [r[0] for r in _rows(dashboard)]
    assert f"{user.username}/{mine.name}" in names and f"admin/{others.name}" in names
    dashboard.check("workspaces-owner")


def test_filter_with_coders_q(site, dashboard):
    coderd, owner = site
    template = make_template(owner, coderd.dsn)
    running = _workspace(owner, template)
    complete_job(coderd.dsn, running.latest_build.job.id)
    pending = _workspace(owner, template)
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD)
    dashboard.fill(q=f"template:{template.name} status:running")
    dashboard.submit("main form.filter")
    assert [r[0] for r in _rows(dashboard)] == [f"admin/{running.name}"]
    dashboard.fill(q=pending.name)  # free text: the name
    dashboard.submit("main form.filter")
    assert [r[0] for r in _rows(dashboard)] == [f"admin/{pending.name}"]
    dashboard.fill(q="colour:blue")
    dashboard.submit("main form.filter")
    assert "unknown filter 'colour'" in dashboard.text(".error")
    assert _rows(dashboard) == [["No workspaces match this filter. Create one from a template."]]
    dashboard.check("workspaces-bad-filter")


def test_status_is_live(site, dashboard):
    coderd, owner = site
    template = make_template(owner, coderd.dsn)
    ws = _workspace(owner, template)
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD,
            start=f"/workspaces?q=name:{ws.name}")
    assert _rows(dashboard)[0][2] == "Pending"
    complete_job(coderd.dsn, ws.latest_build.job.id)
    # The rows are replaced under the test's feet: a row read mid-swap is read again.
    WebDriverWait(dashboard.driver, 15, ignored_exceptions=[StaleElementReferenceException]) \
        .until(lambda d: _rows(dashboard)[0][2] == "Running")
    dashboard.check("workspaces-live")  # the polls, too, went only to coderd


def test_the_keyboard_reaches_everything_with_a_visible_focus(site, dashboard):
    """Tab from the top of a page: the skip link first (shown once focused: it sends focus
    past the navigation), then each navigation link, the region menu, Log out and the page's
    own controls, each drawn with a focus ring (a keyboard user sees where they are)."""
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD, start="/workspaces?q=")
    driver = dashboard.driver
    stops = []
    for _ in range(11):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        stops.append(driver.execute_script(
            "const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();"
            "return [e.tagName, e.innerText || e.name || e.value, s.outlineStyle, s.outlineWidth,"
            "        r.left >= 0 && r.top >= 0 && r.width > 0];"))
    labels = ["region menu" if tag == "SELECT" else label for tag, label, *_ in stops]
    assert labels[:10] == ["Skip to content", "Workspaces", "Templates", "Users", "Audit",
                           "Deployment", "Account", "region menu", "Log out", "q"], stops
    for tag, label, style, width, on_screen in stops:
        assert style != "none" and width != "0px" and on_screen, (tag, label, style, width)
    dashboard.open("/workspaces?q=")
    ActionChains(driver).send_keys(Keys.TAB).send_keys(Keys.ENTER).perform()
    assert driver.current_url.endswith("#main")
