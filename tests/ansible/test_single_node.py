"""The single-node playbook on a booted minimal Debian 12 host with no route.

The bundle is staged by the parts' own builders (the executables, the signed apt
repository, the Ansible runtime, this repository's ansible/), unsealed: the
signature and install.sh's checks are tested with the bundle itself. What
install.sh does before Ansible, installing python3 from the bundle's repository
alone, is done here the same way. Then the roles install coderd with TLS from
the appliance CA and the embedded PostgreSQL; /healthz answers over TLS to a
client that trusts only the system store; a second run changes nothing, nor
would one in check mode; and no process of the host ever tried to leave it.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ..hosts import BootedHost, minimal_debian_root, off_host
from ..mirror_tools.tf_registry import SigningKey
from .ansibletest import ANSIBLE_DIR, REPO

sys.path.insert(0, str(REPO / "packaging"))
import ansible_runtime  # noqa: E402
import aptrepo  # noqa: E402
import executables  # noqa: E402

pytestmark = pytest.mark.booted_hosts

VERSION = "0.0.0-test"
BUNDLE = f"/root/coder-appliance-{VERSION}"
HOSTNAME = "coder.appliance.test"
# Where apt's gpgv, run as _apt, can read the key (not under root's 0700 home).
KEYRING = "/etc/apt/keyrings/coder-appliance.gpg"
# The bundle's repository as apt's only source, as install.sh runs apt before Ansible is possible.
BOOTSTRAP_APT = [f"-oDir::Etc::SourceList={BUNDLE}/bootstrap.list", "-oDir::Etc::SourceParts=-",
                 "-oDir::State::Lists=/var/lib/coder-appliance-apt/lists", "-oAcquire::Languages=none"]


def stage_bundle(work: Path) -> Path:
    """The bundle's folder as install.sh finds it after verifying it (without its seal)."""
    stage = work / f"coder-appliance-{VERSION}"
    executables.build(stage, ["coderd", "coder", "appliance", "coder-agent"])
    key = SigningKey(work / "gnupg", "Bundle test")
    try:
        aptrepo.build(stage / "apt", aptrepo.package_list(), key.home, key.fingerprint)
    finally:
        key.close()
    ansible_runtime.build(stage / "ansible" / "python")
    for part in ("ansible.cfg", "inventory.example.yml", "roles", "playbooks"):
        source = ANSIBLE_DIR / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, stage / "ansible" / part)
    (stage / "terraform").mkdir()
    shutil.copy2(shutil.which("terraform"), stage / "terraform" / "terraform")
    shutil.copytree(REPO / ".cache" / "provider-mirror", stage / "providers")
    (stage / "MANIFEST.json").write_text(json.dumps({"format": 1, "version": VERSION}))
    (stage / "bootstrap.list").write_text(
        f"deb [signed-by={KEYRING}] file:{BUNDLE}/apt bookworm main\n")
    return stage


@pytest.fixture(scope="module")
def bundle() -> Path:
    # /var/tmp: the bundle (about 500 MB) would not fit CI's small /tmp.
    work = Path(tempfile.mkdtemp(prefix="single-node-bundle-", dir="/var/tmp"))
    yield stage_bundle(work)
    shutil.rmtree(work, ignore_errors=True)


def playbook(host: BootedHost, *options: str) -> str:
    """Run the single-node playbook in the host as install.sh does; its output."""
    done = host.run(
        ["env", f"PYTHONPATH={BUNDLE}/ansible/python", f"ANSIBLE_CONFIG={BUNDLE}/ansible/ansible.cfg",
         "ANSIBLE_NOCOLOR=1", "python3", "-m", "ansible", "playbook",
         "-i", f"{HOSTNAME},", "-c", "local", "-e", f"appliance_hostname={HOSTNAME}",
         "-e", "appliance_with_registry=false", *options,
         f"{BUNDLE}/ansible/playbooks/single-node.yml"], traced=True, check=False, timeout=900)
    if done.returncode != 0:
        journal = host.run(["journalctl", "-u", "coderd", "--no-pager", "-n", "80"], check=False)
        pytest.fail(f"the playbook failed:\n{done.stdout[-5000:]}{done.stderr[-2000:]}\n"
                    f"coderd's journal:\n{journal.stdout}")
    return done.stdout


def changed_tasks(output: str) -> list[str]:
    """The tasks that reported a change, from the default callback's output."""
    task, changed = "", []
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed:") and task not in changed:
            changed.append(task)
    return changed


def recap(output: str) -> dict[str, int]:
    found = re.search(r"^\S+\s*:\s*(ok=.*)$", output, re.M)
    assert found, output[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found.group(1))}


def test_the_playbook_installs_coderd_with_tls_offline_and_again_changes_nothing(bundle, tmp_path):
    with BootedHost(minimal_debian_root(), tmp_path / "host") as host:
        assert host.run(["sh", "-c", "command -v python3 || echo none"]).stdout.strip() == "none"
        host.copy_in(bundle, BUNDLE)
        host.copy_in(bundle / "apt" / "keyring.gpg", KEYRING)
        # The access URL's name, as the network's DNS would give it (the host has no route to any).
        host.run(["sh", "-c", f"echo '127.0.0.1 {HOSTNAME}' >> /etc/hosts"])
        host.run(["apt-get", *BOOTSTRAP_APT, "update"], traced=True)
        host.run(["apt-get", *BOOTSTRAP_APT, "install", "-y", "--no-install-recommends",
                  *aptrepo.BOOTSTRAP_PACKAGES], traced=True)

        first = playbook(host)
        assert "coderd : Install coderd's systemd unit" in changed_tasks(first)
        assert host.run(["systemctl", "is-active", "coderd"]).stdout.strip() == "active"
        unit = host.run(["systemctl", "show", "coderd", "-p", "User", "-p", "NoNewPrivileges",
                         "-p", "ProtectSystem", "-p", "ProtectHome"]).stdout
        assert "User=coder-appliance" in unit and "NoNewPrivileges=yes" in unit
        assert "ProtectSystem=strict" in unit and "ProtectHome=yes" in unit
        env = host.run(["cat", "/etc/coder-appliance/coderd.env"]).stdout
        assert "CODER_UPDATE_CHECK=false" in env and "CODER_TELEMETRY_ENABLE=false" in env
        assert "CODER_PG_CONNECTION_URL=\n" in env  # the embedded PostgreSQL
        # A client that trusts only the system store (the CA's root was added to it).
        health = host.run(["python3", "-c",
                           "import ssl, urllib.request; print(urllib.request.urlopen("
                           "'https://127.0.0.1/healthz', context=ssl.create_default_context(),"
                           " timeout=30).read().decode())"])
        assert health.stdout.strip() == "OK"
        assert host.run(["readlink", "/opt/coder-appliance/current"]).stdout.strip() == VERSION

        again = playbook(host)
        assert recap(again)["changed"] == 0, f"changed again: {changed_tasks(again)}"
        checked = playbook(host, "--check")
        assert recap(checked)["changed"] == 0, f"check mode: {changed_tasks(checked)}"

        dests = host.connects()
        assert any(port == 443 for _, port, _ in dests), "the trace saw no connection to coderd"
        assert off_host(dests) == [], f"the install tried to leave the host: {off_host(dests)}"
