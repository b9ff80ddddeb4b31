"""Installing a real bundle with its install.sh on a booted host, for the install
tests and bench/install.py.

The bundle's folder is staged by the parts' own builders (the executables, the
signed apt repository, the Ansible runtime, this repository's ansible/, a small
OCI image a podman workspace runs in, the example templates, this machine's terraform, a provider mirror
with terraform-provider-coder frozen) and sealed by the real builder:
MANIFEST.json, its signature, the tar. ``bundles()`` seals one staged folder twice, under two
versions, to have an upgrade to make without building twice.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from ..ansible.ansibletest import ANSIBLE_DIR
from ..hosts import BootedHost
from .bundlekit import REPO, seal, tf_registry

import ansible_runtime  # noqa: E402,I100  (packaging/, put on sys.path by bundlekit)
import aptrepo  # noqa: E402
import build_provider  # noqa: E402
import executables  # noqa: E402
import imagekit  # noqa: E402  (tests/mirror_tools)

OLD, NEW = "0.0.1-test", "0.0.2-test"
DELTA = f"{NEW}-delta-from-{OLD}"
HOSTNAME = "coder.appliance.test"
IMAGE = "docker.io/coder/base:latest"  # what the podman template runs
OWNER = {"email": "admin@appliance.test", "username": "admin", "name": "Admin",
         "password": "Correct-Horse-Battery-9-Staple"}


def stage_bundle(folder: Path, key: tf_registry.SigningKey) -> None:
    """Every part of the bundle into ``folder`` (named coder-appliance-VERSION)."""
    executables.build(folder, ["coderd", "coder", "appliance", "coder-agent"])
    aptrepo.build(folder / "apt", aptrepo.package_list(), key.home, key.fingerprint)
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


@contextlib.contextmanager
def bundles() -> Iterator[tuple[str, dict[str, Path]]]:
    """(fingerprint, {OLD: tar, NEW: tar, DELTA: tar}): one staged folder sealed as OLD,
    renamed, sealed as NEW, and as NEW's delta from OLD (which carries almost nothing: the
    files are the same, so install.sh takes nearly all of them from the installed OLD)."""
    # /var/tmp: the bundles (about 500 MB each) would not fit CI's small /tmp.
    work = Path(tempfile.mkdtemp(prefix="install-host-", dir="/var/tmp"))
    key = tf_registry.SigningKey(work / "gnupg", "Bundle Signer")
    try:
        folder = work / "stage" / f"coder-appliance-{OLD}"
        stage_bundle(folder, key)
        tars = {OLD: seal(folder, work, key).path}
        folder = folder.rename(folder.with_name(f"coder-appliance-{NEW}"))
        tars[NEW] = seal(folder, work, key).path
        tars[DELTA] = seal(folder, work, key, since=tars[OLD]).path
        shutil.rmtree(work / "stage")
        yield key.fingerprint, tars
    finally:
        key.close()
        shutil.rmtree(work, ignore_errors=True)


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
