"""install.sh --inventory when the inventory's host cannot be reached (attack15).

No host is booted: the inventory's one host is 127.0.0.1 on a port nothing listens on,
so every SSH connection is refused at once. The bundle is small but real: install.sh,
the Ansible runtime and this repository's ansible/, sealed by the real builder.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kit import tf_registry

from ..ansible.ansibletest import ANSIBLE_DIR
from .bundlekit import REPO, extract, seal

import ansible_runtime  # noqa: E402,I100  (packaging/, put on sys.path by bundlekit)


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """(fingerprint, extracted folder) of a bundle holding install.sh and Ansible only."""
    work = tmp_path_factory.mktemp("inventory")
    key = tf_registry.SigningKey(work / "gnupg", "Bundle Signer")
    try:
        stage = work / "stage" / "coder-appliance-0.0.1-test"
        stage.mkdir(parents=True)
        shutil.copy2(REPO / "packaging" / "install.sh", stage / "install.sh")
        ansible_runtime.build(stage / "ansible" / "python")
        for part in ("ansible.cfg", "inventory.example.yml", "roles", "playbooks"):
            source = ANSIBLE_DIR / part
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, stage / "ansible" / part)
        tar = seal(stage, work / "out", key).path
        yield key.fingerprint, extract(tar, work / "x")
    finally:
        key.close()


def install_sh(small_bundle, tmp_path: Path, inventory: str, *args: str) -> subprocess.CompletedProcess:
    """install.sh --inventory with this inventory text, as an administrator runs it. The host
    needs python3 with python3-apt, which install.sh would otherwise install from the bundle's
    apt repository (this bundle has none): ./dev setup --test installs them."""
    fingerprint, folder = small_bundle
    (tmp_path / "inventory.yml").write_text(inventory)
    return subprocess.run(["bash", str(folder / "install.sh"), "--fingerprint", fingerprint,
                           "--inventory", str(tmp_path / "inventory.yml"), *args],
                          capture_output=True, text=True, timeout=300, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def the_one_error(done: subprocess.CompletedProcess) -> str:
    """The one error line install.sh ended with, before any playbook ran."""
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert "PLAY [" not in done.stdout, done.stdout[-2000:]
    return errors[0]


UNREACHABLE = "all:\n  hosts:\n    one.test: {ansible_host: 127.0.0.1, ansible_port: 1}\n"


def test_an_unreachable_host_ends_install_sh_with_one_error_before_the_playbook(small_bundle,
                                                                                  tmp_path):
    """attack15: on_host's `exit 1` ran inside a command substitution, which bash's errexit
    does not reach: the SSH failure was printed twice as an error, then install.sh went on as
    if the host had no version installed (so the downgrade check passed: a host whose first
    connection failed took an older bundle without --force), warned that the host name does
    not resolve (it was not asked), and ran the whole playbook into the same failure."""
    done = install_sh(small_bundle, tmp_path, UNREACHABLE)
    assert "ssh: one.test" in the_one_error(done)
    assert "does not resolve" not in done.stderr


def test_an_unreachable_host_is_not_called_uninstalled(small_bundle, tmp_path):
    done = install_sh(small_bundle, tmp_path, UNREACHABLE, "--uninstall")
    assert "ssh: one.test" in the_one_error(done)
    assert "not installed" not in done.stderr


@pytest.mark.parametrize("connection", ["local", "ansible.builtin.local", "\"{{ 'lo' ~ 'cal' }}\""])
def test_a_host_with_a_local_connection_is_refused(small_bundle, tmp_path, connection):
    """attack15: ansible_connection local (here in the group's vars) would install on this
    host, while install.sh said it installed on the inventory's. (Should the check go, no
    task could change this host: each would become another user through no sudo.)"""
    inventory = (f"all:\n  vars:\n    ansible_connection: {connection}\n"
                 "    ansible_become: true\n    ansible_become_user: nobody\n"
                 "    ansible_become_exe: /nonexistent/sudo\n"
                 "  hosts:\n    one.test: {ansible_host: 192.0.2.1}\n")
    error = the_one_error(install_sh(small_bundle, tmp_path, inventory))
    assert "inventory: one.test has ansible_connection" in error and "local" in error, error
