"""``coder login``, ``logout`` and ``whoami`` against a real coderd, through
the real CLI (subprocesses, and a pseudo-terminal for the prompts)."""
from __future__ import annotations

import json
import stat

import pytest

from appliance.sdk.client import APIError, Client

from tests.kit.coderd import FIRST_USER_PASSWORD, free_port

PASSWORD = "CorrectHorseBattery1!"


def test_login_creates_first_user_from_flags(coderd, cli):
    out = cli.run("login", coderd.url, "--first-user-username", "alice",
                  "--first-user-email", "alice@example.com",
                  env={"CODER_FIRST_USER_PASSWORD": PASSWORD}).stdout
    assert "Your Coder deployment hasn't been set up!" in out
    assert "Welcome to Coder, alice! You're authenticated." in out
    assert cli.config.read("url") == coderd.url
    for name in ("url", "session"):
        assert stat.S_IMODE((cli.config_dir / name).stat().st_mode) == 0o600
    me = Client(coderd.url, cli.config.read("session")).user("me")
    assert (me.username, me.email) == ("alice", "alice@example.com")
    assert [r.name for r in me.roles] == ["owner"]
    # The deployment is set up now: the flags no longer apply and a token is needed.
    proc = cli.run("login", coderd.url, "--first-user-username", "bob", expect=1)
    assert "needs a terminal" in proc.stderr and "--token" in proc.stderr


def test_login_creates_first_user_interactively(coderd, cli):
    status, out = cli.converse(("login", coderd.url), [
        ("Would you like to create the first user", ""),
        ("What username would you like", "carol"),
        ("What is your name", "Carol Jones"),
        ("What's your email", "not-an-email"),
        ("That is not an email address", "carol@example.com"),
        ("Enter a password:", "password"),  # Coder's rules refuse it before the server does
        ("insecure password, try including more special characters.*Enter a password:", PASSWORD),
        ("Confirm password:", "something else"),
        ("Passwords do not match.*Enter a password:", PASSWORD),
        ("Confirm password:", PASSWORD),
    ])
    assert status == 0
    assert "Welcome to Coder, carol! You're authenticated." in out
    assert PASSWORD not in out  # never echoed
    me = Client(coderd.url, cli.config.read("session")).user("me")
    assert (me.username, me.name) == ("carol", "Carol Jones")


def test_login_with_token_stores_a_new_session(shared_coderd, shared_owner, cli):
    token = shared_owner.create_token(token_name="cli-login")
    out = cli.run("login", shared_coderd.url, "--token", token).stdout
    assert "Welcome to Coder, admin! You're authenticated." in out
    session = cli.config.read("session")
    assert session and session != token  # a session key made from the token
    assert Client(shared_coderd.url, session).user("me").username == "admin"
    out = cli.run("whoami").stdout
    assert out.strip() == f"Coder is running at {shared_coderd.url}, You're authenticated as admin !"
    # --use-token-as-session stores the token itself; the URL may omit http:// for 127.0.0.1.
    bare = shared_coderd.url.removeprefix("http://")
    cli.run("login", bare, "--use-token-as-session", env={"CODER_SESSION_TOKEN": token})
    assert cli.config.read("session") == token
    assert cli.config.read("url") == shared_coderd.url


def test_login_with_bad_token(shared_coderd, shared_owner, cli):
    proc = cli.run("login", shared_coderd.url, "--token", "abcdefghij-notasecret", expect=1)
    assert "That's not a valid token!" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not cli.config_dir.exists() or not cli.config.read("session")


def password_login(login: str, password: str) -> list[tuple[str, str]]:
    return [("Paste your token here:", ""), ("Email or username:", login), ("Password:", password)]


def test_login_with_password_on_a_terminal(shared_coderd, shared_owner, cli):
    status, out = cli.converse(("login", shared_coderd.url),
                               password_login("admin@example.com", FIRST_USER_PASSWORD))
    assert status == 0
    assert "Welcome to Coder, admin! You're authenticated." in out
    assert Client(shared_coderd.url, cli.config.read("session")).user("me").username == "admin"

    status, out = cli.converse(("login", shared_coderd.url),
                               password_login("admin", "not the password"))
    assert status == 1
    assert "error: Incorrect email or password." in out
    assert "Traceback" not in out


def test_login_with_pasted_token(shared_coderd, shared_owner, cli):
    token = shared_owner.create_token(token_name="pasted")
    status, out = cli.converse(("login", shared_coderd.url), [
        ("Paste your token here:", "wrong-token"),
        ("That's not a valid token!.*Paste your token here:", token),
    ])
    assert status == 0
    assert "Welcome to Coder, admin!" in out


def test_logout_revokes_the_session(shared_coderd, shared_owner, cli):
    session = shared_owner.create_api_key("me")
    cli.log_in_as(shared_coderd.url, session)
    out = cli.run("logout", "-y").stdout
    assert "You are no longer logged in." in out
    assert not (cli.config_dir / "session").exists()
    assert not (cli.config_dir / "url").exists()
    with pytest.raises(APIError) as err:
        Client(shared_coderd.url, session).user("me")
    assert err.value.status == 401
    proc = cli.run("whoami", expect=1)
    assert "error: You are not logged in." in proc.stderr
    assert "hint: Try logging in using 'coder login <url>'." in proc.stderr


def test_logout_asks_first_on_a_terminal(shared_coderd, shared_owner, cli):
    cli.log_in_as(shared_coderd.url, shared_owner.create_api_key("me"))
    status, out = cli.converse(("logout",), [("Are you sure you want to log out", "n")])
    assert status == 0 and "Still logged in." in out
    assert cli.config.read("session")
    proc = cli.run("logout", expect=1)  # no terminal: names the flag, once
    assert proc.stderr.count("--yes") == 1 and cli.config.read("session")


def test_logout_without_server_still_forgets_the_session(cli):
    cli.log_in_as(f"http://127.0.0.1:{free_port()}", "abcdefghij-secret")
    proc = cli.run("logout", "--yes")
    assert "warning: Could not reach Coder at http://127.0.0.1:" in proc.stderr
    assert "You are no longer logged in." in proc.stdout
    assert not (cli.config_dir / "session").exists()


def test_whoami_json_and_revoked_session(shared_coderd, shared_owner, cli):
    session = shared_owner.create_api_key("me")
    cli.log_in_as(shared_coderd.url, session)
    data = json.loads(cli.run("whoami", "-o", "json").stdout)
    assert data["url"] == shared_coderd.url and data["username"] == "admin"
    assert data["email"] == "admin@example.com"
    Client(shared_coderd.url, session).logout()
    proc = cli.run("whoami", expect=1)
    assert "error:" in proc.stderr
    assert f"hint: Try logging in using 'coder login {shared_coderd.url}'." in proc.stderr


def test_unreachable_and_malformed_urls(cli):
    port = free_port()
    proc = cli.run("login", f"http://127.0.0.1:{port}", "--token", "x", expect=1)
    assert f"error: Could not reach Coder at http://127.0.0.1:{port}: connection refused" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli.run("-v", "login", f"http://127.0.0.1:{port}", "--token", "x", expect=1)
    assert "Traceback" in proc.stderr  # -v shows where it failed
    proc = cli.run("login", "ftp://example.com", expect=2)
    assert "is not a deployment URL" in proc.stderr
    proc = cli.run("whoami", "--url", f"http://127.0.0.1:{port}", "--token", "x", expect=1)
    assert "Could not reach Coder" in proc.stderr
