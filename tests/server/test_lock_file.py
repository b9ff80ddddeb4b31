"""The lock file each run gets from the mirror: real terraform (the one on PATH, and 1.0.3
when installed) installing from a filesystem mirror that holds two versions of a provider
for two platforms, one of which is not this machine's."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import requests

from mirror_tools.providers.hashes import h1_zip
from mirror_tools.providers.layout import PROVIDERS, derived_files, zip_path
from server.provisionerd import lockfile
from server.provisionerd.terraform import MirrorConfig, Terraform, TerraformError, cli_config

from tests.kit.httpserve import GetServer
from tests.kit.tools import terraform_bin, terraform_binaries

TINY = "registry.terraform.io/example/tiny"
PLATFORMS = ("linux_amd64", "darwin_arm64")
WARNING = "Incomplete lock file information"
REQUIRES = 'terraform {\n  required_providers {\n    tiny = { source = "example/tiny"%s }\n  }\n}\n'


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """example/tiny 1.0.0 and 1.1.0, each for PLATFORMS, with the mirror's JSON beside them."""
    root = tmp_path_factory.mktemp("mirror")
    entries = {}
    for version in ("1.0.0", "1.1.0"):
        for platform in PLATFORMS:
            rel = zip_path(TINY, version, platform)
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w") as z:
                z.writestr(f"terraform-provider-tiny_v{version}", f"#!/bin/sh\n# {platform}\n")
            entries[rel] = {"kind": "provider", "source": TINY, "version": version,
                            "platform": platform, "h1": h1_zip(path),
                            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    for rel, content in derived_files(entries).items():
        (root / rel).write_bytes(content)
    return root


def run_init(mirror: Path, folder: Path, files: dict[str, str], binary: str,
             complete: bool = True) -> tuple[list[str], str]:
    """``init`` of ``files`` as a job runs it: (its log lines, the lock file after it)."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    mirrors = MirrorConfig(filesystem_mirror=str(mirror))
    (folder.parent / "cli.tfrc").write_text(cli_config(mirrors))
    env = {"PATH": os.environ["PATH"], "HOME": str(folder.parent), "CHECKPOINT_DISABLE": "1",
           "TF_CLI_CONFIG_FILE": str(folder.parent / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
    lines: list[str] = []
    tf = Terraform(binary, folder, env, lambda level, stage, out: lines.append(out),
                   threading.Event())
    if complete:
        lockfile.complete(tf, mirrors)
    tf.init()
    return lines, (folder / ".terraform.lock.hcl").read_text()


def hashes_in(lock: str) -> int:
    return lock.count('"h1:') + lock.count('"zh:')


def warns(binary: str) -> bool:
    """Whether this terraform warns of an incomplete lock file (1.4 and later)."""
    shown = json.loads(subprocess.run([binary, "version", "-json"], capture_output=True,
                                      text=True, env={"CHECKPOINT_DISABLE": "1"}).stdout)
    return tuple(int(p) for p in shown["terraform_version"].split(".")[:2]) >= (1, 4)


def test_without_it_terraform_warns(mirror, tmp_path):
    binary = terraform_bin()
    lines, lock = run_init(mirror, tmp_path / "t", {"main.tf": REQUIRES % ""}, binary,
                           complete=False)
    assert any(WARNING in line for line in lines) == warns(binary)  # what every run printed
    assert hashes_in(lock) == 1


@pytest.mark.parametrize("binary", terraform_binaries())
def test_every_platform_of_the_newest_version(mirror, tmp_path, binary):
    lines, lock = run_init(mirror, tmp_path / "t", {"main.tf": REQUIRES % ""}, binary)
    assert not any(WARNING in line for line in lines), lines
    assert 'version = "1.1.0"' in lock and hashes_in(lock) == 4, lock


@pytest.mark.parametrize("binary", terraform_binaries())
def test_a_module_constraint_selects_the_version_terraform_would(mirror, tmp_path, binary):
    files = {"main.tf": REQUIRES % "" + 'module "pinned" {\n  source = "./pinned"\n}\n',
             "pinned/main.tf": REQUIRES % ', version = "~> 1.0.0"'}
    lines, lock = run_init(mirror, tmp_path / "t", files, binary)
    assert not any(WARNING in line for line in lines), lines
    assert '"1.0.0"' in lock and hashes_in(lock) == 4, lock


@pytest.mark.parametrize("binary", terraform_binaries())
def test_the_templates_own_lock_file_wins(mirror, tmp_path, binary):
    own, _ = run_init(mirror, tmp_path / "own", {"main.tf": REQUIRES % ', version = "1.0.0"'},
                      binary, complete=False)
    shipped = (tmp_path / "own" / ".terraform.lock.hcl").read_text()
    lines, lock = run_init(mirror, tmp_path / "t", {"main.tf": REQUIRES % "",
                                                    ".terraform.lock.hcl": shipped}, binary)
    assert '"1.0.0"' in lock and '"1.1.0"' not in lock and hashes_in(lock) == 1, lock


def test_a_version_the_mirror_lacks_is_left_to_terraform(mirror, tmp_path):
    with pytest.raises(TerraformError) as failed:
        run_init(mirror, tmp_path / "t", {"main.tf": REQUIRES % ', version = ">= 2.0"'},
                 terraform_bin())
    assert "example/tiny" in str(failed.value) and "locked" not in str(failed.value)


def test_a_network_mirror_is_read_with_requests(mirror):
    """The mirror's JSON over HTTP (requests, as the rest of the code): the index, then the
    chosen version's file; a mirror that answers 404 or junk leaves the block to terraform."""
    seen: list[str] = []

    def answer(request):
        seen.append(request.path)
        path = mirror / PROVIDERS / request.path.lstrip("/")
        if request.path.endswith("broken/index.json"):
            return 200, "application/json", b"{not json"
        return (200, "application/json", path.read_bytes()) if path.is_file() \
            else (404, "text/plain", b"")

    with GetServer(answer) as server, requests.Session() as http:
        index = lockfile.MirrorIndex(MirrorConfig(
            network_mirror_url=f"http://127.0.0.1:{server.port}/"), http)
        block = index.lock_block(TINY, [])
        assert 'version = "1.1.0"' in block and hashes_in(block) == 4, block
        assert seen == ["/registry.terraform.io/example/tiny/index.json",
                        "/registry.terraform.io/example/tiny/1.1.0.json"], seen
        assert index.lock_block("registry.terraform.io/example/missing", []) == ""
        assert index.lock_block("registry.terraform.io/example/broken", []) == ""
