"""``coder completion``: the scripts it prints complete commands, subcommands and flags
in the real bash, zsh (through bashcompinit) and fish; installing writes one managed
block into the shell's startup file, and nothing else."""
from __future__ import annotations

import subprocess

import pexpect
import pytest

from tests.kit.tools import tool


@pytest.fixture
def script(cli, tmp_path):
    def make(shell: str):
        path = tmp_path / f"coder.{shell}"
        path.write_text(cli.run("completion", "--print", "--shell", shell).stdout)
        return path
    return make


def _bash_words(script, line: str) -> list[str]:
    words = line.split(" ")
    code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _coder; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    out = subprocess.run([tool("bash"), "-c", code], capture_output=True, text=True, check=True)
    return sorted(out.stdout.split())


def test_bash(script):
    path = script("bash")
    assert _bash_words(path, "coder us") == ["users"]
    assert _bash_words(path, "coder users ed") == ["edit-roles"]
    assert _bash_words(path, "coder users edit-roles bob --ro") == ["--roles"]
    assert _bash_words(path, "coder --url http://x users l") == ["list", "ls"]
    assert "--ssh-host-prefix" in _bash_words(path, "coder config-ssh --ssh")
    assert _bash_words(path, "coder templates versions ") == ["archive", "list", "ls", "promote",
                                                               "unarchive"]


def test_zsh(script, tmp_path):
    """On a real terminal: Tab after 'coder users ed' completes the subcommand."""
    path = script("zsh")
    child = pexpect.spawn(tool("zsh"), ["-f", "-i"], env={"HOME": str(tmp_path), "TERM": "dumb",
                                                          "PATH": "/usr/bin:/bin"},
                          encoding="utf-8", timeout=20)
    try:
        child.sendline(f"source {path}; print sourced")
        child.expect("sourced")
        child.send("coder users ed\t")
        child.expect("edit-roles")
        child.send("\x03")
    finally:
        child.close(force=True)


def test_fish(script):
    path = script("fish")

    def complete(line: str) -> list[str]:
        out = subprocess.run([tool("fish"), "--no-config", "-c", f"source {path}; complete -C '{line}'"],
                             capture_output=True, text=True, check=True).stdout
        return sorted(row.split("\t")[0] for row in out.splitlines())

    assert complete("coder us") == ["users"]
    assert complete("coder users ed") == ["edit-roles"]
    assert "--roles" in complete("coder users edit-roles bob --ro")


def test_install_writes_one_block(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    (home / ".bashrc").chmod(0o644)
    env = {"HOME": str(home), "SHELL": "/bin/bash"}
    proc = cli.run("completion", env=env, expect=1)  # no terminal: asks for --yes
    assert "--yes" in proc.stderr and (home / ".bashrc").read_text() == "alias ll='ls -l'\n"
    cli.run("completion", "-y", env=env)
    text = (home / ".bashrc").read_text()
    assert text.startswith("alias ll='ls -l'\n\n# ------------START-CODER-COMPLETION")
    assert text.count("complete -o default -F _coder coder") == 1
    assert (home / ".bashrc").stat().st_mode & 0o777 == 0o644
    assert "up to date" in cli.run("completion", "-y", env=env).stdout
    cli.run("completion", "-y", "--shell", "fish", env=env)
    assert "complete -c coder" in (home / ".config/fish/completions/coder.fish").read_text()
    proc = cli.run("completion", env={"SHELL": "/bin/tcsh"}, expect=2)
    assert "unsupported shell 'tcsh'" in proc.stderr
