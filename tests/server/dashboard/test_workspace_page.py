"""The workspace page (``/@USER/WORKSPACE``) in a real browser, against a real coderd whose
provisioner builds the ``local`` example template with terraform and runs the real agent
(the PyInstaller binary, in bubblewrap): the live build log, the agent with its app, ports
and SSH lines, stop, start and delete through the confirmation; restart and update (a stop,
then the page's own start); and the attacks: no session, another user's page, another
user's action form, a form from another origin, a delete without its confirmation."""
from __future__ import annotations

import html
import re
import time
import uuid

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from appliance.sdk import types

from tests.kit.agent import wait_for
from tests.kit.browser import PageServer, loopback_names
from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user
from tests.kit.dashboard import PASSWORD, Dashboard, post_from_another_origin, sign_in
from tests.kit.localtemplate import TEMPLATE, WORKSPACES_DIR
from tests.kit.provisioning import (complete_job, imported_version, make_tar, make_template, sql,
                                     wait_imported)

OWNER = "admin@example.com"
# Added to the example for the end-to-end flow: a parameter typed in the create form that
# reaches the workspace's shell (terraform, the provider's coder_env, the agent, the terminal).
GREETING = """
data "coder_parameter" "greeting" {
  name         = "greeting"
  display_name = "Greeting"
  type         = "string"
  default      = "hello"
  mutable      = true
  validation {
    regex = "^[a-z-]+$"
    error = "Lowercase letters and dashes only"
  }
}

resource "coder_env" "greeting" {
  agent_id = coder_agent.main.id
  name     = "GREETING"
  value    = data.coder_parameter.greeting.value
}
"""


@pytest.fixture(scope="module")
def build_site(local_site):
    """``local_site`` and the local template with ``GREETING``, imported by terraform."""
    coderd, owner = local_site
    return coderd, owner, _local_template(owner)


def _local_template(owner) -> types.Template:
    version = owner.create_template_version("default", types.CreateTemplateVersionRequest(
        file_id=owner.upload_file(make_tar({"greeting.tf": GREETING}, folder=TEMPLATE)),
        user_variable_values=[types.VariableValue("workspaces_dir", WORKSPACES_DIR)]))
    job = wait_imported(owner, version.id).job
    assert job.status == "succeeded", job.error
    return owner.create_template("default", types.CreateTemplateRequest(
        name="local", display_name="Local process", template_version_id=version.id))


@pytest.fixture
def dashboard(build_site, chromium, test_output):  # noqa: F811
    return Dashboard(chromium, build_site[0], test_output)


def _live(d: Dashboard) -> tuple[str, str]:
    """The page's live part's text and HTML, read at once (htmx replaces what is inside it,
    never the element itself)."""
    part = d.driver.find_element(By.ID, "workspace-live")
    return part.text, part.get_attribute("innerHTML")


def _status(d: Dashboard, part: str = "") -> str:
    return re.search(r'id="ws-status"[^>]*>([^<]*)<', part or _live(d)[1]).group(1)


def _wait(d: Dashboard, what: str, check, timeout: float = 120):
    """Until ``check()`` holds on the page (whose live part htmx replaces meanwhile)."""
    try:
        return WebDriverWait(d.driver, timeout, 0.2, ignored_exceptions=[
            StaleElementReferenceException]).until(lambda _: check(), what)
    except Exception:  # what the page showed, kept for the failure's reader
        d.driver.save_screenshot(str(d.output / "timeout.png"))
        (d.output / "timeout.html").write_text(d.driver.page_source)
        raise


def _press(d: Dashboard, label: str) -> None:
    d.submit(f"#workspace-live form:has(input[name=transition][value={label.lower()}])")


def _log_seen_live(d: Dashboard, owner, ws_id) -> str:
    """The running build's log as the page shows it, read while the build still runs, with
    the status the page showed then."""
    def live():
        text, part = _live(d)
        followed = re.search(r'<pre[^>]*data-follow="[^"]*"[^>]*>([^<]+)</pre>', part)
        if followed and owner.workspace(ws_id).latest_build.job.completed_at is None:
            return html.unescape(followed.group(1)), _status(d, part)
        return None
    return _wait(d, "the build's log, while it builds", live)


def _copies(d: Dashboard) -> bool:
    """A copy button says it copied (read from the button pressed: a refresh of the live
    part may replace it meanwhile, and then it is pressed again)."""
    button = d.driver.find_element(By.CSS_SELECTOR, ".copy button")
    button.click()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if button.text == "Copied":
            return True
    return False


def _click(d: Dashboard, link: str) -> None:
    _wait(d, link, lambda: d.driver.find_element(By.LINK_TEXT, link).click() or True)


def _history(d: Dashboard) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in d.driver.find_elements(By.CSS_SELECTOR, "#build-history tbody tr")]


def test_build_watch_stop_start_delete(build_site, dashboard):
    """The issue's flow end to end: sign in, create a workspace with a parameter in the
    form, see it running, run a command in its terminal that shows the parameter, stop,
    start with its log followed live, delete."""
    coderd, owner, template = build_site
    d = dashboard
    name = "w" + uuid.uuid4().hex[:8]
    page = f"/@admin/{name}"
    try:
        sign_in(d, OWNER, FIRST_USER_PASSWORD, start="/templates")
        d.driver.find_element(By.PARTIAL_LINK_TEXT, "Create workspace").click()
        _wait(d, "the create form", lambda: d.path() == "/templates/local/workspace")
        d.fill(name=name, **{"param.greeting": "Not OK"})
        d.submit("main form.create")
        assert "Lowercase letters and dashes only" in d.text("[data-parameter=greeting]")
        d.fill(**{"param.greeting": "from-the-form"})
        d.submit("main form.create")
        assert d.path() == page
        ws = owner.workspace_by_owner_and_name("admin", name)
        d.open("/workspaces")
        _click(d, f"admin/{name}")  # the list links here (its rows refresh: found again)
        _wait(d, "the page", lambda: d.path() == page)
        _wait(d, "running", lambda: _status(d) == "Running")
        _wait(d, "the agent ready", lambda: d.text(".lifecycle") == "ready")
        text, part = _live(d)  # one reading: htmx may replace what is inside meanwhile
        assert "Start by admin" in text
        assert f"Version\n{template_version_name(owner, template)}\n" in text
        assert "Template\nLocal process\n" in text and "Owner\nadmin\n" in text
        assert "Connected · lifecycle ready" in text
        assert f'href="{coderd.url}/@admin/{ws.name}.main/apps/files/"' in part  # the app
        assert f'href="/@admin/{ws.name}.main/terminal">Terminal</a>' in part
        assert "Welcome to " + ws.name in text  # the startup script's log
        assert f'value="coder ssh {ws.name}"' in part and f'value="ssh coder.{ws.name}"' in part
        _wait(d, "a copy button that copies", lambda: _copies(d))
        # The Files app's server listens: the port, linked through the port scheme.
        files_port = 20000 + int(str(ws.id)[:4], 16) % 10000  # the template's rule
        _wait(d, "the Files app's port", lambda: _port_link(d, coderd, ws.name, files_port), 60)
        # No Start while running, no Update when current.
        _wait(d, "the actions", lambda: _buttons(d) == ["Stop", "Restart"])
        d.check("workspace-running")

        _click(d, "Terminal")
        _wait(d, "the terminal", lambda: d.path().startswith(f"{page}.main/terminal"))
        d.type_in_terminal('echo "$GREETING"-$((6 * 7))\n', then_shows="from-the-form-42")
        d.check("workspace-terminal")
        d.open(page)

        _press(d, "Stop")
        assert d.path() == page
        _wait(d, "stopped", lambda: _status(d) == "Stopped")
        _wait(d, "the actions", lambda: _buttons(d) == ["Start"])
        d.check("workspace-stopped")

        _press(d, "Start")
        live, status = _log_seen_live(d, owner, ws.id)  # lines appear while it builds
        assert status in ("Pending", "Starting"), status
        d.check("workspace-starting")
        _wait(d, "running again", lambda: _status(d) == "Running")
        _wait(d, "the finished log", lambda: live.splitlines()[0] in d.text("#build-log"))
        _wait(d, "the history, each build with its duration", lambda: [
            h[:4] + [h[5][-1:]] for h in _history(d)] == [
            ["#3", "Start", "Running", "admin", "s"], ["#2", "Stop", "Stopped", "admin", "s"],
            ["#1", "Start", "Running", "admin", "s"]])
        _click(d, "#2")  # a chosen build's finished log
        _wait(d, "build 2's log", lambda: "Build #2 log (stop" in d.text("#log-title"))
        d.check("workspace-build-log")

        # Delete: a confirmation page, which wants the name typed.
        _click(d, "Delete…")
        _wait(d, "the confirmation", lambda: d.path() == page + "/delete")
        d.check("workspace-delete-confirm")
        d.fill(confirm="not-the-name")
        d.submit()
        assert f"Type the workspace's name, {ws.name}" in d.text("#confirm-error")
        assert owner.workspace(ws.id).latest_build.transition == "start"
        d.check("workspace-delete-refused")
        d.fill(confirm=ws.name)
        d.submit()
        assert d.path() == page
        _wait(d, "gone, back to the list", lambda: d.path().startswith("/workspaces"), 120)
        assert owner.workspace(ws.id, include_deleted=True).latest_build.status == "deleted"
    finally:
        for left in owner.workspaces(q=f"owner:admin name:{name}").workspaces:
            if left.latest_build.transition != "delete":
                owner.create_workspace_build(left.id, types.CreateWorkspaceBuildRequest(
                    transition="delete"))


def template_version_name(owner, template) -> str:
    return owner.template_version(template.active_version_id).name


def _port_link(d: Dashboard, coderd, name: str, port: int) -> bool:
    """The port is listed, linked through the path port-forwarding scheme."""
    links = {a.text: a.get_attribute("href") for a in d.driver.find_elements(By.CSS_SELECTOR, ".ports a")}
    return links.get(str(port)) == f"{coderd.url}/@admin/{name}.main/port/{port}/"


def _buttons(d: Dashboard) -> list[str]:
    return [b.text for b in d.driver.find_elements(By.CSS_SELECTOR, "#workspace-live button[type=submit]")]


def _builds(dsn: str, ws_id) -> int:
    return sql(dsn, "SELECT count(*) FROM workspace_builds WHERE workspace_id = %s", (str(ws_id),))[0][0]


def _post_in_page(d: Dashboard, path: str, fields: dict) -> tuple[int, str]:
    """A form posted by a script of coderd's own page, with this browser's own form token."""
    result = d.browser.run(
        "const token = document.querySelector('input[name=csrf_token]').value;"
        "const r = await fetch(arguments[0], {method: 'POST', body: new URLSearchParams("
        "{...arguments[1], csrf_token: token}), redirect: 'manual'});"
        "return [r.status, await r.text()];", path, fields)
    return result[0], result[1]


def test_attacks(build_site, dashboard):
    coderd, owner, _ = build_site
    d = dashboard
    template = make_template(owner, coderd.dsn, display_name="Secret template")
    theirs = owner.create_workspace(types.CreateWorkspaceRequest(name="secret" + uuid.uuid4().hex[:6],
                                                                 template_id=template.id))
    complete_job(coderd.dsn, theirs.latest_build.job.id)
    member, user = create_another_user(owner, password=PASSWORD)
    mine = member.create_workspace(types.CreateWorkspaceRequest(name="mine" + uuid.uuid4().hex[:6],
                                                                template_id=template.id))
    complete_job(coderd.dsn, mine.latest_build.job.id)

    # Without a session: the page sends to the login page, its live part asks for a reload,
    # and a form (no session's token) is refused.
    page, anonymous = f"/@admin/{theirs.name}", requests.Session()
    for path in (page, page + "/delete"):
        resp = anonymous.get(coderd.url + path, allow_redirects=False)
        assert resp.status_code == 303 and resp.headers["Location"].startswith("/login?redirect=")
    assert anonymous.get(coderd.url + page, headers={"HX-Request": "true"}).headers["HX-Refresh"] == "true"
    for path, fields in ((page + "/builds", {"transition": "stop"}), (page + "/delete", {"confirm": theirs.name})):
        resp = anonymous.post(coderd.url + path, data={**fields, "csrf_token": "x"},
                              headers={"Origin": coderd.url}, allow_redirects=False)
        assert resp.status_code == 403 and theirs.name not in resp.text, path
    assert _builds(coderd.dsn, theirs.id) == 1

    # A member: another user's page is the 404 of a page that does not exist.
    sign_in(d, user.email, PASSWORD, start=f"/@admin/{theirs.name}")
    assert d.path() == f"/@admin/{theirs.name}"
    refused = d.text()
    assert "Workspace not found" in refused and theirs.name not in d.driver.page_source \
        and "Secret" not in d.driver.page_source
    d.check("workspace-not-found")
    for path in (f"/@admin/nothing{uuid.uuid4().hex[:6]}", f"/@nobody/{theirs.name}"):
        d.open(path)
        assert d.text() == refused, path
    with loopback_names():
        statuses = {requests.get(coderd.url + p, cookies={c["name"]: c["value"] for c in d.driver.get_cookies()},
                                 allow_redirects=False).status_code
                    for p in (f"/@admin/{theirs.name}", f"/@admin/{theirs.name}/delete", "/@nobody/x")}
    assert statuses == {404}
    # Their own: the page, with its actions.
    d.open(f"/@{user.username}/{mine.name}")
    assert _status(d) == "Running" and "Secret template" in d.text(".facts")
    # Posting the owner's workspace's action forms (with the member's own valid token).
    before = _builds(coderd.dsn, theirs.id)
    for path, fields in ((f"/@admin/{theirs.name}/builds", {"transition": "stop"}),
                         (f"/@admin/{theirs.name}/delete", {"confirm": theirs.name})):
        status, body = _post_in_page(d, path, fields)
        assert status == 404 and theirs.name not in body, (path, status)
    assert _builds(coderd.dsn, theirs.id) == before

    # The owner's browser: a form posted from another origin, with its cookies, is refused.
    d.driver.delete_all_cookies()
    sign_in(d, OWNER, FIRST_USER_PASSWORD, start=f"/@admin/{theirs.name}")
    with PageServer() as evil:
        for path, fields in ((f"/@admin/{theirs.name}/builds", {"transition": "stop"}),
                             (f"/@admin/{theirs.name}/delete", {"confirm": theirs.name})):
            assert post_from_another_origin(d, evil, path, fields) == [403], path
    assert _builds(coderd.dsn, theirs.id) == before
    # A delete without its confirmation: not through the action form, nor without the name.
    d.open(f"/@admin/{theirs.name}")
    assert _post_in_page(d, f"/@admin/{theirs.name}/builds", {"transition": "delete"})[0] == 400
    assert _post_in_page(d, f"/@admin/{theirs.name}/delete", {})[0] == 400
    # Not offered by the state: a start of a running workspace is the server's 400, shown.
    status, body = _post_in_page(d, f"/@admin/{theirs.name}/builds", {"transition": "start"})
    assert status == 400 and "A workspace that is running cannot start." in body
    status, body = _post_in_page(d, f"/@admin/{theirs.name}/builds", {"transition": "bogus\n<b>"})
    assert status == 400 and "Unknown action &#39;bogus\\n&lt;b&gt;&#39;" in body
    # The same refusal, in the page: its message shown by the actions.
    d.driver.execute_script("document.querySelector('#workspace-live input[value=stop]').value = 'start'")
    _press(d, "Start")
    assert d.text("#action-error") == "A workspace that is running cannot start."
    d.check("workspace-action-refused")
    assert _builds(coderd.dsn, theirs.id) == before
    # A build in progress: the confirmation page says no at once, and offers no form.
    owner.create_workspace_build(theirs.id, types.CreateWorkspaceBuildRequest(transition="stop"))
    d.open(f"/@admin/{theirs.name}/delete")
    assert d.text("#delete-refused") == "A workspace that is pending cannot delete." \
        and not d.driver.find_elements(By.NAME, "confirm")
    d.check("workspace-delete-not-now")
    # The owner sees the member's workspace, with the owner's name in its SSH lines.
    d.open(f"/@{user.username}/{mine.name}")
    assert _status(d) == "Running"
    d.check("workspace-of-a-member")


def test_restart_and_update_stop_first_then_start(build_site, dashboard):
    """Coder's restart, and its update of a running workspace: a stop, then (the page sends
    it once the stop has succeeded) a start, on the template's active version for an update.
    The builds are completed by the test (the page's part is what follows them)."""
    coderd, owner, _ = build_site
    d = dashboard
    template = make_template(owner, coderd.dsn)
    ws = owner.create_workspace(types.CreateWorkspaceRequest(name="r" + uuid.uuid4().hex[:8],
                                                             template_id=template.id))
    complete_job(coderd.dsn, ws.latest_build.job.id)
    sign_in(d, OWNER, FIRST_USER_PASSWORD, start=f"/@admin/{ws.name}")

    def then(transition: str, version_id) -> None:
        """The stop queued first ran; then the page's own start follows."""
        stop = owner.workspace(ws.id).latest_build
        assert (stop.transition, stop.status) == ("stop", "pending")
        assert d.path() == f"/@admin/{ws.name}?then={transition}"
        complete_job(coderd.dsn, stop.job.id)
        started = wait_for(lambda: (b := owner.workspace(ws.id).latest_build).build_number
                           == stop.build_number + 1 and b, 20, 0.2, "the start that follows")
        assert (started.transition, started.template_version_id) == ("start", version_id)
        complete_job(coderd.dsn, started.job.id)
        _wait(d, "running", lambda: _status(d) == "Running", 20)

    _press(d, "Restart")
    then("start", template.active_version_id)
    assert "Update" not in _buttons(d)
    newer = imported_version(owner, coderd.dsn, template_id=template.id)
    owner.update_active_template_version(template.id, newer.id)
    d.open(f"/@admin/{ws.name}")  # (a template's change reaches watchers at their next ping)
    assert _buttons(d) == ["Stop", "Restart", "Update"] and "Outdated" in _live(d)[0]
    d.check("workspace-outdated")
    _press(d, "Update")
    then("update", newer.id)
    assert "Outdated" not in _live(d)[0]


def test_a_preset_the_version_lacks_is_refused_with_a_message(build_site, dashboard):
    """A preset posted for a version without presets (made up, or left in a form opened
    before such a version was promoted) is refused with the API's message at the top of
    the form, which shows no preset field to put it at."""
    sign_in(dashboard, OWNER, FIRST_USER_PASSWORD, start="/templates/local/workspace")
    for chosen in ("not-a-uuid", str(uuid.uuid4())):
        status, body = _post_in_page(dashboard, "/templates/local/workspace",
                                     {"name": "p" + uuid.uuid4().hex[:8], "preset": chosen})
        alert = re.search(r'<p class="error" role="alert">([^<]+)</p>', body)
        assert status == 400 and alert and alert.group(1).strip(), (chosen, body[-2000:])
