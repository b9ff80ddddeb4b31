"""``coderd reset-password USERNAME``: the locked-out owner's recovery, run as an
administrator runs it: beside coderd, with coderd's settings in its EnvironmentFile, the
password typed twice on a terminal (pexpect) or piped with ``--password-stdin``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from appliance.sdk import types

from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user, raw

ROOT = Path(__file__).resolve().parents[2]
RESET = [sys.executable, "-m", "server.cli", "reset-password"]
NEW_PASSWORD = "Brand-New-Owner-Pass-42"
NO_CODER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}


@pytest.fixture(scope="module")
def env_file(shared_coderd, tmp_path_factory):
    path = tmp_path_factory.mktemp("reset") / "coderd.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in shared_coderd.env.items()
                            if k.startswith("CODER_")))
    return str(path)


def login(coderd, username: str, password: str) -> int:
    return raw(coderd, "POST", "/api/v2/users/login",
               json={"email": f"{username}@example.com" if username != "admin" else
                     "admin@example.com", "password": password}).status_code


def reset_piped(env_file: str, username: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RESET, username, "--env-file", env_file, "--password-stdin"],
                          input=stdin, env=NO_CODER_ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_owner_resets_on_a_terminal(shared_coderd, shared_owner, env_file):
    assert raw(shared_coderd, "GET", "/api/v2/users/me", shared_owner.token).status_code == 200
    child = pexpect.spawn(RESET[0], [*RESET[1:], "admin", "--env-file", env_file],
                          env=NO_CODER_ENV, cwd=str(ROOT), encoding="utf-8", timeout=60)
    child.expect("Enter new password:")
    child.sendline("password")  # refused by the rule the API applies, asked again
    child.expect("insecure password")
    child.expect("Enter new password:")
    child.sendline(NEW_PASSWORD)
    child.expect("Confirm password:")
    child.sendline("Something-Else-42")
    child.expect("Passwords do not match, try again.")
    child.expect("Enter new password:")
    child.sendline(NEW_PASSWORD)
    child.expect("Confirm password:")
    child.sendline(NEW_PASSWORD)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Password has been reset for user admin!" in child.before
    assert NEW_PASSWORD not in child.before
    # The new password logs in, the old one no longer; the owner's sessions ended.
    assert login(shared_coderd, "admin", NEW_PASSWORD) == 201
    assert login(shared_coderd, "admin", FIRST_USER_PASSWORD) == 401
    assert raw(shared_coderd, "GET", "/api/v2/users/me", shared_owner.token).status_code == 401
    shared_owner.token = shared_owner.login_with_password("admin@example.com", NEW_PASSWORD)


def test_piped_and_refused(shared_coderd, shared_owner, env_file):
    member, user = create_another_user(shared_owner)
    token = member.create_token(token_name="kept")
    done = reset_piped(env_file, user.username, "Piped-In-Password-77\n")
    assert done.returncode == 0, done.stderr
    assert f"Password has been reset for user {user.username}!" in done.stdout
    assert login(shared_coderd, user.username, "Piped-In-Password-77") == 201
    # Login sessions end; an API token stays, as with a change through the API.
    assert raw(shared_coderd, "GET", "/api/v2/users/me", member.token).status_code == 401
    assert raw(shared_coderd, "GET", "/api/v2/users/me", token).status_code == 200

    # Refusals: one line each, nothing changed, the password never echoed.
    done = reset_piped(env_file, user.username, "qwertyuiop\n")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("coderd reset-password: error: the password on standard "
                                  "input is refused: insecure password")
    assert "qwerty" not in done.stderr
    done = reset_piped(env_file, "nobody-here", "Piped-In-Password-77\n")
    assert (done.returncode, done.stderr) == (
        1, "coderd reset-password: error: retrieving user: no user named 'nobody-here'\n")
    done = subprocess.run([*RESET, user.username, "--env-file", env_file], env=NO_CODER_ENV,
                          cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "needs a terminal" in done.stderr
    assert "--password-stdin" in done.stderr
    assert login(shared_coderd, user.username, "Piped-In-Password-77") == 201

    robot = shared_owner.create_user(types.CreateUserRequest(
        email="robot-rp@example.com", username="robot-rp", login_type="none"))
    done = reset_piped(env_file, robot.username, "Piped-In-Password-77\n")
    assert (done.returncode, done.stderr) == (
        1, "coderd reset-password: error: user robot-rp logs in with 'none', not a password\n")


def test_a_database_that_cannot_be_reached_is_one_line(tmp_path):
    env = tmp_path / "coderd.env"
    env.write_text("CODER_PG_CONNECTION_URL=postgresql://coder:secret@127.0.0.1:1/coder\n")
    done = reset_piped(str(env), "admin", "Piped-In-Password-77\n")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("coderd reset-password: error: ")
    assert "secret" not in done.stderr and "Traceback" not in done.stderr


def test_no_database_is_said_not_made(tmp_path):
    """Without coderd's settings (an empty config folder) nothing is started or created."""
    env = tmp_path / "coderd.env"
    env.write_text(f"CODER_CONFIG_DIR={tmp_path / 'config'}\n")
    done = reset_piped(str(env), "admin", "Piped-In-Password-77\n")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"coderd reset-password: error: no coderd database in "
                                  f"{tmp_path / 'config' / 'postgres'} (give coderd's settings")
    assert not (tmp_path / "config" / "postgres").exists()
