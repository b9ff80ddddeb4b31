"""install.sh --inventory: a controller host installs on another host over SSH.

Two booted minimal Debian 12 hosts with OpenSSH share one loopback (B boots in
A's network namespace) and reach nothing else. B, the target, has sshd on
127.0.0.1:2222 with A's key authorized for root, and no python3. On A, the
controller, as an administrator would: ``tar -xf`` then ``install.sh
--inventory``. An inventory naming no host or two is refused; the bundle
verified on A is sent to B, python3 is installed on B from it, and coderd comes
up on B over TLS; with the first user's token the templates are pushed; a rerun
changes nothing; a delta bundle, completed on A from the old bundle's folder,
upgrades B; ``--uninstall`` keeps the data and ``--purge`` removes it. A
installs nothing on itself, and no process of either host tried to leave.
"""
from __future__ import annotations

import pytest

from ..hosts import BootedHost, off_host, ssh_debian_root
from .installkit import (DELTA, HOSTNAME, NEW, OLD, OWNER, api, bundles, changed_tasks, exists,
                         install, is_active, login, recap, unpack)

pytestmark = pytest.mark.booted_hosts

SSH_PORT = 2222
KEY = "/root/.ssh/id_ed25519"
TARGET = (f"    {HOSTNAME}:\n      ansible_host: 127.0.0.1\n      ansible_port: {SSH_PORT}\n"
          f"      ansible_user: root\n      ansible_ssh_private_key_file: {KEY}\n")
INVENTORIES = {
    "/root/inventory.yml": f"all:\n  hosts:\n{TARGET}",
    "/root/none.yml": "all:\n  hosts: {}\n",
    "/root/two.yml": f"all:\n  hosts:\n{TARGET}    other.appliance.test:\n      ansible_host: 127.0.0.1\n",
}


def serve_ssh(controller: BootedHost, target: BootedHost) -> None:
    """The target's sshd on 127.0.0.1:SSH_PORT, root's login by the controller's new key, and
    the target's host key in the controller's known_hosts (nothing is accepted blindly)."""
    controller.run(["sh", "-c", f"umask 077; mkdir -p /root/.ssh; ssh-keygen -q -t ed25519 -N '' -f {KEY}"])
    public = (controller.root / KEY.lstrip("/")).with_suffix(".pub").read_text()
    target.run(["sh", "-c", "umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys"],
               input=public)
    target.run(["sh", "-c", f"printf 'Port {SSH_PORT}\\nListenAddress 127.0.0.1\\n' "
                "> /etc/ssh/sshd_config.d/test.conf && systemctl start ssh"])
    host_key = (target.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    controller.run(["sh", "-c", "cat > /root/.ssh/known_hosts"],
                   input=f"[127.0.0.1]:{SSH_PORT} {' '.join(host_key)}\n")


def test_install_sh_inventory_installs_upgrades_and_uninstalls_over_ssh(tmp_path):
    with bundles() as (fingerprint, tars), \
            BootedHost(ssh_debian_root(), tmp_path / "a") as a, \
            BootedHost(ssh_debian_root(), tmp_path / "b", network_of=a) as b:
        for host in (a, b):
            assert host.run(["sh", "-c", "command -v python3 || echo none"]).stdout.strip() == "none"
        serve_ssh(a, b)
        b.run(["sh", "-c", f"echo '127.0.0.1 {HOSTNAME}' >> /etc/hosts"])
        for path, text in INVENTORIES.items():
            a.run(["sh", "-c", f"cat > {path}"], input=text)
        old = unpack(a, tars[OLD])

        def over_ssh(folder: str, *options: str, ok: bool = True):
            return install(a, folder, fingerprint, "--inventory", "/root/inventory.yml", *options,
                           ok=ok, target=b)

        for inventory, hosts in (("/root/none.yml", 0), ("/root/two.yml", 2)):
            refused = install(a, old, fingerprint, "--inventory", inventory, ok=False)
            assert refused.returncode == 1
            assert refused.stderr.strip().splitlines()[-1] == (
                f"install.sh: error: inventory: {inventory} names {hosts} hosts; "
                "the single-node install needs exactly one")

        first = over_ssh(old)
        assert f"coder-appliance {OLD} is running at https://{HOSTNAME}" in first.stdout
        assert is_active(b, "coderd") == "active" and is_active(b, "docker-registry") == "active"
        assert b.run(["readlink", "/opt/coder-appliance/current"]).stdout.strip() == OLD
        # On B, by its name, over TLS checked with the appliance CA.
        healthz = b.run(["curl", "-fsS", "--cacert", "/var/lib/coder-appliance/ca/root.crt",
                         f"https://{HOSTNAME}/healthz"])
        assert healthz.stdout == "OK"
        status, _ = api(b, "POST", "/api/v2/users/first", {**OWNER, "trial": False})
        assert status == 201
        token = login(b)
        a.run(["sh", "-c", f"umask 077; echo {token} > /root/token"])
        pushed = over_ssh(old, "--with-templates", "--token-file", "/root/token")
        assert f"Log in at https://{HOSTNAME} or on {HOSTNAME} with" in pushed.stdout
        status, templates = api(b, "GET", "/api/v2/organizations/default/templates", token=token)
        assert sorted(t["name"] for t in templates) == ["local", "podman"]

        again = over_ssh(old)
        assert recap(again.stdout)["changed"] == 0, f"changed again: {changed_tasks(again.stdout)}"

        # A delta bundle: A completes it from the old bundle's folder, then B is upgraded.
        new = unpack(a, tars[DELTA])
        upgraded = over_ssh(new, "--installed", old)
        assert f"install.sh: upgrading to {NEW}: " in upgraded.stdout and f" ({OLD})" in upgraded.stdout
        assert b.run(["readlink", "/opt/coder-appliance/current"]).stdout.strip() == NEW
        login(b)  # the first user is kept

        removed = over_ssh(new, "--uninstall")
        assert "its data and configuration are kept" in removed.stdout
        assert is_active(b, "coderd") != "active" and is_active(b, "docker-registry") != "active"
        assert exists(b, "/opt/coder-appliance", "/etc/systemd/system/coderd.service") == []
        assert len(exists(b, "/var/lib/coder-appliance/coderd/postgres/PG_VERSION",
                          "/var/lib/coder-appliance/ca/root.crt", "/etc/coder-appliance/coderd.env")) == 3
        purged = over_ssh(new, "--uninstall", "--purge")
        assert "removed coder-appliance, its data and its configuration" in purged.stdout
        assert exists(b, "/var/lib/coder-appliance", "/etc/coder-appliance") == []

        # The controller installed nothing on itself but python3.
        assert exists(a, "/opt/coder-appliance", "/etc/coder-appliance", "/var/lib/coder-appliance") == []
        sent, served = a.connects(), b.connects()
        assert ("127.0.0.1", SSH_PORT, "connect") in sent, "the trace saw no SSH connection from A"
        assert any(port == 443 for _, port, _ in served), "the trace saw no connection to coderd on B"
        assert off_host(sent) == [], f"the controller tried to leave: {off_host(sent)}"
        assert off_host(served) == [], f"the target tried to leave: {off_host(served)}"
