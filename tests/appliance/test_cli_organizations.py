"""``coder organizations`` and ``coder login token`` against a real coderd, through the real
CLI, as a user would run them."""
from __future__ import annotations

import json

from tests.kit.coderd import create_another_user


def test_login_token_prints_the_stored_session(cli, shared_coderd, shared_owner):
    proc = cli.run("login", "token", expect=1)
    assert proc.stdout == ""
    assert "no session token found - run 'coder login' first" in proc.stderr
    # A login by token stores a new session key, which is what `login token` prints.
    cli.run("login", shared_coderd.url, "--token", shared_owner.token)
    stored = cli.run("login", "token").stdout
    assert stored.strip() == cli.config.read("session") and stored.endswith("\n")
    assert stored.strip() != shared_owner.token
    # URL and subcommand side by side: a URL is still a URL, flags after it are login's.
    cli.run("login", shared_coderd.url, "--token", shared_owner.token, "--use-token-as-session")
    assert cli.run("login", "token").stdout.strip() == shared_owner.token
    proc = cli.run("login", shared_coderd.url, "surplus", expect=2)
    assert "unrecognized arguments: surplus" in proc.stderr
    assert "Print the current session token" in cli.run("login", "--help").stdout


def test_organizations_show(owner_cli, shared_coderd, shared_owner):
    org = shared_owner.organization("default")
    out = owner_cli.run("organizations", "show").stdout
    assert out == f"Current CLI Organization: coder ({org.id})\n"
    assert owner_cli.run("org", "show", "selected", "--only-id").stdout == f"{org.id}\n"
    assert owner_cli.run("orgs", "show", "me").stdout == \
        f"Organizations you are a member of:\n\tcoder ({org.id})\n"
    assert owner_cli.run("organization", "show", "coder").stdout == \
        f"Organization: coder ({org.id})\n"
    shown = json.loads(owner_cli.run("organizations", "show", "coder", "-o", "json").stdout)
    assert [(o["id"], o["name"], o["is_default"]) for o in shown] == [(str(org.id), "coder", True)]
    table = owner_cli.run("organizations", "show", "me", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "DEFAULT"]
    assert table[1].split() == [str(org.id), "coder", "true"]
    proc = owner_cli.run("organizations", "show", "nope", expect=1)
    assert "Organization not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = owner_cli.run("organizations", "show", "-O", "nope", expect=1)
    assert 'organization "nope" not found' in proc.stderr


def test_members_list_add_edit_remove(owner_cli, cli, shared_coderd, shared_owner):
    member, user = create_another_user(shared_owner)
    name = user.username
    listed = json.loads(owner_cli.run("organizations", "members", "list", "-o", "json").stdout)
    assert name in [m["username"] for m in listed]
    table = owner_cli.run("organizations", "members", "list").stdout.splitlines()
    assert table[0].split() == ["USERNAME", "ORGANIZATION", "ROLES"]
    assert [name] in [line.split() for line in table[1:]]

    out = owner_cli.run("organizations", "members", "edit-roles", name,
                        "organization-admin", "organization-auditor").stdout
    assert out == "Member roles updated to [organization-admin, organization-auditor]\n"
    table = owner_cli.run("org", "member", "list", "-c", "username,organization_roles").stdout
    assert [name, "organization-admin,organization-auditor"] in \
        [line.split() for line in table.splitlines()]
    assert owner_cli.run("organizations", "members", "edit-role", name).stdout == \
        "Member roles updated to []\n"
    proc = owner_cli.run("organizations", "members", "edit-roles", name, "owner", expect=1)
    assert proc.stderr.startswith("error: update member roles: Unknown organization roles: owner")

    assert owner_cli.run("organizations", "members", "remove", name).stdout == \
        'Organization member removed from "Coder"\n'
    assert name not in owner_cli.run("organizations", "members", "list").stdout
    proc = owner_cli.run("organizations", "members", "remove", name, expect=1)
    assert proc.stderr.startswith('error: could not remove member from organization "Coder": ')
    assert owner_cli.run("organizations", "members", "add", name).stdout == \
        'Organization member added to "Coder"\n'
    proc = owner_cli.run("organizations", "members", "add", name, expect=1)
    assert 'could not add member to organization "Coder": Organization member already ' \
           'exists' in proc.stderr

    # A member may list, but neither add, remove nor change roles; no one their own.
    member_cli = cli.log_in_as(shared_coderd.url, member.token)
    assert "admin" in member_cli.run("organizations", "members", "list").stdout
    for args in (("remove", "admin"), ("edit-roles", "admin", "organization-admin"),
                 ("edit-roles", name, "organization-admin")):
        proc = member_cli.run("organizations", "members", *args, expect=1)
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    owner_cli = cli.log_in_as(shared_coderd.url, shared_owner.token)
    assert "admin" in owner_cli.run("organizations", "members", "list").stdout
    proc = owner_cli.run("organizations", "members", "add", expect=2)
    assert "usage: coder organizations members add" in proc.stderr
