"""``coder create`` on a terminal asks, in Coder's order and words, for what is missing:
the workspace name, then the template, then required parameters; without a terminal
it asks nothing and names what to pass."""
from __future__ import annotations

import json

import pexpect

from tests.kit.coderd import create_first_user
from tests.kit.provisioning import TEMPLATE


def test_create_asks_for_name_template_and_parameters(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    proc = c.run("create", expect=1)
    assert "needs a terminal" in proc.stderr and "NAME" in proc.stderr
    proc = c.run("create", "box", expect=1)
    assert "needs a terminal" in proc.stderr and "--template NAME" in proc.stderr
    status, out = c.converse(("create",), [("Specify a name for your workspace:", "box")])
    assert status == 1 and "No templates available." in out

    for name, text in (("demo", TEMPLATE), ("empty", "terraform {}\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.tf").write_text(text)
        c.run("templates", "push", name, "-d", str(tmp_path / name), "-y")

    child = c.spawn("create")
    child.expect("Specify a name for your workspace:")
    child.sendline("box")
    child.expect(r"Select a template below to preview the provisioned infrastructure:\s+"
                 r"1\) demo\s+2\) empty")
    child.expect(r"Number or name: \(1\)")
    child.sendline("3")
    child.expect("Choose one of 1-2, or its name.")
    child.sendline("")  # Enter: the first, as Coder's highlighted first item
    child.expect("region")
    child.sendline("there")
    child.expect(r"Workspace Preview.*Confirm create\? \[Y/n\] ", timeout=240)
    child.sendline("y")
    child.expect("The box workspace has been created!", timeout=240)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    listed = json.loads(c.run("list", "-o", "json").stdout)
    assert [(w["name"], w["template_name"]) for w in listed] == [("box", "demo")]
