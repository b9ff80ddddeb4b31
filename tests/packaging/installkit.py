"""Installing a real bundle with its install.sh on a booted host, for the install
tests and bench/install.py.

The bundle's folder is staged by the parts' own builders (the executables, the
signed apt repository, the Ansible runtime, this repository's ansible/, a small
OCI image a podman workspace runs in, the example templates, this machine's terraform, a provider mirror
with terraform-provider-coder frozen) and sealed by the real builder:
MANIFEST.json, its signature, the tar. ``bundles()`` seals one staged folder twice, under two
versions, to have an upgrade to make without building twice; ``bundle()`` seals one with
the bundle manifest's other choices (Debian's PostgreSQL, extra packages).
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from appliance import bundle_manifest as bm

from ..ansible.ansibletest import ANSIBLE_DIR
from ..hosts import BootedHost
from .bundlekit import REPO, seal, tf_registry

import ansible_runtime  # noqa: E402,I100  (packaging/, put on sys.path by bundlekit)
import aptrepo  # noqa: E402
import build_provider  # noqa: E402
import executables  # noqa: E402
from tests.kit import imagekit  # noqa: E402

OLD, NEW = "0.0.1-test", "0.0.2-test"
DELTA = f"{NEW}-delta-from-{OLD}"
HOSTNAME = "coder.appliance.test"
IMAGE = "docker.io/coder/base:latest"  # what the podman template runs
OWNER = {"email": "admin@appliance.test", "username": "admin", "name": "Admin",
         "password": "Correct-Horse-Battery-9-Staple"}


def stage_bundle(folder: Path, key: tf_registry.SigningKey, postgres: str = "embedded",
                 packages: tuple[str, ...] = ()) -> dict:
    """Every part of the bundle into ``folder`` (named coder-appliance-VERSION), the apt
    repository with what the bundle manifest's ``packages`` add (Debian's PostgreSQL is in
    every bundle); the MANIFEST.json versions that record the choices for install.sh."""
    executables.build(folder, ["coderd", "coder", "appliance", "coder-agent"])
    aptrepo.build(folder / "apt", aptrepo.package_list(packages),
                  key.home, key.fingerprint)
    ansible_runtime.build(folder / "ansible" / "python")
    for part in ("ansible.cfg", "inventory.example.yml", "roles", "playbooks"):
        source = ANSIBLE_DIR / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / "ansible" / part)
    (folder / "terraform").mkdir()
    shutil.copy2(shutil.which("terraform"), folder / "terraform" / "terraform")
    # terraform-provider-coder frozen, as the bundle's mirror part builds it (cached).
    mirror = REPO / ".cache" / "installkit-provider-mirror"
    build_provider.build(mirror, "pyinstaller")
    shutil.copytree(mirror / "providers", folder / "providers")
    layout = folder / "images"
    with tempfile.TemporaryDirectory(dir="/var/tmp") as rootfs:
        layer = imagekit.workspace_base_rootfs(Path(rootfs)).read_bytes()
    imagekit.tag_layout(layout, IMAGE, imagekit.write_image(layout, layers=[layer], label="base"))
    for name in ("local", "podman"):
        shutil.copytree(REPO / "examples" / "templates" / name, folder / "templates" / name)
    return bm.install_choices(postgres, packages)


@contextlib.contextmanager
def _signed_workdir() -> Iterator[tuple[Path, tf_registry.SigningKey]]:
    """A folder for staging and tars, and a signing key in it; both gone afterwards."""
    # /var/tmp: the bundles (about 500 MB each) would not fit CI's small /tmp.
    work = Path(tempfile.mkdtemp(prefix="install-host-", dir="/var/tmp"))
    key = tf_registry.SigningKey(work / "gnupg", "Bundle Signer")
    try:
        yield work, key
    finally:
        key.close()
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def bundles() -> Iterator[tuple[str, dict[str, Path]]]:
    """(fingerprint, {OLD: tar, NEW: tar, DELTA: tar}): one staged folder sealed as OLD,
    renamed, sealed as NEW, and as NEW's delta from OLD (which carries almost nothing: the
    files are the same, so install.sh takes nearly all of them from the installed OLD)."""
    with _signed_workdir() as (work, key):
        folder = work / "stage" / f"coder-appliance-{OLD}"
        versions = stage_bundle(folder, key)
        tars = {OLD: seal(folder, work, key, versions=versions).path}
        folder = folder.rename(folder.with_name(f"coder-appliance-{NEW}"))
        tars[NEW] = seal(folder, work, key, versions=versions).path
        tars[DELTA] = seal(folder, work, key, since=tars[OLD], versions=versions).path
        shutil.rmtree(work / "stage")
        yield key.fingerprint, tars


@contextlib.contextmanager
def bundle(postgres: str, packages: tuple[str, ...]) -> Iterator[tuple[str, Path]]:
    """(fingerprint, tar) of OLD built as a bundle manifest with these choices would."""
    with _signed_workdir() as (work, key):
        folder = work / "stage" / f"coder-appliance-{OLD}"
        versions = stage_bundle(folder, key, postgres, packages)
        tar = seal(folder, work, key, versions=versions).path
        shutil.rmtree(work / "stage")
        yield key.fingerprint, tar


def unpack(host: BootedHost, tar: Path) -> str:
    """Copy the tar in and ``tar -xf`` it under /root as the administrator does; the folder."""
    host.copy_in(tar, f"/root/{tar.name}")
    host.run(["tar", "-xf", f"/root/{tar.name}", "-C", "/root"])
    host.run(["rm", f"/root/{tar.name}"])
    with tarfile.open(tar) as t:
        return f"/root/{t.next().name.split('/')[0]}"


def install_sh(host: BootedHost, folder: str, fingerprint: str, *options: str,
               traced: bool = True):
    """``FOLDER/install.sh --fingerprint FPR --hostname HOSTNAME OPTIONS`` in the host
    (under strace for ``host.connects()`` when ``traced``: it slows every process it starts)."""
    return host.run([f"{folder}/install.sh", "--fingerprint", fingerprint, "--hostname", HOSTNAME,
                     *options], traced=traced, check=False, timeout=900)


def install(host: BootedHost, folder: str, fingerprint: str, *options: str, ok: bool = True,
            traced: bool = True, target: BootedHost | None = None):
    """install_sh, failing the test with its output and coderd's journal (from ``target``, the
    host installed on over SSH, or ``host``) unless ``ok`` is False."""
    done = install_sh(host, folder, fingerprint, *options, traced=traced)
    if ok and done.returncode != 0:
        journal = (target or host).run(["journalctl", "-u", "coderd", "--no-pager", "-n", "60"],
                                       check=False)
        pytest.fail(f"install.sh {' '.join(options)} failed:\n{done.stdout[-6000:]}"
                    f"{done.stderr[-3000:]}\ncoderd's journal:\n{journal.stdout}")
    return done


def check_mode(host: BootedHost, folder: str, *options: str):
    """The single-node playbook in check mode, as install.sh runs it, with ``options``."""
    checked = host.run(
        ["env", "PYTHONDONTWRITEBYTECODE=1", f"PYTHONPATH={folder}/ansible/python",
         f"ANSIBLE_CONFIG={folder}/ansible/ansible.cfg", "LC_ALL=C.UTF-8", "python3", "-m",
         "ansible", "playbook", "-i", f"{HOSTNAME},", "-c", "local",
         "-e", f"appliance_hostname={HOSTNAME}", *options, "--check",
         f"{folder}/ansible/playbooks/single-node.yml"], check=False, timeout=600)
    assert checked.returncode == 0, checked.stdout[-4000:]
    return checked


def changed_tasks(output: str) -> list[str]:
    """The tasks that reported a change, from the default callback's output."""
    task, changed = "", []
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed:") and task not in changed:
            changed.append(task)
    return changed


def recaps(output: str) -> dict[str, dict[str, int]]:
    """Each host's play recap counts (ok, changed, ...), from ansible-playbook's output."""
    found = re.findall(r"^(\S+)\s*:\s*(ok=.*)$", output, re.M)
    assert found, output[-3000:]
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in found}


def recap(output: str) -> dict[str, int]:
    """The play recap's counts of a play on one host."""
    hosts = recaps(output)
    assert len(hosts) == 1, f"a recap for each of {sorted(hosts)}"
    return next(iter(hosts.values()))


def exists(host: BootedHost, *paths: str) -> list[str]:
    """Those of ``paths`` that exist in the host."""
    return [p for p in paths if host.run(["test", "-e", p], check=False).returncode == 0]


def is_active(host: BootedHost, unit: str, user: bool = False) -> str:
    """A unit's state: a system unit, or one of coderd's user's systemd manager."""
    uid = host.run(["id", "-u", "coder-appliance"]).stdout.strip() if user else ""
    as_user = ["setpriv", "--reuid=coder-appliance", "--regid=coder-appliance", "--clear-groups",
               "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", "systemctl", "--user"]
    return host.run([*(as_user if user else ["systemctl"]), "is-active", unit],
                    check=False).stdout.strip()


def api(host: BootedHost, method: str, path: str, body: dict | None = None,
        token: str = "") -> tuple[int, dict]:
    """A request to coderd from inside the host, over TLS checked by the system trust store."""
    script = (
        "import json, ssl, sys, urllib.error, urllib.request\n"
        "method, url, body, token = sys.argv[1:5]\n"
        "req = urllib.request.Request(url, method=method, data=body.encode() or None,\n"
        "    headers={'Content-Type': 'application/json', 'Coder-Session-Token': token})\n"
        "try:\n"
        "    r = urllib.request.urlopen(req, context=ssl.create_default_context(), timeout=30)\n"
        "    print(r.status, r.read().decode() or '{}')\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.read().decode() or '{}')\n")
    done = host.run(["python3", "-c", script, method, f"https://{HOSTNAME}{path}",
                     json.dumps(body) if body else "", token])
    status, text = done.stdout.split(" ", 1)
    return int(status), json.loads(text)


def login(host: BootedHost) -> str:
    """The first user's session token, from coderd in ``host``."""
    status, body = api(host, "POST", "/api/v2/users/login",
                       {"email": OWNER["email"], "password": OWNER["password"]})
    assert status == 201, body
    return body["session_token"]

