"""The ``podman`` example template: a container from a local registry, with a persistent volume.

The base image is built here from the host's static busybox and glibc (so a
downloaded agent binary can run in it), imported with podman and pushed into
a real ``docker-registry`` on 127.0.0.1.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.mirror_tools.imagekit import docker_registry

from ..coderdtest import create_first_user
from ..provisioning import Rows, template_files

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "podman"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"]
BUSYBOX_TOOLS = ("sh", "wget", "sleep", "cat", "echo", "ls", "mkdir", "chmod", "mktemp", "env",
                 "rm", "id", "uname")
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libutil.so.1", "librt.so.1",
         "libz.so.1", "libgcc_s.so.1")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=120)


def base_image_tar(dest: Path) -> Path:
    """A rootfs with busybox (shell, wget) and the host's glibc, as a tar."""
    busybox = shutil.which("busybox")
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True) if busybox else None
    if ldd is None or "not a dynamic executable" not in ldd.stdout + ldd.stderr:
        pytest.fail("a static busybox is needed to build the test image: ./dev setup --test installs it")
    root = dest / "rootfs"
    for folder in ("bin", "tmp", "etc", "home/coder", "lib/x86_64-linux-gnu", "lib64"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for tool in BUSYBOX_TOOLS:
        (root / "bin" / tool).symlink_to("busybox")
    for lib in GLIBC:
        src = Path("/lib/x86_64-linux-gnu") / lib
        if src.exists():
            shutil.copy(src, root / "lib/x86_64-linux-gnu" / lib)
    shutil.copy("/lib64/ld-linux-x86-64.so.2", root / "lib64")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "tmp").chmod(0o1777)
    tar_path = dest / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    return tar_path


@pytest.fixture(scope="module")
def registry_image(tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./dev setup --test installs it")
    tmp = tmp_path_factory.mktemp("image")
    with docker_registry(tmp / "registry") as registry:
        ref = f"{registry.host}/coder/base:latest"
        podman("import", str(base_image_tar(tmp)), "localhost/coder-test-base:latest")
        podman("push", "--tls-verify=false", "localhost/coder-test-base:latest", ref)
        yield ref


@pytest.fixture
def rows(provisioning_coderd):
    _, first = create_first_user(provisioning_coderd)
    r = Rows(provisioning_coderd.dsn, first.user_id, first.organization_id)
    yield r
    r.conn.close()


def container_running(name: str) -> bool:
    out = podman("ps", "--filter", f"name=^{name}$", "--format", "{{.Names}}").stdout
    return name in out.split()


def test_podman_template_start_stop_start_delete(rows, registry_image):
    version_id, job_id = rows.import_version(template_files(TEMPLATE))
    job = rows.wait(job_id)
    assert job["job_status"] == "succeeded", job["error"]
    start = [(r["name"], r["agent"]) for r in rows.resources(job_id) if r["transition"] == "start"]
    assert ("container", "main") in start and ("home", None) in start

    workspace_id = rows.workspace(rows.template(version_id))
    name, volume = f"coder-{workspace_id}", f"coder-{workspace_id}-home"
    try:
        _, job_id = rows.build(workspace_id, version_id, "start", {"image": registry_image})
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
        assert container_running(name)
        # The init script runs in the container and fetches the agent from coderd.
        deadline = time.monotonic() + 30
        while "coder-agent" not in podman("logs", name).stdout + podman("logs", name).stderr:
            assert time.monotonic() < deadline, "the init script never ran in the container"
            time.sleep(0.3)
        env = json.loads(podman("inspect", name).stdout)[0]["Config"]["Env"]
        assert any(e.startswith("CODER_AGENT_TOKEN=") for e in env)
        podman("exec", name, "sh", "-c", "echo kept > /home/coder/notes.txt")

        _, job_id = rows.build(workspace_id, version_id, "stop", {"image": registry_image})
        assert rows.wait(job_id)["job_status"] == "succeeded"
        assert not container_running(name)
        assert podman("volume", "exists", volume, check=False).returncode == 0

        _, job_id = rows.build(workspace_id, version_id, "start", {"image": registry_image})
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
        assert container_running(name)
        assert podman("exec", name, "cat", "/home/coder/notes.txt").stdout.strip() == "kept"

        _, job_id = rows.build(workspace_id, version_id, "delete", {"image": registry_image})
        assert rows.wait(job_id)["job_status"] == "succeeded"
        assert not container_running(name)
        assert podman("volume", "exists", volume, check=False).returncode != 0
    finally:
        podman("rm", "-f", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)
