"""``coder config-ssh`` as Coder's writes it now: one wildcard ``Host coder.*`` entry in
the managed block (a new workspace needs no rerun), Coder's flags, and a block written
by an older version (one Host per workspace) rewritten where it stands, nothing else in
the file touched. The entry reaching real workspaces is tests/relay/test_ssh.py."""
from __future__ import annotations

import pytest

START, END = "# ------------START-CODER-----------", "# ------------END-CODER------------"
OLD_BLOCK = f"""{START}
Host coder.box
  ProxyCommand /usr/bin/coder --global-config /x ssh --stdio --fdpass box
  ProxyUseFdpass yes
  ConnectTimeout=0
Host coder.other
  ProxyCommand /usr/bin/coder --global-config /x ssh --stdio --fdpass other
  ProxyUseFdpass yes
{END}
"""
BEFORE = "Host first\n  HostName a.example\n\n"
AFTER = "\nHost last\n  HostName b.example\n"


def _block(text: str) -> str:
    return text[text.index(START):text.index(END) + len(END) + 1]


def test_an_old_block_is_rewritten_in_place(owner_cli, tmp_path):
    config = tmp_path / "config"
    config.write_text(BEFORE + OLD_BLOCK + AFTER)
    out = owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config)).stdout
    assert "ssh coder.<workspace>" in out
    text = config.read_text()
    assert text.startswith(BEFORE + START) and text.endswith(END + "\n" + AFTER)
    block = _block(text)
    assert [line for line in block.splitlines() if line.startswith("Host ")] == ["Host coder.*"]
    proxy = next(line for line in block.splitlines() if "ProxyCommand" in line)
    assert proxy.endswith(f"--global-config {owner_cli.config_dir} ssh --stdio --fdpass "
                          "--ssh-host-prefix coder. %h")
    assert "  ProxyUseFdpass yes\n" in block and "coder.box" not in text
    assert "No changes to make." in owner_cli.run("config-ssh", "-y", "--ssh-config-file",
                                                  str(config)).stdout
    owner_cli.run("config-ssh", "--remove", "--ssh-config-file", str(config))
    assert config.read_text() == BEFORE.rstrip("\n") + "\n" + AFTER.lstrip("\n")


def test_coders_flags(owner_cli, tmp_path):
    config = tmp_path / "config"
    owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config), "--ssh-option",
                  "ForwardAgent=yes", "-o", "User=coder", "--ssh-host-prefix", "ws-",
                  "--hostname-suffix", "coder", "--wait", "yes", "--no-fdpass")
    block = _block(config.read_text())
    hosts = block.removesuffix(END + "\n").split("\nHost ")[1:]
    assert [h.splitlines()[0] for h in hosts] == ["ws-*", "*.coder"]
    for host, tail in zip(hosts, ("--ssh-host-prefix ws- %h", "--hostname-suffix coder %h")):
        lines = host.splitlines()
        assert lines[1:3] == ["  ForwardAgent=yes", "  User=coder"]
        assert lines[-1].endswith("ssh --stdio --wait=yes " + tail) and "Fdpass" not in host
    # Options from the environment, as Coder's CODER_SSH_CONFIG_OPTS.
    out = owner_cli.run("config-ssh", "--dry-run", env={"CODER_SSH_CONFIG_OPTS": "IdentitiesOnly=yes"})
    assert "\nHost coder.*\n  IdentitiesOnly=yes\n" in out.stdout
    proc = owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config), "--wait", "maybe",
                         expect=2)
    assert "usage: coder config-ssh" in proc.stderr and "invalid choice: 'maybe'" in proc.stderr
    proc = owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config), "-o", "A=1\nHost *",
                         expect=2)
    assert "line break" in proc.stderr


@pytest.mark.parametrize("flag, value", [
    ("--ssh-host-prefix", "x.\n  ProxyCommand touch /tmp/owned\nHost y."),
    ("--ssh-host-prefix", "a b."), ("--hostname-suffix", "c\nMatch all"),
    ("--hostname-suffix", "c%h")])
def test_a_host_prefix_or_suffix_cannot_add_lines_or_patterns(owner_cli, tmp_path, flag, value):
    """The prefix and suffix are written into a Host line and the ProxyCommand: a line
    break, a space or an ssh token there would add entries or commands of its own."""
    config = tmp_path / "config"
    config.write_text(BEFORE)
    proc = owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config), flag, value,
                         expect=2)
    assert f"{flag} may hold only letters, digits, '.', '_' and '-'" in proc.stderr
    assert "Traceback" not in proc.stderr and config.read_text() == BEFORE


def test_a_broken_block_is_left_alone(owner_cli, tmp_path):
    config = tmp_path / "config"
    config.write_text(BEFORE + START + "\nHost coder.box\n")
    proc = owner_cli.run("config-ssh", "-y", "--ssh-config-file", str(config), expect=1)
    assert f"the file has a '{START}' line without its '{END}' line" in proc.stderr
    assert config.read_text() == BEFORE + START + "\nHost coder.box\n"
