"""coder ping, open, stat and dotfiles, driven as a user would: the real CLI against a real
coderd and a real agent (stat runs in the workspace, through coder ssh)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from tests.kit.agent import (REPO, bare_repo, cli_config, coder_cli, start_agent, wait_for,
                         workspace_with_agent)
from tests.kit.provisioning import sql

APPS = [{"slug": "web", "url": "http://localhost:8080/"}, {"slug": "sub", "url": "http://localhost:1/"},
        {"slug": "ext", "url": "http://docs.internal/guide"}, {"slug": "term"}]


@pytest.fixture
def running(agent_coderd, agent_owner, tmp_path):
    """A workspace whose real agent is connected: (workspace, config folder, home)."""
    workspace, row = workspace_with_agent(agent_owner, agent_coderd.dsn, apps=APPS)
    sql(agent_coderd.dsn, "UPDATE workspace_apps SET subdomain = true WHERE id = %s",
        (str(row.app_ids["sub"]),))
    sql(agent_coderd.dsn, "UPDATE workspace_apps SET external = true WHERE id = %s",
        (str(row.app_ids["ext"]),))
    sql(agent_coderd.dsn, "UPDATE workspace_apps SET command = 'htop' WHERE id = %s",
        (str(row.app_ids["term"]),))
    home = tmp_path / "home"
    home.mkdir()
    agent = start_agent(agent_coderd.url, row.token, HOME=str(home))
    wait_for(lambda: agent_owner.workspace_agent(row.id).status == "connected",
             what="agent connected")
    yield workspace, cli_config(tmp_path, agent_owner), home
    agent.stop()


def test_ping_answers_in_coders_shape_and_refuses_a_workspace_without_an_agent(
        running, agent_owner, agent_coderd):
    workspace, config, _ = running
    done = coder_cli(config, "ping", workspace.name, "-n", "3", "--wait", "0.05")
    assert done.returncode == 0, done.stderr
    pongs = [l for l in done.stdout.splitlines() if l.startswith("pong")]
    assert len(pongs) == 3
    for line in pongs:
        assert re.fullmatch(rf"pong from {workspace.name} proxied via coderd relay in "
                            r"[0-9.]+(µs|ms|s)", line), line
    assert "3 pings, 3 pongs" in done.stdout

    quiet, _ = workspace_with_agent(agent_owner, agent_coderd.dsn)  # its agent never connects
    done = coder_cli(config, "ping", quiet.name, "-n", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: the agent of '{quiet.name}' is ")
    done = coder_cli(config, "ping", "no-such-" + uuid.uuid4().hex[:6])
    assert done.returncode == 1 and done.stderr.count("\n") <= 2, done.stderr


def _without_browser() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}


def test_open_app_gives_the_url_a_browser_uses(running, agent_coderd, tmp_path):
    workspace, config, _ = running
    env = _without_browser()

    def open_app(*args, **extra):
        return subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                               str(config), "open", "app", workspace.name, *args], cwd=REPO,
                              capture_output=True, text=True, timeout=60, env={**env, **extra})

    listed = open_app()
    assert listed.returncode == 0 and all(a["slug"] in listed.stdout for a in APPS), listed
    path_url = f"{agent_coderd.url}/@admin/{workspace.name}.main/apps/web/"
    done = open_app("web")
    assert done.returncode == 0 and done.stdout == path_url + "\n", done.stderr
    assert "Open the following in your browser" in done.stderr
    # No wildcard access URL: a subdomain app is reached on its path, as Coder's link does.
    assert open_app("sub").stdout == path_url.replace("/web/", "/sub/") + "\n"
    assert open_app("ext").stdout == "http://docs.internal/guide\n"
    import requests
    resp = requests.get(path_url, timeout=10, allow_redirects=False)
    assert resp.status_code in (303, 307, 401), resp.status_code  # coderd serves that path

    term = open_app("term")
    assert term.returncode == 1 and "coder ssh" in term.stderr and "Traceback" not in term.stderr
    missing = open_app("nope")
    assert missing.returncode == 1 and "web" in missing.stderr

    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    done = open_app("web", BROWSER=str(browser))
    assert done.returncode == 0 and opened.read_text() == path_url + "\n"

    vscode = coder_cli(config, "open", "vscode", workspace.name, "/srv/project")
    assert vscode.stdout.strip().endswith(
        f"vscode://vscode-remote/ssh-remote+coder.{workspace.name}/srv/project"), vscode


def test_stat_in_the_workspace_reports_cpu_memory_and_disk(running):
    workspace, config, home = running
    stat = f"{sys.executable} -m appliance.cli.main stat"

    def in_workspace(args: str) -> str:
        done = coder_cli(config, "ssh", workspace.name, "--", f"{stat} {args}")
        assert done.returncode == 0, done.stderr
        return done.stdout

    (row,) = json.loads(in_workspace("-o json"))
    assert set(row) == {"host_cpu", "host_memory", "home_disk", "container_cpu",
                        "container_memory"}
    assert row["host_cpu"]["unit"] == "cores" and row["host_cpu"]["total"] == os.cpu_count()
    assert 0 <= row["host_cpu"]["used"] <= os.cpu_count() + 0.5
    meminfo = dict(l.split(":") for l in open("/proc/meminfo").read().splitlines())
    assert row["host_memory"] == {**row["host_memory"], "unit": "B",
                                  "total": int(meminfo["MemTotal"].split()[0]) * 1024}
    st = os.statvfs(home)
    assert row["home_disk"]["unit"] == "B" and row["home_disk"]["total"] == st.f_blocks * st.f_frsize
    header, values = in_workspace("").splitlines()
    assert header.split("  ")[0] == "HOST CPU" and re.match(r"[0-9.]+/[0-9.]+ cores \(\d+%\)", values)
    assert re.fullmatch(r"[0-9.]+/[0-9.]+ cores \(\d+%\)\n", in_workspace("cpu --host"))
    assert re.fullmatch(r"[0-9.]+/[0-9.]+ MiB \(\d+%\)\n", in_workspace("mem --host --prefix Mi"))
    disk = json.loads(in_workspace(f"disk --path {home} -o json"))
    assert disk["total"] == st.f_blocks * st.f_frsize and disk["unit"] == "B"


def test_dotfiles_symlinks_then_runs_the_install_script_and_backs_up_a_changed_repo(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vimrc").write_text("mine\n")
    config = tmp_path / "config"
    links = bare_repo(tmp_path / "links.git", {".vimrc": "set nu\n", ".gitconfig_x": "",
                                                ".gitignore": "", "README": ""})
    env = {**_without_browser(), "HOME": str(home)}

    def dotfiles(*args):
        return subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                               str(config), "dotfiles", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)

    refused = dotfiles(f"file://{links}")
    assert refused.returncode == 1 and "-y" in refused.stderr and not (config / "dotfiles").exists()
    done = dotfiles("-y", f"file://{links}")
    assert done.returncode == 0, done.stderr
    assert (home / ".vimrc").resolve() == config / "dotfiles" / ".vimrc"
    assert (home / ".vimrc.bak").read_text() == "mine\n"
    assert not (home / ".gitignore").exists() and not (home / "README").exists()
    assert (config / "dotfilesurl").read_text() == f"file://{links}"
    assert dotfiles("-y", f"file://{links}").returncode == 0  # pulled; the link stays
    assert (home / ".vimrc").resolve() == config / "dotfiles" / ".vimrc"
    work = tmp_path / "links.git-work"  # a branch with one more dotfile
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "checkout", "-q", "-b", "other"], check=True)
    (work / ".inputrc").write_text("set bell-style none\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "other"], check=True)
    subprocess.run([*git, "push", "-q", str(links), "other"], check=True)
    assert dotfiles("-y", "--branch", "other", f"file://{links}").returncode == 0
    assert (home / ".inputrc").resolve() == config / "dotfiles" / ".inputrc"

    marker = tmp_path / "installed"
    script = bare_repo(tmp_path / "script.git", {
        "install.sh": f"#!/bin/sh\npwd > {marker}\n", "setup.sh": "#!/bin/sh\nexit 3\n",
        ".zshrc": ""})
    done = dotfiles("-y", f"file://{script}")
    assert done.returncode == 0, done.stderr
    assert marker.read_text().strip() == str(config / "dotfiles")  # install.sh, before setup.sh
    assert not (home / ".zshrc").exists()  # a script runs: nothing is linked
    backups = [p for p in config.iterdir() if p.name.startswith("dotfiles_backup_")]
    assert len(backups) == 1 and (backups[0] / ".vimrc").exists()
    assert "Running install.sh..." in done.stdout


@pytest.mark.parametrize("args", [["--upload-pack=touch {marker}"],
                                  ["--branch=--orphan=x", "file:///x"]])
def test_dotfiles_takes_no_url_or_branch_that_git_would_read_as_an_option(tmp_path, args):
    """A dotfiles URL often comes from a workspace parameter (Coder's dotfiles module): one
    starting with '-' would reach git as an option (--upload-pack runs a command)."""
    marker = tmp_path / "owned"
    config = tmp_path / "config"
    done = subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                           str(config), "dotfiles", "-y", *(a.format(marker=marker) for a in args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**_without_browser(), "HOME": str(tmp_path)},
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "cannot start with '-'" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists() and not (config / "dotfiles").exists()
    assert not (config / "dotfilesurl").exists()
