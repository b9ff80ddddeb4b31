"""Log in, log out and first-user setup in the dashboard, in a real browser, with the
attacks on them: forms posted from another origin, open redirects, a suspended session."""
from __future__ import annotations

import re

import requests
from selenium.webdriver.common.by import By

from tests.kit.browser import PageServer, loopback_names
from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user
from tests.kit.dashboard import (PASSWORD, Dashboard, post_from_another_origin, refuses_short_password, sign_in,
                                 start_dashboard_coderd)
from tests.kit.provisioning import sql


def test_first_user_setup_then_sign_out_and_in(pg_server, pg_template, chromium, test_output):
    with loopback_names():
        coderd = start_dashboard_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)))
        try:
            d = Dashboard(chromium, coderd, test_output)
            with PageServer() as evil:  # before anyone: another site cannot set it up
                assert post_from_another_origin(d, evil, "/setup", {
                    "email": "evil@example.com", "username": "evil",
                    "password": FIRST_USER_PASSWORD}) == [403]
            assert sql(coderd.dsn, "SELECT count(*) FROM users WHERE NOT is_system") == [(0,)]
            d.open("/login")  # a new deployment sends the visitor to setup
            assert d.path() == "/setup"
            d.check("setup")
            refuses_short_password(d, username="first", email="first@example.com")
            d.check("setup-error")
            d.fill(password=FIRST_USER_PASSWORD)
            d.submit()
            assert d.path().startswith("/workspaces")
            assert "first" in d.text("header")
            me = coderd.client(coderd.client().login_with_password("first@example.com",
                                                                   FIRST_USER_PASSWORD)).user()
            assert me.username == "first" and me.roles[0].name == "owner"
            d.open("/setup")  # done once: the login page, which sends a signed-in user on
            assert d.path() == "/workspaces"
            d.open("/workspaces")
            d.submit("header form")  # log out
            assert d.path() == "/login"
            d.open("/workspaces")
            assert d.path() == "/login?redirect=%2Fworkspaces"
            d.fill(email="first", password=FIRST_USER_PASSWORD)
            d.submit()
            assert d.path() == "/workspaces"
        finally:
            coderd.stop()


def test_login_comes_back_to_the_page_asked_for(site, dashboard):
    coderd, _ = site
    dashboard.open("/workspaces?q=owner%3Ame+status%3Arunning")
    assert dashboard.path().startswith("/login?redirect=")
    dashboard.check("login")
    dashboard.fill(email="admin@example.com", password="wrong-password")
    dashboard.submit()
    assert dashboard.text(".error") == "Incorrect email or password."
    assert dashboard.driver.find_element(By.NAME, "email").get_attribute("value") == "admin@example.com"
    dashboard.check("login-error")
    dashboard.fill(password=FIRST_USER_PASSWORD)
    dashboard.submit()
    assert dashboard.path() == "/workspaces?q=owner%3Ame+status%3Arunning"
    cookie = next(c for c in dashboard.browser.cookies(coderd.url) if c["name"] == "coder_session_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_login_redirects_only_to_this_origin(site, dashboard):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                   "javascript:alert(1)", "http://coder.test.evil.example/"):
        dashboard.browser.driver.delete_all_cookies()
        sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD,
                start="/login?" + requests.compat.urlencode({"redirect": target}))
        assert dashboard.path() == "/workspaces", target


def test_forms_posted_from_another_origin_are_refused(site, dashboard):
    """The attacker's page, on a sibling host of coderd (same site: SameSite=Lax sends the
    cookie), posts the login, logout and setup forms; none has effect."""
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    with PageServer() as evil:
        sign_in(dashboard, user.email, PASSWORD)
        keys_before = sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE user_id = %s", (str(user.id),))
        for path, fields in (("/logout", {}), ("/login", {"email": "admin@example.com",
                                                           "password": FIRST_USER_PASSWORD})):
            assert post_from_another_origin(dashboard, evil, path, fields) == [403], path
        # Still signed in as the member, with the same keys: no logout, no login as admin.
        dashboard.open("/workspaces")
        assert dashboard.path() == "/workspaces" and user.username in dashboard.text("header")
        assert sql(coderd.dsn, "SELECT count(*) FROM api_keys WHERE user_id = %s",
                   (str(user.id),)) == keys_before


def test_a_form_with_the_wrong_token_is_refused(site):
    """Even from coderd's own origin (as a page of it would send), a login form without
    this browser's token is a 403 page, and no session is made."""
    coderd, _ = site
    with loopback_names():
        session = requests.Session()
        page = session.get(coderd.url + "/login")
        assert page.status_code == 200 and "coder_csrf" in session.cookies
        resp = session.post(coderd.url + "/login", allow_redirects=False,
                            headers={"Origin": coderd.url},
                            data={"email": "admin@example.com", "password": FIRST_USER_PASSWORD,
                                  "csrf_token": "0" * 64})
    assert resp.status_code == 403 and "text/html" in resp.headers["Content-Type"]
    assert "coder_session_token" not in resp.cookies and FIRST_USER_PASSWORD not in resp.text
    # The same coderd opened at another address (a new user's 127.0.0.1 for coder.test):
    # refused, and the page names the address the dashboard must be opened at.
    other = coderd.url.replace("coder.test", "127.0.0.1")
    session = requests.Session()
    session.get(other + "/login")
    resp = session.post(other + "/login", allow_redirects=False, headers={"Origin": other},
                        data={"email": "admin@example.com", "password": FIRST_USER_PASSWORD,
                              "csrf_token": "0" * 64})
    assert resp.status_code == 403 and "coder_session_token" not in resp.cookies
    assert f"Open the dashboard at {coderd.url} (CODER_ACCESS_URL)" in resp.text
    # With its token, but a NUL in a field's name (as in a value): a 400, no session.
    with loopback_names():
        session = requests.Session()
        token = re.search(r'name="csrf_token" value="(\w+)"', session.get(coderd.url + "/login").text)
        resp = session.post(coderd.url + "/login", allow_redirects=False,
                            headers={"Origin": coderd.url},
                            data={"email": "admin@example.com", "password": FIRST_USER_PASSWORD,
                                  "csrf_token": token.group(1), "x\x00": ""})
    assert resp.status_code == 400 and "coder_session_token" not in resp.cookies
    assert "A form must not contain NUL characters." in resp.text


def test_a_suspended_users_session_is_refused(site, dashboard):
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    sign_in(dashboard, user.email, PASSWORD)
    assert dashboard.path() == "/workspaces"
    owner.update_user_status(user.id, "suspended")
    dashboard.open("/workspaces")
    assert dashboard.path() == "/login?redirect=%2Fworkspaces"
    dashboard.fill(email=user.email, password=PASSWORD)
    dashboard.submit()
    assert "suspended" in dashboard.text(".error")
