"""install.sh from a signed bundle tar on a booted minimal Debian 12 host with no route.

The bundles are installkit's: every part built by its own builder, sealed by
the real builder (MANIFEST.json, its signature, the tar). On the host, as an
administrator would: ``tar -xf`` then ``install.sh --fingerprint``. A tampered
copy installs nothing; the install comes up over TLS with the image registry
serving the bundle's image; a second run changes nothing, nor would one in check
mode; with the first user's token it pushes the example templates, and a
workspace from ``local`` and one from ``podman`` (the bundle's image, from the
host's registry) run on the host and answer ``coder ssh``; a delta
bundle of a newer version upgrades in place, completed from the installed one,
with the user kept and the workspace running through it, the version it left kept for a
rollback and an older one removed; apt reads the installed version's repository, never a
copy of its own; the older bundle is refused;
``--uninstall`` keeps the data and ``--purge`` removes it. No process of the
host ever tried to leave it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ..hosts import BootedHost, minimal_debian_root, off_host
from .installkit import (DELTA, HOSTNAME, NEW, OLD, OWNER, api, bundles, changed_tasks,
                         check_mode, exists, install, is_active, login, recap, unpack)

pytestmark = pytest.mark.booted_hosts


@pytest.fixture(scope="module")
def sealed():
    with bundles() as made:
        yield made


def coder(host: BootedHost, token: str, *args: str, check: bool = True):
    """The installed ``coder`` CLI in the host, as the first user; when it fails (and
    ``check``), the error names what coderd and the workspaces' agents logged last."""
    done = host.run(["env", f"CODER_URL=https://{HOSTNAME}", f"CODER_SESSION_TOKEN={token}",
                     "/opt/coder-appliance/current/bin/coder", "-v", *args], timeout=300, check=False)
    if check and done.returncode != 0:
        journal = host.run(["journalctl", "-u", "coderd", "-n", "60", "--no-pager"], check=False).stdout
        agents = host.run(["sh", "-c", "tail -n 30 /var/lib/coder-appliance/workspaces/*/*/.coder-agent.log"],
                          check=False).stdout
        raise AssertionError(f"coder {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
                             f"{done.stderr[-4000:]}\n--- coderd ---\n{journal}\n--- agents ---\n{agents}")
    return done


def wait_for_agent(host: BootedHost, token: str, name: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while True:
        _, ws = api(host, "GET", f"/api/v2/users/me/workspace/{name}", token=token)
        agents = [a for r in ws["latest_build"]["resources"] for a in r.get("agents", [])]
        if agents and all(a["status"] == "connected" for a in agents):
            return
        if time.monotonic() > deadline:
            log = host.run(["sh", "-c", "tail -20 /var/lib/coder-appliance/workspaces/*/*/.coder-agent.log"],
                           check=False).stdout
            pytest.fail(f"{name}'s agent did not connect in {within:.0f} s: {agents}\n{log}")
        time.sleep(1)


def workspace_id(host: BootedHost, token: str, name: str) -> str:
    _, ws = api(host, "GET", f"/api/v2/users/me/workspace/{name}", token=token)
    return ws["id"]


def sandbox_pid(host: BootedHost) -> str:
    """The local workspace's sandbox process (start-agent.sh's pid file; one workspace)."""
    return host.run(["sh", "-c", "cat /var/lib/coder-appliance/workspaces/*/*.pid"]).stdout.strip()


def apt_repositories(host: BootedHost) -> list[str]:
    """Every apt repository's folder on the host (a dists/bookworm/InRelease under it)."""
    found = host.run(["find", "/", "-xdev", "-path", "*/dists/bookworm/InRelease"]).stdout.split()
    return sorted(path.removesuffix("/dists/bookworm/InRelease") for path in found)


def apt_state_mb(host: BootedHost) -> int:
    """MB under /var/lib/coder-appliance-apt: apt's lists of the repository, and install.sh's."""
    return int(host.run(["du", "-sm", "/var/lib/coder-appliance-apt"]).stdout.split()[0])


def test_install_sh_installs_upgrades_and_uninstalls_offline(sealed, tmp_path):
    fingerprint, tars = sealed
    with BootedHost(minimal_debian_root(), tmp_path / "host") as host:
        assert host.run(["sh", "-c", "command -v python3 || echo none"]).stdout.strip() == "none"
        # The access URL's name, as the network's DNS would give it (the host has no route to any).
        host.run(["sh", "-c", f"echo '127.0.0.1 {HOSTNAME}' >> /etc/hosts"])
        old = unpack(host, tars[OLD])

        # One flipped byte in an executable: nothing installed, not even python3.
        executable = Path(host.root, old.lstrip("/"), "bin", "coder.d", "coder")
        original = executable.read_bytes()
        executable.write_bytes(original[:4096] + bytes([original[4096] ^ 1]) + original[4097:])
        tampered = install(host, old, fingerprint, ok=False)
        assert tampered.returncode == 1
        assert tampered.stderr.strip() == \
            "install.sh: error: tampered: bin/coder.d/coder: its sha256 is not the one in MANIFEST.json"
        assert host.run(["ls", "/opt", "/etc"]).stdout.count("coder-appliance") == 0
        executable.write_bytes(original)

        first = install(host, old, fingerprint)
        assert f"coder-appliance {OLD} is running at https://{HOSTNAME}" in first.stdout
        assert f"/opt/coder-appliance/current/bin/coder login https://{HOSTNAME}" in first.stdout
        assert is_active(host, "coderd") == "active" and is_active(host, "docker-registry") == "active"
        unit = host.run(["systemctl", "show", "coderd", "-p", "User", "-p", "NoNewPrivileges",
                         "-p", "ProtectSystem", "-p", "ProtectHome"]).stdout
        assert "User=coder-appliance" in unit and "NoNewPrivileges=yes" in unit
        assert "ProtectSystem=strict" in unit and "ProtectHome=tmpfs" in unit
        env = host.run(["cat", "/etc/coder-appliance/coderd.env"]).stdout
        assert "CODER_UPDATE_CHECK=false" in env and "CODER_TELEMETRY_ENABLE=false" in env
        assert "CODER_PG_CONNECTION_URL=\n" in env  # the embedded PostgreSQL
        # coderd's settings are root's alone (systemd reads them for coderd): a template the
        # built-in daemons run as coderd's user cannot read them.
        assert host.run(["stat", "-c", "%a %U %G", "/etc/coder-appliance/coderd.env"]
                        ).stdout.split() == ["600", "root", "root"]
        peek = host.run(["runuser", "-u", "coder-appliance", "--", "cat",
                         "/etc/coder-appliance/coderd.env"], check=False)
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
        # The registry serves the bundle's image on loopback, and podman is pointed at it.
        tags = host.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                         "'http://127.0.0.1:5000/v2/coder/base/tags/list').read().decode())"])
        assert json.loads(tags.stdout) == {"name": "coder/base", "tags": ["latest"]}
        assert "127.0.0.1:5000" in host.run(
            ["cat", "/etc/containers/registries.conf.d/50-coder-appliance.conf"]).stdout
        # apt reads the repository in the installed version, through current: the host holds
        # no copy of its own (only the administrator's extracted bundle besides).
        assert "file:/opt/coder-appliance/current/apt bookworm main" in host.run(
            ["cat", "/etc/coder-appliance/apt/sources.list"]).stdout
        assert apt_repositories(host) == sorted([f"{old}/apt", f"/opt/coder-appliance/{OLD}/apt"])
        assert apt_state_mb(host) < 5, "more than apt's lists under /var/lib/coder-appliance-apt"

        status, _ = api(host, "POST", "/api/v2/users/first", {**OWNER, "trial": False})
        assert status == 201
        # The templates, pushed as that user: each an import job that ran terraform with the
        # bundle's provider mirror. Then a workspace on the host itself, reached over SSH.
        token = login(host)
        # The locked-out owner's recovery as docs/install.md gives it: systemd hands the
        # command coderd's settings, and it runs as coderd's user. The owner's sessions end.
        reset = host.run(["systemd-run", "--wait", "--pipe", "--quiet", "--collect",
                          "-p", "User=coder-appliance", "-p", "EnvironmentFile=/etc/coder-appliance/coderd.env",
                          "/opt/coder-appliance/current/bin/coderd", "reset-password", OWNER["username"],
                          "--password-stdin"], input=OWNER["password"] + "\n")
        assert "Password has been reset for user admin!" in reset.stdout, reset
        assert api(host, "GET", "/api/v2/users/me", token=token)[0] == 401
        token = login(host)
        host.run(["sh", "-c", f"umask 077; echo {token} > /root/token"])
        pushed = install(host, old, fingerprint, "--with-templates", "--token-file", "/root/token")
        assert f"Log in at https://{HOSTNAME}" in pushed.stdout
        status, templates = api(host, "GET", "/api/v2/organizations/default/templates", token=token)
        assert sorted(t["name"] for t in templates) == ["local", "podman"]
        coder(host, token, "create", "w1", "--template", "local", "--yes")
        wait_for_agent(host, token, "w1")
        # One word: like OpenSSH, coder ssh hands the command's words, joined, to the shell.
        assert coder(host, token, "ssh", "w1", "--", "echo kept > marker; hostname").stdout \
            == "w1\n"
        sandbox = sandbox_pid(host)
        unit = f"coder-workspace-{workspace_id(host, token, 'w1')}.service"
        assert is_active(host, unit, user=True) == "active"
        # A podman workspace from the bundle's image, run by coderd's user's podman service.
        coder(host, token, "create", "w2", "--template", "podman", "--yes",
              "--parameter", "image=127.0.0.1:5000/coder/base:latest")
        wait_for_agent(host, token, "w2", within=180)
        assert coder(host, token, "ssh", "w2", "--", "echo alive > /tmp/alive; hostname").stdout \
            == "w2\n"

        # An older version left installed: a run that moves no link removes nothing.
        host.run(["mkdir", "/opt/coder-appliance/0.0.0-test"])
        again = install(host, old, fingerprint)
        assert recap(again.stdout)["changed"] == 0, f"changed again: {changed_tasks(again.stdout)}"
        checked = check_mode(host, old)
        assert recap(checked.stdout)["changed"] == 0, f"check mode: {changed_tasks(checked.stdout)}"
        assert exists(host, "/opt/coder-appliance/0.0.0-test")

        # The upgrade from a delta bundle: install.sh completes it from the installed OLD.
        new = unpack(host, tars[DELTA])
        upgraded = install(host, new, fingerprint)
        assert f"install.sh: upgrading to {NEW}: this host ({OLD})" in upgraded.stdout
        assert host.run(["readlink", "/opt/coder-appliance/current"]).stdout.strip() == NEW
        # The version upgraded from stays, for a rollback; the older one is gone. apt's
        # source moved with current, and still has no copy of its own.
        assert host.run(["ls", "/opt/coder-appliance"]).stdout.split() == [OLD, NEW, "current"]
        assert any(name.startswith("_opt_coder-appliance_current_apt_") for name in
                   host.run(["ls", "/var/lib/coder-appliance-apt/lists"]).stdout.split())
        assert apt_state_mb(host) < 5
        token = login(host)
        # The workspace ran through the upgrade: its sandbox is a unit of the service user's
        # systemd manager, not a process in coderd's service cgroup, which systemd ends with
        # coderd. Its agent reconnected by itself (coder ssh waits for it, as Coder's does).
        assert sandbox_pid(host) == sandbox and is_active(host, unit, user=True) == "active"
        assert coder(host, token, "ssh", "w1", "--", "cat marker").stdout == "kept\n"
        # The podman workspace too: the same container (its /tmp is not on the home volume).
        assert coder(host, token, "ssh", "w2", "--", "cat /tmp/alive").stdout == "alive\n"
        coder(host, token, "stop", "w1", "--yes")
        assert is_active(host, unit, user=True) != "active"
        assert host.run(["test", "-e", f"/proc/{sandbox}"], check=False).returncode != 0

        downgrade = install(host, old, fingerprint, ok=False)
        assert downgrade.returncode == 1
        assert downgrade.stderr.strip().endswith(
            f"install.sh: error: downgrade: {OLD} is older than what runs on this host ({NEW}) "
            "(--force to install it anyway)")
        assert host.run(["readlink", "/opt/coder-appliance/current"]).stdout.strip() == NEW

        removed = install(host, new, fingerprint, "--uninstall")
        assert "its data and configuration are kept" in removed.stdout
        assert is_active(host, "coderd") != "active" and is_active(host, "docker-registry") != "active"
        assert exists(host, "/opt/coder-appliance", "/etc/systemd/system/coderd.service") == []
        assert len(exists(host, "/var/lib/coder-appliance/coderd/postgres/PG_VERSION",
                      "/var/lib/coder-appliance/ca/root.crt", "/etc/coder-appliance/coderd.env")) == 3

        purged = install(host, new, fingerprint, "--uninstall", "--purge")
        assert "removed coder-appliance, its data and its configuration" in purged.stdout
        left = host.run(["sh", "-c", "ls -d /opt/coder-appliance /var/lib/coder-appliance* "
                         "/etc/coder-appliance /usr/local/share/ca-certificates/coder-appliance* "
                         "2>/dev/null; getent passwd coder-appliance; true"]).stdout
        assert left == ""

        dests = host.connects()
        assert any(port == 443 for _, port, _ in dests), "the trace saw no connection to coderd"
        assert off_host(dests) == [], f"the install tried to leave the host: {off_host(dests)}"
