"""``appliance bundle build`` from docs/examples/bundle-manifest.yaml, its
registries pointed at this test's own: a Terraform registry that also serves
terraform releases (tf_registry, real null provider and terraform binaries,
GnuPG-signed sums) and a real docker-registry seeded with a small image
named library/debian:12-slim (imagekit, skopeo).

It builds the parts that need no internet (the mirror parts and the
templates; executables, apt and ansible are tested by their own modules'
tests and need PyPI or Debian's mirror when cold), verifies the tar with both
verifiers, runs the bundled terraform, and builds again to show what is
reused.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from appliance import bundle_manifest as bm
from mirror_tools import manifest as mm
from tests.kit import imagekit, tf_registry

from .bundlekit import REPO, builder, extract, install_sh, verify

EXAMPLE = REPO / "docs" / "examples" / "bundle-manifest.yaml"


def test_the_example_manifest_is_a_valid_bundle_manifest():
    m = mm.load(EXAMPLE, bundle=True)
    assert m.bundle == mm.BundleSpec("embedded", ("git", "tmux"), ("local", "podman"))
    assert m.terraform.version and "linux_amd64" in m.terraform.platforms
    assert [i.ref for i in m.images] == ["docker.io/library/debian:12-slim"]


@pytest.mark.parametrize("text, error", [
    ("terraform: {version: 1.11.4, platforms: [linux_amd64], signing_keys: k.asc}\n"
     "bundle:\n  postgres: mysql\n",
     ":3: bundle.postgres: 'mysql' is not one of: embedded, debian"),
    ("terraform: {version: 1.11.4, platforms: [linux_amd64], signing_keys: k.asc}\n"
     "bundle:\n  packages: [ok, Not_A_Package]\n",
     ":3: bundle.packages: 'Not_A_Package' is not a Debian package name"),
    ("terraform: {version: 1.11.4, platforms: [linux_amd64], signing_keys: k.asc}\n"
     "bundle:\n  template: [local]\n", ":3: bundle: unknown field 'template' "
     "(expected one of: packages, postgres, templates)"),
    ("terraform: {version: 1.11.4, platforms: [darwin_arm64], signing_keys: k.asc}\nbundle: {}\n",
     ":1: terraform.platforms: a bundle needs terraform for linux_amd64"),
    ("images: [docker.io/library/debian:12]\nbundle: {}\n",
     ":1: manifest: missing required field 'terraform'"),
])
def test_bundle_manifest_errors_name_the_line(tmp_path, text, error):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(mm.ManifestError) as exc:
        mm.load(path, bundle=True)
    assert str(exc.value) == f"{path}{error}"


def test_mirror_sync_refuses_a_bundle_manifest():
    with pytest.raises(mm.ManifestError, match=r"bundle-manifest.yaml:\d+: manifest: the bundle "
                       "section is for `appliance bundle build`, not mirror-sync"):
        mm.load(EXAMPLE)


def test_a_frozen_appliance_says_build_needs_a_checkout(monkeypatch, capsys):
    from appliance.admin.main import main as appliance
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert appliance(["bundle", "build", "--manifest", str(EXAMPLE), "--out", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "bundle build needs a source checkout" in err and "requirements-build.txt" in err


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """(Terraform registry with releases, docker-registry with library/debian:12-slim)."""
    root = tmp_path_factory.mktemp("upstream")
    with tf_registry.serving(root) as registry, \
            imagekit.docker_registry(root / "registry") as images:
        registry.add_provider("hashicorp", "null", "3.0.0", ["linux_amd64"],
                              tf_registry.null_binary())
        registry.add_local_terraform(["linux_amd64"])
        layout = root / "layout"
        imagekit.tag_layout(layout, "debian", imagekit.write_image(
            layout, layers=[{"etc/debian_version": b"12.8\n"}], label="debian"))
        imagekit.skopeo_push(layout, "debian", f"{images.host}/library/debian:12-slim")
        yield registry, images


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    key = tf_registry.SigningKey(tmp_path_factory.mktemp("signer") / "home", "Bundle Signer")
    yield key
    key.close()


def example_pointed_at(upstream, folder: Path) -> Path:
    """The example manifest, loaded, with its registries redirected to the test's."""
    registry, images = upstream
    data = yaml.safe_load(EXAMPLE.read_text())
    data["registries"] = {
        "registry.terraform.io": {"url": registry.url, "insecure": True,
                                  "signers": {"hashicorp": [registry.key.fingerprint]}},
        "docker.io": {"url": images.url, "insecure": True}}
    data["terraform"]["releases_url"] = registry.url
    (folder / data["terraform"]["signing_keys"]).write_text(registry.key.public_key)
    path = folder / "bundle-manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_build_from_the_example_verify_and_rebuild(upstream, signer, tmp_path):
    manifest = example_pointed_at(upstream, tmp_path)
    registry = upstream[0]
    out, cache = tmp_path / "out", tmp_path / "cache"
    log = io.StringIO()

    def build(tty=False, since=None):
        started = time.monotonic()
        result = builder.build(manifest, out, sign_key=signer.fingerprint,
                               gnupghome=signer.home, parts=["mirror", "templates"],
                               phases=builder.Phases(log, tty=tty), cache=cache, since=since)
        return result, time.monotonic() - started

    first, first_took = build()
    assert first.path == out / "coder-appliance-0.1.0-linux-amd64.tar"
    assert first.fingerprint == signer.fingerprint
    for phase in ("mirror", "templates", "hash", "sign", "pack"):
        assert f"bundle: {phase} done in" in log.getvalue()
    assert not list(out.glob(".*.tmp"))

    assert verify(first.path, signer.fingerprint).code == 0
    folder = extract(first.path, tmp_path / "x")
    outcome = install_sh(folder, signer.fingerprint)
    assert outcome.code == 0, outcome

    files = {e["path"] for e in first.manifest["files"]}
    null = ("providers/registry.terraform.io/hashicorp/null/"
            "terraform-provider-null_3.0.0_linux_amd64.zip")
    assert null in files
    assert any(p.startswith("providers/registry.terraform.io/coder/coder/terraform-provider-coder_")
               for p in files)
    assert {"templates/local/main.tf", "templates/podman/main.tf", "images/index.json",
            "images/oci-layout", "terraform/terraform", "install.sh", bm.SIGNER_KEY} <= files
    versions = first.manifest["versions"]
    assert versions["terraform"] == "1.11.4"
    assert versions["templates"] == ["local", "podman"]
    assert "registry.terraform.io/hashicorp/null 3.0.0" in versions["providers"]
    assert any(i.startswith("docker.io/library/debian:12-slim@sha256:") for i in versions["images"])
    done = subprocess.run([str(folder / "terraform/terraform"), "version"], capture_output=True,
                          text=True, env={**os.environ, "CHECKPOINT_DISABLE": "1"}, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("Terraform v"), done.stderr
    assert os.access(folder / "terraform/terraform", os.X_OK)
    assert set(first.sizes) >= {"providers", "terraform", "images", "templates", "keys"}

    # Nothing changed: nothing downloaded again, nothing hashed again but the exported key.
    registry.requests.clear()
    log.seek(0)
    log.truncate()
    second, second_took = build(tty=True)     # on a terminal: one line, rewritten
    assert "\rbundle: mirror: terraform-provider-coder" in log.getvalue()
    assert "\r\033[Kbundle: pack done in" in log.getvalue()
    assert not [r for r in registry.requests if r.endswith(".zip")], registry.requests
    assert second.hashed <= 1 and first.hashed >= len(files) - 1, (first.hashed, second.hashed)
    assert [e for e in second.manifest["files"]] == first.manifest["files"]
    print(f"first build {first_took:.1f} s ({first.tar_size / 1e6:.1f} MB), "
          f"second {second_took:.1f} s")
    assert verify(second.path, signer.fingerprint).code == 0

    # A delta from the first build carries what always travels, and nothing else.
    delta, _ = build(since=first.path)
    assert delta.path.name == "coder-appliance-0.1.0-delta-from-0.1.0-linux-amd64.tar"
    with tarfile.open(delta.path) as t:
        carried = {m.name.split("/", 1)[1] for m in t.getmembers() if m.isfile()}
    assert carried == {bm.MANIFEST, bm.SIGNATURE, "install.sh", bm.SIGNER_KEY}
    assert delta.manifest["files"] == first.manifest["files"]
    installed = extract(first.path, tmp_path / "installed")
    assert verify(delta.path, signer.fingerprint, "--installed", str(installed)).code == 0


def test_the_command_prints_the_sizes_and_the_fingerprint(upstream, signer, tmp_path, capsys):
    from appliance.admin.main import main as appliance
    manifest = example_pointed_at(upstream, tmp_path)
    code = appliance(["bundle", "build", "--manifest", str(manifest), "--out", str(tmp_path / "o"),
                      "--gnupghome", str(signer.home), "--sign-key", signer.fingerprint,
                      "--parts", "templates"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].split() == ["FOLDER", "FILES", "MB"]
    assert "templates" in out and f"signed by: {signer.fingerprint}" in out
    assert f"install.sh --fingerprint {signer.fingerprint}" in out
    assert (tmp_path / "o" / "coder-appliance-0.1.0-linux-amd64.tar").is_file()
