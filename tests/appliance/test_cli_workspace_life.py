"""Workspace life through the real CLI (issue 19, item 2): start of a running
workspace, restart, update, rename, state pull|push and ssh's auto-start,
with the real provisioner daemons and terraform."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.kit.cli import ROOT
from tests.kit.coderd import create_another_user, create_first_user
from tests.kit.provisioning import TEMPLATE

ZONE = '''
data "coder_parameter" "zone" {
  name     = "zone"
  mutable  = true
}
'''


@pytest.fixture
def life_coderd(coderd_factory, provider_mirror):
    return coderd_factory(env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "2",
                               "CODER_ALLOW_WORKSPACE_RENAMES": "true"})


def _ssh_until(cli, *args: str, line: str) -> str:
    """``coder ssh`` run until its stderr shows ``line`` (it then waits for an agent this
    template never runs); everything it wrote to stderr by then."""
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli.main", "ssh", *args],
                            env=cli.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = proc.stderr.readline()
            if not text:
                break
            seen.append(text)
            if line in text:
                break
    finally:
        proc.kill()
        proc.wait()
    return "".join(seen)


def test_start_restart_update_rename_state_ssh(cli, life_coderd, tmp_path):
    owner, _ = create_first_user(life_coderd)
    c = cli.log_in_as(life_coderd.url, owner.token)
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "main.tf").write_text(TEMPLATE)
    c.run("templates", "push", "-d", str(folder), "-y")
    c.run("create", "box", "-t", "demo", "--parameter", "region=there")

    assert c.run("start", "box").stdout == "\nThe box workspace is already running!\n"
    assert "--yes" in c.run("restart", "box", expect=1).stderr
    out = c.run("restart", "box", "-y").stdout
    assert "The box workspace has been restarted at " in out
    builds = owner.workspace_builds(owner.workspace_by_owner_and_name("me", "box").id)
    assert [(b.build_number, b.transition, b.status) for b in builds] == [
        (3, "start", "running"), (2, "stop", "stopped"), (1, "start", "running")]
    proc = c.run("restart", "box", "-y", "--build-option", "size=4", expect=1)
    assert "'size' is not ephemeral" in proc.stderr

    assert c.run("update", "box").stdout == "Workspace is up-to-date.\n"
    (folder / "main.tf").write_text(TEMPLATE + ZONE)
    c.run("templates", "push", "demo", "-d", str(folder), "-y")
    proc = c.run("update", "box", expect=1)
    assert "new parameters: zone" in proc.stderr and "--parameter zone=VALUE" in proc.stderr
    status, _ = c.converse(("update", "box"), [("zone:", "north"), ("Continue?", "yes")])
    assert status == 0
    ws = owner.workspace_by_owner_and_name("me", "box")
    assert not ws.outdated and ws.latest_build.status == "running"
    # As Coder's update: the running workspace was stopped first, then started.
    assert [b.transition for b in owner.workspace_builds(ws.id)[:2]] == ["start", "stop"]
    values = {p.name: p.value for p in owner.workspace_build_parameters(ws.latest_build.id)}
    assert values == {"region": "there", "size": "3", "zone": "north"}

    assert "--yes" in c.run("rename", "box", "cube", expect=1).stderr
    status, out = c.converse(("rename", "box", "cube"), [('Type "box" to confirm rename:', "box")])
    assert status == 0 and 'Workspace "box" renamed to "cube"' in out
    assert c.run("rename", "cube", "bad_name", "-y", expect=1).stderr
    # The attack: renames allowed, a member still cannot rename another's workspace.
    member, _ = create_another_user(owner)
    cube = owner.workspace_by_owner_and_name("me", "cube")
    resp = requests.patch(f"{life_coderd.url}/api/v2/workspaces/{cube.id}", json={"name": "x"},
                          headers={"Coder-Session-Token": member.token}, timeout=10)
    assert resp.status_code == 404
    assert requests.patch(f"{life_coderd.url}/api/v2/workspaces/{cube.id}", json={"name": "x"},
                          timeout=10).status_code == 401

    state = json.loads(c.run("state", "pull", "cube").stdout)
    assert state["version"] == 4 and state["resources"]
    c.run("state", "pull", "cube", str(tmp_path / "s.json"), "-b", "1")
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600
    assert "State updated successfully." in c.run(
        "state", "push", "cube", str(tmp_path / "s.json"), "-b", "1", "-n").stdout
    out = c.run("state", "push", "cube", str(tmp_path / "s.json")).stdout
    assert "==> " in out
    assert owner.workspace_by_owner_and_name("me", "cube").latest_build.build_number == 6  # update added a stop

    _schedules_favorites_autoupdate(c, owner, folder)
    c.run("stop", "cube", "-y")
    seen = _ssh_until(c, "cube", "--", "true", line="Waiting for the workspace agent")
    assert 'Workspace was stopped, starting workspace to allow connecting to "cube"...' in seen
    assert "==> " in seen  # the start build's log, on stderr
    assert owner.workspace_by_owner_and_name("me", "cube").latest_build.transition == "start"
    proc = c.run("ssh", "nothere", "--", "true", expect=1)
    assert "no such workspace" in proc.stderr and "Traceback" not in proc.stderr


def _schedules_favorites_autoupdate(c, owner, folder):
    """coder schedule start|show|stop|extend, favorite|unfavorite and autoupdate on the
    running workspace "cube", with Coder's argument forms and table."""
    out = c.run("schedule", "start", "cube", "9:30AM", "Mon-Fri", "Europe/Dublin").stdout
    assert out.split("\n")[0].split() == ["WORKSPACE", "STARTS", "AT", "STARTS", "NEXT", "STOPS",
                                          "AFTER", "STOPS", "NEXT"]
    assert "9:30AM Mon-Fri (Europe/Dublin)" in out
    ws = owner.workspace_by_owner_and_name("me", "cube")
    assert ws.autostart_schedule == "CRON_TZ=Europe/Dublin 30 9 * * Mon-Fri" and ws.next_start_at
    proc = c.run("schedule", "start", "cube", "25:00", expect=1)
    assert "Start time must be in the format hh:mm[am|pm] or HH:MM" in proc.stderr
    proc = c.run("schedule", "start", "cube", "9am", "Mon-Fri", "Mars/Base", expect=1)
    assert 'Invalid timezone "Mars/Base" specified' in proc.stderr
    out = c.run("schedule", "stop", "cube", "8h30m").stdout
    assert "8h30m" in out and owner.workspace_by_owner_and_name("me", "cube").ttl_ms == 30_600_000
    assert "at least 30 minutes" in c.run("schedule", "extend", "cube", "10m").stdout
    shown = json.loads(c.run("schedule", "show", "cube", "-o", "json").stdout)
    assert shown[0]["starts_at"] == "9:30AM Mon-Fri (Europe/Dublin)"
    assert shown[0]["stops_after"] == "8h30m"
    c.run("schedule", "start", "cube", "manual")
    assert owner.workspace_by_owner_and_name("me", "cube").autostart_schedule is None
    c.run("schedule", "stop", "cube", "manual")

    assert c.run("favorite", "cube").stdout == 'Workspace "cube" added to favorites.\n'
    assert owner.workspace_by_owner_and_name("me", "cube").favorite
    assert c.run("unfavorite", "cube").stdout == 'Workspace "cube" removed from favorites.\n'
    proc = c.run("autoupdate", "cube", "sometimes", expect=1)
    assert 'invalid option "sometimes" must be either of "always" or "never"' in proc.stderr
    assert c.run("autoupdate", "cube", "always").stdout == \
        'Updated workspace "cube" auto-update policy to "always"\n'
    # A new active version: coder start (after a stop) uses it, as automatic updates say.
    (folder / "main.tf").write_text(TEMPLATE + ZONE + "# v3\n")
    c.run("templates", "push", "demo", "-d", str(folder), "-y")
    c.run("stop", "cube", "-y")
    c.run("start", "cube")
    ws = owner.workspace_by_owner_and_name("me", "cube")
    assert not ws.outdated and ws.latest_build.status == "running"
