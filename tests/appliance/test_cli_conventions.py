"""The conventions every ``coder`` command shares: one confirmation policy (``-y/--yes``
answers every confirmation; without a terminal a command that would ask fails naming
the flag, on a terminal it asks), and an unknown flag answered with the command's own
usage line, exit 2."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("command", [("list",), ("users", "list"), ("templates", "versions", "list", "x"),
                                     ("tokens", "create"), ("config-ssh",)])
def test_unknown_flag_prints_the_commands_own_usage(cli, command):
    proc = cli.run(*command, "--bogus", expect=2)
    name = " ".join(c for c in command if not c.startswith("-") and c != "x")
    assert proc.stderr.startswith(f"usage: coder {name} ")
    assert proc.stderr.rstrip().endswith(f"coder {name}: error: unrecognized arguments: --bogus")


def test_no_terminal_no_prompt_and_yes_skips_it(owner_cli, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host mine\n  User me\n")
    proc = owner_cli.run("config-ssh", "--ssh-config-file", str(config), expect=1)
    assert proc.stderr.splitlines() == [
        f"error: 'Update SSH config {config}?' needs a terminal to prompt on",
        "hint: Pass --yes to answer yes without a prompt."]
    assert config.read_text() == "Host mine\n  User me\n"
    # -y is global: before the command as after it.
    owner_cli.run("-y", "config-ssh", "--ssh-config-file", str(config))
    assert "START-CODER" in config.read_text()
    proc = owner_cli.run("stop", "nobody-here", expect=1)  # the workspace is looked up first
    assert "Traceback" not in proc.stderr


def test_a_terminal_is_asked_and_no_cancels(owner_cli, tmp_path):
    config = tmp_path / "ssh_config"
    status, out = owner_cli.converse(("config-ssh", "--ssh-config-file", str(config)),
                                     [(r"Update SSH config .*\? \[Y/n\]", "n")])
    assert status == 1 and "error: canceled" in out and not config.exists()
    status, out = owner_cli.converse(("config-ssh", "--ssh-config-file", str(config)),
                                     [(r"\[Y/n\]", "y")])
    assert status == 0 and "START-CODER" in config.read_text()


def test_org_flag_names_one_of_the_callers_organizations(owner_cli, shared_owner):
    default = next(o for o in shared_owner.user_organizations() if o.is_default)
    for command in (("templates", "versions", "list", "x"), ("templates", "delete", "x", "-y"),
                    ("create", "ws", "-t", "x"), ("users", "create", "-u", "o1", "-e", "o1@x.io")):
        proc = owner_cli.run(*command, "-O", "nope", expect=1)
        assert proc.stderr.splitlines()[0] == (
            'error: organization "nope" not found, are you sure you are a member of this '
            f"organization? Valid options for '--org=' are [{default.name}].")
    proc = owner_cli.run("create", "ws", "-t", "x", env={"CODER_ORGANIZATION": "nope"}, expect=1)
    assert 'organization "nope" not found' in proc.stderr
    owner_cli.run("users", "create", "-u", "orgmember", "-e", "om@example.com", "--org",
                  str(default.id))
    owner_cli.run("users", "create", "-u", "orgmember2", "-e", "om2@example.com", "-O",
                  default.name)
    member = next(u for u in shared_owner.users().users if u.username == "orgmember")
    assert member.organization_ids == [default.id]
    proc = owner_cli.run("templates", "versions", "list", "x", "-O", default.name, expect=1)
    assert "not found" in proc.stderr.lower() and "organization" not in proc.stderr.lower()
