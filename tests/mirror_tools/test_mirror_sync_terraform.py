"""Real terraform installs providers from a mirror-sync mirror.

``terraform init`` runs against the packed filesystem mirror, and against the
network mirror served by ``appliance mirror serve`` over HTTPS with a
certificate from the appliance CA (trusted through ``SSL_CERT_FILE``); the
lock file terraform writes must hold exactly the ``h1:`` hashes mirror-sync
computed, and mirror-sync's own lock file must be accepted by terraform.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from appliance.admin.main import main as appliance
from mirror_tools import fetch
from tests.mirror_tools.mirrorkit import (NULL, REPO, TINY, filesystem_mirror_config,
                                          terraform_init, write_manifest)

CONFIG = """terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "~> 2.1" }
    tiny = { source = "example/tiny" }
  }
}
"""


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, _tf_registry_session):
    root = tmp_path_factory.mktemp("tf-mirror")
    manifest = write_manifest(
        root / "m.yaml", _tf_registry_session,
        "  - {source: hashicorp/null, versions: '~> 2.1', platforms: [linux_amd64, darwin_arm64]}\n"
        "  - {source: example/tiny, versions: '>= 1.0', platforms: [linux_amd64]}\n")
    assert appliance(["mirror-sync", "--manifest", str(manifest), "--out", str(root / "out")]) == 0
    return root / "out"


def lock_hashes(text: str) -> dict[str, tuple[str, set[str]]]:
    """provider -> (version, hashes) from a .terraform.lock.hcl."""
    out = {}
    for source, body in re.findall(r'provider "([^"]+)" \{(.*?)\n\}', text, re.S):
        version = re.search(r'version\s*=\s*"([^"]+)"', body).group(1)
        out[source] = (version, set(re.findall(r'"((?:h1|zh):[^"]+)"', body)))
    return out


def init(workdir: Path, cli_config: str, env_extra: dict | None = None) -> str:
    done = terraform_init(workdir, cli_config, CONFIG, env_extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return (workdir / ".terraform.lock.hcl").read_text()


def assert_lock_matches_mirror(tf_lock: str, mirror: Path) -> None:
    """terraform records the h1: of what it installed: mirror-sync's, for the same version."""
    ours = lock_hashes((mirror / ".terraform.lock.hcl").read_text())
    theirs = lock_hashes(tf_lock)
    assert set(theirs) == {NULL, TINY}
    for source, (version, hashes) in theirs.items():
        assert version == ours[source][0]
        h1s = {h for h in ours[source][1] if h.startswith("h1:")}
        assert hashes and {h for h in hashes if h.startswith("h1:")} <= h1s, (source, hashes, h1s)
        assert hashes <= ours[source][1]


def test_init_from_the_filesystem_mirror(mirror, tmp_path):
    lock = init(tmp_path / "tf", filesystem_mirror_config(mirror / "providers"))
    assert_lock_matches_mirror(lock, mirror)
    # linux_amd64 installed: its h1 is exactly the one mirror-sync wrote for it.
    archives = json.loads((mirror / "providers" / NULL / "2.1.2.json").read_text())["archives"]
    assert lock_hashes(lock)[NULL][1] == {archives["linux_amd64"]["hashes"][0]}
    installed = tmp_path / "tf/.terraform/providers" / NULL / "2.1.2/linux_amd64"
    assert os.access(next(installed.iterdir()), os.X_OK)


def test_terraform_accepts_the_shipped_lock_file(mirror, tmp_path):
    """A template shipping mirror-sync's lock file installs with it: terraform
    checks the mirrored package against those hashes and keeps them."""
    work = tmp_path / "tf"
    work.mkdir()
    shutil.copy(mirror / ".terraform.lock.hcl", work / ".terraform.lock.hcl")
    lock = init(work, filesystem_mirror_config(mirror / "providers"))
    ours = lock_hashes((mirror / ".terraform.lock.hcl").read_text())
    assert {k: v[1] for k, v in lock_hashes(lock).items()} == {k: v[1] for k, v in ours.items()}


@pytest.fixture
def served(mirror, https_cert):
    """``appliance mirror serve`` in its own process, on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.admin.main", "mirror", "serve", str(mirror),
         "--cert", str(https_cert.chain_path), "--key", str(https_cert.key_path),
         "--address", "127.0.0.1:0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (https://\S+)", line)
        assert url, f"mirror serve did not start: {line!r}"
        yield url.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_init_from_the_network_mirror_over_https(mirror, served, test_ca, tmp_path):
    lock = init(tmp_path / "tf", 'provider_installation {\n  network_mirror {\n'
                f'    url = "{served}providers/"\n  }}\n}}\n',
                {"SSL_CERT_FILE": str(test_ca.bundle_path)})
    assert_lock_matches_mirror(lock, mirror)


def test_serve_answers_head_and_get_with_types_and_404s(mirror, served, test_ca):
    s = fetch.session(ca_bundle=str(test_ca.bundle_path), retries=0)
    base = f"{served}providers/{NULL}/"
    index = s.get(base + "index.json")
    assert index.status_code == 200 and index.headers["Content-Type"] == "application/json"
    assert index.json() == {"versions": {"2.1.2": {}}}
    zip_url = base + "terraform-provider-null_2.1.2_linux_amd64.zip"
    head = s.head(zip_url)
    size = (mirror / "providers" / NULL / "terraform-provider-null_2.1.2_linux_amd64.zip").stat().st_size
    assert head.status_code == 200 and head.headers["Content-Type"] == "application/zip"
    assert int(head.headers["Content-Length"]) == size and head.content == b""
    assert len(s.get(zip_url).content) == size
    for path in ("providers/nothing.json", "mirror-state.json/x", ".lock", ".terraform.lock.hcl",
                 "providers/../../etc/passwd", "providers/%2e%2e/%2e%2e/etc/passwd", "providers/"):
        assert s.get(served + path).status_code == 404, path
        assert s.head(served + path).status_code == 404, path
    # Terraform needs a certificate it trusts: without the CA, the TLS handshake fails.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(base + "index.json", verify=True)


def test_serve_names_a_missing_certificate_key_or_folder(mirror, https_cert, tmp_path):
    def serve(folder, cert, key) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "appliance.admin.main", "mirror", "serve",
                               str(folder), "--cert", str(cert), "--key", str(key),
                               "--address", "127.0.0.1:0"], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
    missing = tmp_path / "missing.pem"
    for args, named in (((mirror, missing, https_cert.key_path), f"{missing}: no such file or "
                         "folder (--cert)"),
                        ((mirror, https_cert.chain_path, missing), f"{missing}: no such file or "
                         "folder (--key)"),
                        ((missing, https_cert.chain_path, https_cert.key_path),
                         f"{missing}: no such file or folder (DIR)")):
        done = serve(*args)
        assert done.returncode == 1 and done.stderr == f"error: {named}\n", done.stderr
