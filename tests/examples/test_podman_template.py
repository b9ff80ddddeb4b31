"""The ``podman`` example template: a container from a local registry, with a persistent volume.

The base image is built here, the smallest that meets the template's
requirements (README.md): the host's static busybox (shell, wget, httpd for
the Files app) and glibc, with a writable /tmp where the PyInstaller agent
unpacks itself; imported with podman and pushed into a real
``docker-registry`` on 127.0.0.1.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.mirror_tools.imagekit import docker_registry

from .workspacetest import Compute, exercise_template

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "podman"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"]
BUSYBOX_TOOLS = ("sh", "wget", "sleep", "cat", "echo", "ls", "mkdir", "chmod", "mktemp", "env",
                 "rm", "id", "uname", "stty", "httpd")
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libutil.so.1", "librt.so.1",
         "libz.so.1", "libgcc_s.so.1")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=120)


def base_image_tar(dest: Path) -> Path:
    """A rootfs with busybox (shell, wget) and the host's glibc, as a tar."""
    busybox = shutil.which("busybox")
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True, check=False) if busybox else None
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


def _exists(kind: str, name: str) -> bool:
    return podman(kind, "exists", name, check=False).returncode == 0


def running(workspace_id: uuid.UUID) -> bool:
    name = f"coder-{workspace_id}"
    return _exists("container", name) and \
        podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"


def leftovers(workspace_id: uuid.UUID) -> list[str]:
    return [f"{kind} {name}" for kind, name in (("container", f"coder-{workspace_id}"),
                                                ("volume", f"coder-{workspace_id}-home"))
            if _exists(kind, name)]


def remove(workspace_id: uuid.UUID) -> None:
    podman("rm", "-f", f"coder-{workspace_id}", check=False)
    podman("volume", "rm", "-f", f"coder-{workspace_id}-home", check=False)


# runc creates each container's cgroups; systemd-nspawn (CI's fresh Debian pass)
# mounts the v1 hierarchies read-only, and runc has no cgroup-less mode.
@pytest.mark.host_cgroups
def test_podman_template_end_to_end(owner_cli, templates_coderd, registry_image, tmp_path):
    cli, owner = owner_cli
    exercise_template(cli, owner, templates_coderd.url, TEMPLATE, Compute(running, leftovers, remove),
                      tmp_path, {"image": registry_image})
