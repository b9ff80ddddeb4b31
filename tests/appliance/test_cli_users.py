"""``coder users`` against a real coderd, through the real CLI."""
from __future__ import annotations

import json
import re

import pexpect
import pytest

from appliance.sdk.client import APIError, Client


def test_create_list_show(owner_cli, shared_coderd):
    out = owner_cli.run("users", "create", "--username", "dave", "--email", "dave@example.com",
                        "--full-name", "Dave Smith").stdout
    assert "A new user has been created!" in out
    password = re.search(r"Your password is: (\S+)", out).group(1)
    assert len(password) == 20
    # The generated password works.
    assert Client(shared_coderd.url).login_with_password("dave@example.com", password)

    users = json.loads(owner_cli.run("users", "list", "-o", "json").stdout)
    dave = next(u for u in users if u["username"] == "dave")
    assert dave["email"] == "dave@example.com" and dave["status"] == "active"
    assert dave["name"] == "Dave Smith" and dave["login_type"] == "password"

    table = owner_cli.run("users", "list").stdout.splitlines()
    assert table[0].split() == ["USERNAME", "EMAIL", "CREATED", "AT", "STATUS"]
    assert any(line.split()[:2] == ["dave", "dave@example.com"] for line in table[1:])
    table = owner_cli.run("users", "ls", "-c", "username,roles").stdout.splitlines()
    assert table[0].split() == ["USERNAME", "ROLES"]
    assert ["admin", "owner"] in [line.split() for line in table]

    shown = json.loads(owner_cli.run("users", "show", "dave", "-o", "json").stdout)
    assert shown["id"] == dave["id"]
    assert "dave@example.com" in owner_cli.run("users", "show", dave["id"]).stdout
    proc = owner_cli.run("users", "list", "-c", "nope", expect=2)
    assert "unknown column 'nope'" in proc.stderr


def test_create_without_password_login(owner_cli):
    out = owner_cli.run("users", "create", "-u", "robot", "-e", "robot@example.com",
                        "--login-type", "none").stdout
    assert "Your password is" not in out and "API token" in out
    shown = json.loads(owner_cli.run("users", "show", "robot", "-o", "json").stdout)
    assert shown["login_type"] == "none"


def test_taken_username_and_bad_input(owner_cli):
    owner_cli.run("users", "create", "-u", "erin", "-e", "erin@example.com", "-p", "ErinPass1!")
    proc = owner_cli.run("users", "create", "-u", "erin", "-e", "erin2@example.com",
                         "-p", "ErinPass1!", expect=1)
    assert "error: A user with this username already exists." in proc.stderr
    assert "username: is already taken" in proc.stderr
    proc = owner_cli.run("users", "create", "--username=bad_name", "-e", "x@example.com", expect=1)
    assert "username:" in proc.stderr
    proc = owner_cli.run("users", "create", "-u", "frank", expect=1)
    assert "needs a terminal" in proc.stderr and "--email" in proc.stderr
    proc = owner_cli.run("users", "show", "nobody-here", expect=1)
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_suspend_locks_out_then_activate(owner_cli, shared_coderd):
    owner_cli.run("users", "create", "-u", "gina", "-e", "gina@example.com", "-p", "GinaPass1!")
    gina = Client(shared_coderd.url)
    gina.token = gina.login_with_password("gina", "GinaPass1!")
    assert "User gina has been suspended!" in owner_cli.run("users", "suspend", "gina").stdout
    with pytest.raises(APIError) as err:
        gina.user("me")
    assert err.value.status == 401
    status = json.loads(owner_cli.run("users", "show", "gina", "-o", "json").stdout)["status"]
    assert status == "suspended"
    assert "User gina has been activated!" in owner_cli.run("users", "activate", "gina").stdout
    assert gina.user("me").username == "gina"


def test_member_cannot_manage_users(cli, owner_cli, shared_coderd):
    owner_cli.run("users", "create", "-u", "hank", "-e", "hank@example.com", "-p", "HankPass1!")
    hank = Client(shared_coderd.url).login_with_password("hank", "HankPass1!")
    proc = cli.run("users", "suspend", "admin", "--url", shared_coderd.url, "--token", hank,
                   expect=1)
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_delete(owner_cli):
    owner_cli.run("users", "create", "-u", "ivan", "-e", "ivan@example.com", "-p", "IvanPass1!")
    assert "Successfully deleted ivan." in owner_cli.run("users", "delete", "ivan").stdout
    users = json.loads(owner_cli.run("users", "list", "-o", "json").stdout)
    assert "ivan" not in {u["username"] for u in users}


def test_group_without_subcommand_prints_help(cli):
    proc = cli.run("users", expect=2)
    assert "suspend" in proc.stdout and "activate" in proc.stdout


@pytest.mark.parametrize("weak", ["password", "a"])
def test_create_refuses_a_weak_password_with_coders_words(owner_cli, weak):
    done = owner_cli.run("users", "create", "-u", "weak" + str(len(weak)), "-e",
                         f"weak{len(weak)}@example.com", "-p", weak, expect=1)
    assert done.stderr == ("error: Password not strong enough!\n  password: insecure password, "
                           "try including more special characters, using uppercase letters, "
                           "using numbers or using a longer password\n")


def test_edit_roles(owner_cli, shared_coderd):
    owner_cli.run("users", "create", "-u", "rita", "-e", "rita@example.com", "-p", "RitaPass1!")

    def roles() -> list[str]:
        shown = json.loads(owner_cli.run("users", "show", "rita", "-o", "json").stdout)
        return sorted(r["name"] for r in shown["roles"])

    assert owner_cli.run("users", "edit-roles", "rita", "--roles", "template-admin,auditor").stdout == ""
    assert roles() == ["auditor", "template-admin"]
    owner_cli.run("users", "edit-roles", "rita", "--roles", "user-admin")  # replaces them all
    assert roles() == ["user-admin"]
    proc = owner_cli.run("users", "edit-roles", "rita", "--roles", "admin", expect=1)
    assert proc.stderr.splitlines()[0] == (
        "error: The role admin is not valid. Please use one or more of the following roles: "
        "owner, template-admin, user-admin, auditor")
    proc = owner_cli.run("users", "edit-roles", "rita", expect=1)  # no terminal, no prompt
    assert "needs a terminal" in proc.stderr and "--roles" in proc.stderr
    # On a terminal: the current roles are marked, and the answer replaces them.
    child = owner_cli.spawn("users", "edit-roles", "rita")
    child.expect(r"1\) \[ \] owner\s+2\) \[ \] template-admin\s+3\) \[x\] user-admin")
    child.expect(r"Numbers or names .*: \(user-admin\) ")
    child.sendline("9")
    child.expect("Choose from 1-4")
    child.sendline("1, auditor")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert roles() == ["auditor", "owner"]
    owner_cli.converse(("users", "edit-roles", "rita"), [(r"Numbers or names", "none")])
    assert roles() == []
    # A member cannot give roles (coderd's refusal, in one line).
    rita = Client(shared_coderd.url)
    rita.token = rita.login_with_password("rita", "RitaPass1!")
    member = owner_cli.log_in_as(shared_coderd.url, rita.token)
    proc = member.run("users", "edit-roles", "rita", "--roles", "owner", expect=1)
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
