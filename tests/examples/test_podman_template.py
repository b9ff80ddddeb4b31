"""The ``podman`` example template: a container from a local registry, with a persistent volume.

The base image is imagekit's ``workspace_base_rootfs``, the smallest that meets
the template's requirements (README.md), imported with podman and pushed into a
real ``docker-registry`` on 127.0.0.1.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.kit.imagekit import docker_registry, workspace_base_rootfs

from .workspacetest import Compute, exercise_template

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "podman"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"]
def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def registry_image(tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./dev setup --test installs it")
    tmp = tmp_path_factory.mktemp("image")
    with docker_registry(tmp / "registry") as registry:
        ref = f"{registry.host}/coder/base:latest"
        podman("import", str(workspace_base_rootfs(tmp)), "localhost/coder-test-base:latest")
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
