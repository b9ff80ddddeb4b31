"""The viewer's own settings in a real browser (/settings/account, /settings/security,
/settings/tokens) and /cli-auth on the dashboard's layout: the API's validation at the
field, a token shown once in a copyable field, revoked after a confirmation, and no other
user's token listed or revocable."""
from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.kit.browser import loopback_names
from tests.kit.coderd import create_another_user
from tests.kit.dashboard import PASSWORD, sign_in

NEW_PASSWORD = "A-Brand-New-Password-42"


def _status(coderd, token: str) -> int:
    with loopback_names():
        return requests.get(coderd.url + "/api/v2/users/me",
                            headers={"Coder-Session-Token": token}).status_code


def _error(d, field: str) -> str:
    return d.text(f"#{field}-error")


def test_profile_and_password(site, dashboard):
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    _, taken = create_another_user(owner, password=PASSWORD)
    sign_in(dashboard, user.email, PASSWORD, start="/login?redirect=/settings/account")
    assert dashboard.path() == "/settings/account"
    assert dashboard.driver.find_element(By.NAME, "username").get_attribute("value") == user.username
    dashboard.check("account")
    dashboard.fill(username=taken.username)
    dashboard.submit()
    assert _error(dashboard, "username") == "is already taken"
    dashboard.fill(username="Not Valid!")
    dashboard.submit()
    assert _error(dashboard, "username")
    dashboard.check("account-error")
    renamed = user.username + "-x"
    dashboard.fill(username=renamed, name="Erin Example")
    dashboard.submit()
    assert dashboard.path() == "/settings/account?saved=1"
    me = owner.user(user.id)
    assert (me.username, me.name) == (renamed, "Erin Example")

    dashboard.open("/settings/security")
    dashboard.check("security")
    for fields, field, expected in (
            ({"old_password": PASSWORD, "password": "short", "confirm_password": "short"},
             "password", "password"),
            ({"old_password": "Wrong-Password-1!", "password": NEW_PASSWORD,
              "confirm_password": NEW_PASSWORD}, "old_password", "is incorrect"),
            ({"old_password": PASSWORD, "password": NEW_PASSWORD,
              "confirm_password": NEW_PASSWORD + "?"}, "confirm_password", "Passwords must match."),
            ({"old_password": PASSWORD, "password": PASSWORD, "confirm_password": PASSWORD},
             "password", "is the current password")):
        dashboard.fill(**fields)
        dashboard.submit()
        assert expected in _error(dashboard, field), (fields, field)
        assert all(e.get_attribute("value") == "" for e in
                   dashboard.driver.find_elements(By.CSS_SELECTOR, "input[type=password]"))
    dashboard.check("security-error")
    dashboard.fill(old_password=PASSWORD, password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    dashboard.submit()
    assert dashboard.path() == "/settings/security?saved=1"  # still signed in, anew
    assert "other sessions were signed out" in dashboard.text(".ok")
    assert _status(coderd, member.token) == 401  # the member's older session ended
    assert member.login_with_password(user.email, NEW_PASSWORD)


def test_tokens_and_cli_auth(site, dashboard):
    coderd, owner = site
    member, user = create_another_user(owner, password=PASSWORD)
    owner.create_token(token_name="owners-secret-token")
    sign_in(dashboard, user.email, PASSWORD, start="/login?redirect=/settings/tokens")
    assert "No tokens yet." in dashboard.text("#tokens")
    assert dashboard.text("header nav a[aria-current=page]") == "Account"
    dashboard.check("tokens-empty")
    dashboard.open("/settings/tokens/new")
    # Coder's choices up to CODER_MAX_TOKEN_LIFETIME (30 days by default, as Coder's)
    assert [o.text for o in dashboard.driver.find_elements(By.CSS_SELECTOR, "#lifetime_days option")] \
        == ["7 days", "30 days"]
    dashboard.fill(token_name="-bad name")
    dashboard.submit()
    assert _error(dashboard, "token_name")
    dashboard.fill(token_name="ci-runner")
    dashboard.submit()
    field = dashboard.driver.find_element(By.ID, "token")
    token = field.get_attribute("value")
    assert field.get_attribute("readonly") and _status(coderd, token) == 200
    copy = dashboard.driver.find_element(By.CSS_SELECTOR, "button[data-copy=token]")
    assert copy.is_displayed()  # copy.js ran (a deferred file of coderd's, no inline script)
    copy.click()
    assert copy.text == "Copied"
    dashboard.check("token-created")
    dashboard.open("/settings/tokens/new")
    dashboard.fill(token_name="ci-runner")
    dashboard.submit()
    assert _error(dashboard, "token_name") == "is already taken"

    dashboard.open("/settings/tokens")
    rows = dashboard.text("#tokens")
    assert "ci-runner" in rows and "owners-secret-token" not in rows
    assert token not in dashboard.driver.page_source  # shown once, never listed
    dashboard.check("tokens")
    dashboard.driver.find_element(By.CSS_SELECTOR, "#token-ci-runner details.confirm summary").click()
    dashboard.submit("#token-ci-runner details.confirm")
    assert dashboard.path() == "/settings/tokens" and "ci-runner" not in dashboard.text("#tokens")
    assert _status(coderd, token) == 401

    dashboard.open("/cli-auth")  # on the dashboard's layout, with its forms
    assert f"Signed in as {user.username}" in dashboard.text()
    dashboard.check("cli-auth")
    dashboard.submit()
    cli_token = dashboard.driver.find_element(By.ID, "token").get_attribute("value")
    assert cli_token != token and _status(coderd, cli_token) == 200
    dashboard.check("cli-auth-token")
