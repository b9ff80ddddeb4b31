"""The administrators' pages in a real browser (/deployment/users, /audit, /deployment/*)
against a real coderd, with the issue's end-to-end case (an admin suspends a user, whose
open page then lands on the login page and whose token is refused) and the attacks: a
member opening or posting each admin page, a form from another origin, a user admin
making themselves (or anyone) owner."""
from __future__ import annotations

import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.buildinfo import version

from tests.kit.browser import Browser, PageServer, loopback_names
from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user
from tests.kit.dashboard import PASSWORD, Dashboard, post_from_another_origin, refuses_short_password, sign_in
from tests.kit.provisioning import sql

ADMIN_PAGES = ("/deployment", "/deployment/users", "/deployment/users/create", "/audit", "/deployment/general",
               "/deployment/security", "/deployment/network", "/deployment/observability")


@pytest.fixture(scope="module")
def browsers(tmp_path_factory):
    """Two browsers for the module (an administrator's and a member's), started once."""
    started = [Browser(tmp_path_factory.mktemp(name) / "profile") for name in ("admin", "member")]
    try:
        yield started
    finally:
        for browser in started:
            browser.stop()


@pytest.fixture
def admin(site, browsers, test_output):
    browsers[0].driver.delete_all_cookies()
    return Dashboard(browsers[0], site[0], test_output)


@pytest.fixture
def other(site, browsers, test_output):
    browsers[1].driver.delete_all_cookies()
    return Dashboard(browsers[1], site[0], test_output)


def _current(d: Dashboard) -> str:
    """The navigation's item for the page open."""
    return d.text("header nav a[aria-current=page]")


def _row(d: Dashboard, username: str) -> str:
    return d.text(f"#user-{username}")


def _confirm(d: Dashboard, username: str, label: str) -> None:
    """Open the row's confirmation (a <details>) and press its button."""
    row = f"#user-{username}"
    details = next(e for e in d.driver.find_elements(By.CSS_SELECTOR, f"{row} details.confirm")
                   if e.find_element(By.TAG_NAME, "summary").text == label)
    details.find_element(By.TAG_NAME, "summary").click()
    d.submit(f"{row} details.confirm[open]")


def _set_roles(d: Dashboard, username: str, *roles: str) -> None:
    row = f"#user-{username}"
    d.driver.find_element(By.CSS_SELECTOR, f"{row} details.roles summary").click()
    for box in d.driver.find_elements(By.CSS_SELECTOR, f"{row} details.roles input[type=checkbox]"):
        if box.is_selected() != (box.get_attribute("name").removeprefix("role-") in roles):
            box.click()
    d.submit(f"{row} details.roles")


def test_owner_manages_users_and_reads_audit_and_deployment(site, admin):
    coderd, owner = site
    sign_in(admin, "admin@example.com", FIRST_USER_PASSWORD, start="/login?redirect=/deployment/users")
    assert admin.path() == "/deployment/users"
    assert "admin@example.com" in _row(admin, "admin") and "Owner" in _row(admin, "admin")
    assert [a.text for a in admin.driver.find_elements(By.CSS_SELECTOR, "header nav a")] == [
        "Workspaces", "Templates", "Users", "Audit", "Deployment", "Account"]
    assert _current(admin) == "Users"
    admin.check("users")

    # Create: the API's validation at the field, the password never sent back.
    admin.open("/deployment/users/create")
    refuses_short_password(admin, username="carol", email="carol@example.com")
    admin.check("user-create-error")
    admin.fill(password=PASSWORD, name="Carol C")
    admin.submit()
    assert admin.path() == "/deployment/users"
    assert "Carol C" in _row(admin, "carol") and "Active" in _row(admin, "carol")
    admin.open("/deployment/users/create")
    admin.fill(username="carol", email="carol2@example.com", password=PASSWORD)
    admin.submit()
    assert admin.text("#username-error") == "is already taken"
    admin.fill(username="robot", email="robot@example.com", password=PASSWORD)
    Select(admin.driver.find_element(By.NAME, "login_type")).select_by_value("none")
    admin.submit()
    assert admin.text("#password-error") == "must be empty"  # login type none: no password
    Select(admin.driver.find_element(By.NAME, "login_type")).select_by_value("none")
    admin.submit()
    assert owner.user("robot").login_type == "none"

    # Search with Coder's q, then roles and suspension, each checked through the API.
    admin.open("/deployment/users?q=status%3Aactive+carol")
    assert [r.get_attribute("id") for r in admin.driver.find_elements(
        By.CSS_SELECTOR, "#users tbody tr")] == ["user-carol"]
    admin.open("/deployment/users?q=colour%3Ablue")
    assert "unknown filter 'colour'" in admin.text("#q-error")
    admin.open("/deployment/users?q=carol")
    _set_roles(admin, "carol", "auditor", "template-admin")
    assert admin.path() == "/deployment/users?q=carol"
    carol = owner.user("carol")
    assert sorted(r.name for r in carol.roles) == ["auditor", "template-admin"]
    _confirm(admin, "carol", "Suspend")
    assert owner.user("carol").status == "suspended" and "Suspended" in _row(admin, "carol")
    admin.check("users-suspended")
    _confirm(admin, "carol", "Activate")
    assert owner.user("carol").status == "active"
    admin.open("/deployment/users")
    _confirm(admin, "admin", "Suspend")  # the API's refusal, at the row
    assert admin.text("#error-admin") == "You cannot suspend yourself."
    _set_roles(admin, "admin")
    assert admin.text("#error-admin") == "You cannot change your own roles."
    assert owner.user("admin").status == "active" and owner.user("admin").roles[0].name == "owner"

    # The audit log: what was just done, filtered, each entry's diff in a <details>.
    admin.open("/audit?q=action%3Awrite+resource_type%3Auser")
    entries = admin.driver.find_elements(By.CSS_SELECTOR, "#audit-entries > li")
    assert entries and all("write user" in e.text for e in entries)
    first = entries[0].find_element(By.TAG_NAME, "details")
    assert first.get_attribute("open") is None
    first.find_element(By.TAG_NAME, "summary").click()
    assert "status" in first.find_element(By.CSS_SELECTOR, "table.diff").text
    admin.check("audit")
    admin.open(f"/audit?q=resource_id%3A{carol.id}+action%3Acreate")
    created = admin.text("#audit-entries")
    assert "create user carol" in created and len(
        admin.driver.find_elements(By.CSS_SELECTOR, "#audit-entries > li")) == 1
    admin.open("/audit?q=date_from%3Ayesterday")
    assert "date_from must be YYYY-MM-DD" in admin.text("#q-error")
    admin.open("/audit?q=username%3Anobody-at-all")
    assert "No audit entries match this filter." in admin.text("#audit-count")

    # The deployment: version, access URL, air gap, and the settings (secrets hidden).
    admin.open("/deployment")
    assert admin.path() == "/deployment/general" and _current(admin) == "Deployment"
    summary = admin.text("#deployment-summary")
    assert version() in summary and coderd.url in summary
    assert "Update checks\nOff" in summary and "Telemetry\nOff" in summary
    assert "CODER_UPDATE_CHECK" in admin.text("#options")
    admin.check("deployment-general")
    dsn_row = next(r for r in admin.driver.find_elements(By.CSS_SELECTOR, "#options tr")
                   if "CODER_PG_CONNECTION_URL" in r.text)
    assert "(secret: hidden)" in dsn_row.text and coderd.dsn not in admin.driver.page_source
    admin.open("/deployment/security")
    assert "CODER_TLS_ENABLE" in admin.text("#options")
    admin.check("deployment-security")
    for section in ("network", "observability"):
        admin.open("/deployment/" + section)
        assert admin.driver.find_elements(By.CSS_SELECTOR, "#options tbody tr"), section
    admin.open("/deployment/nowhere")
    assert "not found" in admin.text("h1").lower()


def test_a_user_admin_cannot_make_anyone_owner(site, admin):
    coderd, owner = site
    _, ua = create_another_user(owner, ["user-admin"], password=PASSWORD)
    _, dave = create_another_user(owner, password=PASSWORD)
    sign_in(admin, ua.email, PASSWORD, start="/login?redirect=/deployment/users")
    assert [a.text for a in admin.driver.find_elements(By.CSS_SELECTOR, "header nav a")] == [
        "Workspaces", "Templates", "Users", "Account"]
    _set_roles(admin, ua.username, "owner", "user-admin")  # themselves
    assert admin.text(f"#error-{ua.username}") == "You cannot change your own roles."
    admin.open(f"/deployment/users?q={dave.username}")
    _set_roles(admin, dave.username, "owner")
    assert admin.text(f"#error-{dave.username}") == \
        "You cannot assign or remove the roles: owner."
    assert len(admin.driver.find_elements(By.CSS_SELECTOR, "#users tbody tr")) == 1  # still filtered
    admin.open("/deployment/users")
    _confirm(admin, "admin", "Suspend")  # an owner: not for a user admin to change
    assert "owner" in admin.text("#error-admin")
    admin.check("users-user-admin-refused")
    assert [r.name for r in owner.user(ua.username).roles] == ["user-admin"]
    assert owner.user(dave.username).roles == [] and owner.user("admin").status == "active"
    _set_roles(admin, dave.username, "auditor")  # what a user admin may do, it does
    assert [r.name for r in owner.user(dave.username).roles] == ["auditor"]
    for path in ("/audit", "/deployment/general"):
        admin.open(path)
        assert "Not found" in admin.text("h1"), path


def _csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', session.get(url).text).group(1)


def test_a_member_gets_no_admin_page_and_no_admin_form(site, other):
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    _, victim = create_another_user(owner, password=PASSWORD)
    owner_token = owner.create_token(token_name="owners-token")
    (owner_keys,), = sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE user_id = "
                         "(SELECT id FROM users WHERE username = 'admin')")
    with loopback_names():
        for path in (*ADMIN_PAGES, "/settings/tokens"):  # a client without a session
            anonymous = requests.get(coderd.url + path, allow_redirects=False)
            assert anonymous.status_code == 303, path
            assert anonymous.headers["Location"].startswith("/login?redirect="), path
        for path, fields in ((f"/deployment/users/{victim.id}/suspend", {}),
                             ("/deployment/users/create", {"username": "sneaky", "password": PASSWORD,
                                                           "email": "s@example.com"}),
                             ("/settings/tokens/new", {"token_name": "sneaky", "lifetime_days": "7"})):
            anonymous = requests.post(coderd.url + path, data=fields, allow_redirects=False,
                                      headers={"Origin": coderd.url})
            assert anonymous.status_code == 303 and "/login" in anonymous.headers["Location"], path
        session = requests.Session()
        session.cookies.set("coder_session_token", member.token)
        for path in ADMIN_PAGES:
            resp = session.get(coderd.url + path)
            assert resp.status_code == 404, path
            assert victim.username not in resp.text and "admin@example.com" not in resp.text
            assert "CODER_" not in resp.text, path
        # The forms, with the member's own valid token, from coderd's own origin.
        token = _csrf(session, coderd.url + "/workspaces")
        headers = {"Origin": coderd.url}
        posts = {f"/deployment/users/{victim.id}/suspend": {},
                 f"/deployment/users/{user.id}/roles": {"role-owner": "on"},
                 "/deployment/users/create": {"username": "sneaky", "email": "s@example.com",
                                              "password": PASSWORD},
                 f"/settings/tokens/{owner_token.split('-')[0]}/delete": {}}
        for path, fields in posts.items():
            resp = session.post(coderd.url + path, headers=headers, allow_redirects=False,
                                data={**fields, "csrf_token": token})
            assert resp.status_code == 404, (path, resp.status_code)
    assert owner.user(victim.username).status == "active" and owner.user(user.username).roles == []
    assert sql(coderd.dsn, "SELECT count(*) FROM users WHERE username = 'sneaky'") == [(0,)]
    assert sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE token_name = 'sneaky'") == [(0,)]
    assert sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE user_id = (SELECT id FROM users "
               "WHERE username = 'admin')") == [(owner_keys,)]
    sign_in(other, user.email, PASSWORD)
    assert [a.text for a in other.driver.find_elements(By.CSS_SELECTOR, "header nav a")] == [
        "Workspaces", "Templates", "Account"]
    other.open("/deployment/users")
    assert "Not found" in other.text("h1") and victim.username not in other.driver.page_source
    other.check("users-as-member")


def test_forms_from_another_origin_change_nothing(site, admin):
    coderd, owner = site
    _, victim = create_another_user(owner, password=PASSWORD)
    sign_in(admin, "admin@example.com", FIRST_USER_PASSWORD)
    with PageServer() as evil:
        for path, fields in ((f"/deployment/users/{victim.id}/suspend", {}),
                             (f"/deployment/users/{victim.id}/roles", {"role-owner": "on"}),
                             ("/deployment/users/create", {"username": "evil", "password": PASSWORD,
                                                           "email": "evil@example.com"}),
                             ("/settings/security", {"old_password": FIRST_USER_PASSWORD,
                                                     "password": "Evil-Password-123!",
                                                     "confirm_password": "Evil-Password-123!"}),
                             ("/settings/tokens/new", {"token_name": "evil", "lifetime_days": "7"})):
            assert post_from_another_origin(admin, evil, path, fields) == [403], path
    assert owner.user(victim.username).status == "active" and owner.user(victim.username).roles == []
    assert sql(coderd.dsn, "SELECT count(*) FROM users WHERE username = 'evil'") == [(0,)]
    assert sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE token_name = 'evil'") == [(0,)]
    assert owner.login_with_password("admin@example.com", FIRST_USER_PASSWORD)


def test_a_suspended_user_is_logged_out_of_their_open_page(site, admin, other):
    """The issue's case: the member's open workspaces page polls; the admin suspends them in
    the dashboard; the member's page lands on the login page, and their token is refused."""
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    member_token = member.create_token(token_name="scripts")
    sign_in(other, user.email, PASSWORD)
    assert other.path() == "/workspaces"
    sign_in(admin, "admin@example.com", FIRST_USER_PASSWORD,
            start=f"/login?redirect=/deployment/users%3Fq%3D{user.username}")
    _confirm(admin, user.username, "Suspend")
    assert "Suspended" in _row(admin, user.username)
    WebDriverWait(other.driver, 20).until(lambda d: other.path().startswith("/login"))
    assert other.path() == "/login?redirect=%2Fworkspaces"
    other.check("suspended-logged-out")
    with loopback_names():
        resp = requests.get(coderd.url + "/api/v2/users/me",
                            headers={"Coder-Session-Token": member_token})
    assert resp.status_code == 401
