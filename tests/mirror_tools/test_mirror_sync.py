"""``appliance mirror-sync`` / ``mirror verify`` / ``mirror add-zip`` against the registry fixture.

Every fault test takes a valid mirror, breaks one thing upstream, and checks
three things: a non-zero exit, an error naming the artefact, and the mirror
tree byte-identical to what it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from tests.kit import tf_registry
from tests.mirror_tools.mirrorkit import (NULL, REPO, TINY, cli, sync_process,
                                          visible_tree as tree_hash, write_manifest)

BASE = ("  - {source: hashicorp/null, versions: '~> 2.1', platforms: [linux_amd64, darwin_arm64]}\n"
        "  - {source: example/tiny, versions: '>= 1.0', platforms: [linux_amd64]}\n")


@pytest.fixture
def synced(tmp_path, tf_registry_server, capsys):
    """A valid mirror of BASE in tmp_path/out; returns (manifest, out)."""
    manifest = write_manifest(tmp_path / "m.yaml", tf_registry_server, BASE)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                       "-o", "json")
    assert code == 0, err
    return manifest, out


def test_first_sync_writes_packed_and_network_mirror(synced, capsys):
    _, out = synced
    base = out / "providers" / NULL
    assert sorted(p.name for p in base.iterdir()) == [
        "2.1.2.json", "index.json", "terraform-provider-null_2.1.2_darwin_arm64.zip",
        "terraform-provider-null_2.1.2_linux_amd64.zip"]
    assert json.loads((base / "index.json").read_text()) == {"versions": {"2.1.2": {}}}
    archives = json.loads((base / "2.1.2.json").read_text())["archives"]
    zip_sha = hashlib.sha256((base / archives["linux_amd64"]["url"]).read_bytes()).hexdigest()
    assert archives["linux_amd64"]["hashes"][1] == f"zh:{zip_sha}"
    assert archives["linux_amd64"]["hashes"][0].startswith("h1:")
    # Only the newest 1.x of tiny (1.1.0), only the platform asked for.
    assert [p.name for p in (out / "providers" / TINY).glob("*.zip")] == \
        ["terraform-provider-tiny_1.1.0_linux_amd64.zip"]
    lock = (out / ".terraform.lock.hcl").read_text()
    assert f'provider "{NULL}"' in lock and f'provider "{TINY}"' in lock
    assert f'"zh:{zip_sha}"' in lock
    # Zip entries keep their executable bit (terraform needs it).
    with zipfile.ZipFile(base / archives["linux_amd64"]["url"]) as z:
        assert z.infolist()[0].external_attr >> 16 & 0o111
    code, outp, _ = cli(capsys, "mirror", "verify", str(out), "--deep", "-o", "json")
    assert code == 0 and json.loads(outp) == {"files": 3, "bytes": json.loads(outp)["bytes"],
                                              "problems": 0}
    assert not (out / ".partial").exists()


def test_second_sync_downloads_nothing(synced, tf_registry_server, capsys):
    manifest, out = synced
    before = tree_hash(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    tf_registry_server.requests.clear()
    started = time.monotonic()
    code, outp, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                          "-o", "json")
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert json.loads(outp)["downloaded"] == 0
    assert not [r for r in tf_registry_server.requests if "/download/" in r or "/files/" in r]
    assert tree_hash(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    assert elapsed < 1.0


def test_select_all_and_new_versions_prune_old_ones(tmp_path, tf_registry_server, capsys):
    out = tmp_path / "out"
    manifest = write_manifest(tmp_path / "m.yaml", tf_registry_server,
                              "  - {source: example/tiny, versions: '>= 1.0', select: all, "
                              "platforms: [linux_amd64]}\n")
    assert cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))[0] == 0
    assert json.loads((out / "providers" / TINY / "index.json").read_text()) == \
        {"versions": {"1.0.0": {}, "1.1.0": {}}}
    write_manifest(manifest, tf_registry_server,
                   "  - {source: example/tiny, versions: '= 1.0.0', platforms: [linux_amd64]}\n")
    assert cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))[0] == 0
    assert sorted(p.name for p in (out / "providers" / TINY).iterdir()) == [
        "1.0.0.json", "index.json", "terraform-provider-tiny_1.0.0_linux_amd64.zip"]
    assert 'version = "1.0.0"' in (out / ".terraform.lock.hcl").read_text()


def tiny_mirror_then_add_null(tmp_path, out, registry, capsys, platforms):
    """Sync a mirror of tiny 1.0.0, then add null 2.1.2 to the manifest; return
    the manifest and the tree before the next sync."""
    tiny_only = "  - {source: example/tiny, versions: '1.0.0', platforms: [linux_amd64]}\n"
    manifest = write_manifest(tmp_path / "m.yaml", registry, tiny_only)
    assert cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))[0] == 0
    write_manifest(manifest, registry, tiny_only + "  - {source: hashicorp/null, "
                   f"versions: '2.1.2', platforms: {platforms}}}\n")
    return manifest, tree_hash(out)


@pytest.mark.parametrize("fault, where, error", [
    ("bad_signature", "null_2.1.2_SHA256SUMS.sig",
     r"provider registry.terraform.io/hashicorp/null 2.1.2 SHA256SUMS: bad GnuPG signature "
     r"\(signature bad\) in http://127.0.0.1:\d+/files/hashicorp/null/2.1.2/"
     r"terraform-provider-null_2.1.2_SHA256SUMS.sig"),
    ("unknown_key", "null_2.1.2_SHA256SUMS.sig",
     r"provider registry.terraform.io/hashicorp/null 2.1.2 SHA256SUMS: signed by unknown key "
     r"\w+ in http://127.0.0.1:\d+/files/\S+_SHA256SUMS.sig, not by"),
    ("claim_mismatch", "/null/2.1.2/download/linux",
     r"hashicorp/null 2.1.2 linux_amd64: checksum mismatch: the registry says sha256 0000+ but "
     r"the signed SHA256SUMS \(http://127.0.0.1:\d+/files/\S+_SHA256SUMS\) says"),
    ("corrupt", "null_2.1.2_linux_amd64.zip",
     r"hashicorp/null 2.1.2 linux_amd64 \(terraform-provider-null_2.1.2_linux_amd64.zip\): "
     r"checksum mismatch: expected sha256 \w+, got \w+ from http://127.0.0.1:\d+/files/\S+.zip"),
    ("truncate", "null_2.1.2_linux_amd64.zip",
     r"hashicorp/null 2.1.2 linux_amd64 \(terraform-provider-null_2.1.2_linux_amd64.zip\): "
     r"download from http://127.0.0.1:\d+/files/.*_linux_amd64.zip failed after 2 attempt\(s\): "
     r"the body stopped after \d+ of \d+ bytes"),
    ("status500", "/null/versions",
     r"provider registry.terraform.io/hashicorp/null: .*/null/versions answered 500"),
    ("garbage", "/null/2.1.2/download/darwin",
     r"provider registry.terraform.io/hashicorp/null 2.1.2 darwin_arm64: .* did not answer JSON"),
])
def test_faults_leave_the_mirror_unchanged(tmp_path, tf_registry_server, capsys, fault, where,
                                           error):
    """The existing mirror holds tiny only; adding null hits the fault."""
    out = tmp_path / "out"
    manifest, before = tiny_mirror_then_add_null(tmp_path, out, tf_registry_server, capsys,
                                                 "[linux_amd64, darwin_arm64]")
    tf_registry_server.faults[fault] = where
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                       "--retries", "1")
    assert code == 1
    assert re.search(error, err), err
    assert f"the mirror in {out} was left as it was" in err
    assert tree_hash(out) == before
    code, _, _ = cli(capsys, "mirror", "verify", str(out))
    assert code == 0
    # Once the registry is fixed, the next run completes the mirror.
    tf_registry_server.faults.clear()
    assert cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))[0] == 0
    assert (out / "providers" / NULL / "terraform-provider-null_2.1.2_linux_amd64.zip").is_file()


def test_retries_cover_a_body_cut_off_midway(tmp_path, tf_registry_server, capsys):
    """urllib3 retries until the headers arrive; a body that stops halfway is
    fetched again, as many times as --retries says."""
    manifest = write_manifest(tmp_path / "m.yaml", tf_registry_server,
                              "  - {source: hashicorp/null, versions: '2.1.2', "
                              "platforms: [linux_amd64]}\n")
    out = tmp_path / "out"
    tf_registry_server.faults["cut"] = "null_2.1.2_linux_amd64.zip"
    tf_registry_server.cuts = 1
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                       "--retries", "0")
    assert code == 1
    assert re.search(r"\(terraform-provider-null_2.1.2_linux_amd64.zip\): download from "
                     r"http://127.0.0.1:\d+/files/hashicorp/null/2.1.2/terraform-provider-null_"
                     r"2.1.2_linux_amd64.zip failed after 1 attempt\(s\): the body stopped after "
                     r"\d+ of \d+ bytes", err), err
    tf_registry_server.cuts = 3
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                       "--retries", "3")
    assert code == 0, err
    assert tf_registry_server.cuts == 0
    assert cli(capsys, "mirror", "verify", str(out), "--deep")[0] == 0


@pytest.mark.parametrize("fault, where, library_line", [
    ("bad_signature", "null_2.1.2_SHA256SUMS.sig", "DEBUG gnupg: gpg returned a non-zero"),
    ("hangup", "/null/versions", "DEBUG urllib3.connectionpool: Retrying"),
])
def test_library_warnings_only_with_verbose(tmp_path, tf_registry_server, fault, where,
                                            library_line):
    """A failed run prints its own one-line errors; what python-gnupg and urllib3
    log about the same failure is debug output, shown with -v."""
    manifest = write_manifest(tmp_path / "m.yaml", tf_registry_server,
                              "  - {source: hashicorp/null, versions: '2.1.2', "
                              "platforms: [linux_amd64]}\n")
    tf_registry_server.faults[fault] = where
    done = sync_process(manifest, tmp_path / "out", "--retries", "1")
    assert done.returncode == 1
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["error", "hint"], \
        done.stderr
    verbose = subprocess.run([sys.executable, "-m", "appliance.admin.main", "-v", "mirror-sync",
                              "--manifest", str(manifest), "--out", str(tmp_path / "out"),
                              "--retries", "1"], cwd=REPO, capture_output=True, text=True)
    assert verbose.returncode == 1 and library_line in verbose.stderr, verbose.stderr


@pytest.mark.parametrize("providers, error", [
    ("  - {source: hashicorp/nope, versions: '1.0', platforms: [linux_amd64]}\n",
     r"provider registry.terraform.io/hashicorp/nope: not found"),
    ("  - {source: hashicorp/null, versions: '~> 9.0', platforms: [linux_amd64]}\n",
     r"provider registry.terraform.io/hashicorp/null: no version matches '~> 9.0' "
     r"\(the registry has: 3.0.0, 2.1.2\)"),
    ("  - {source: hashicorp/null, versions: '2.1.2', platforms: [windows_386]}\n",
     r"provider registry.terraform.io/hashicorp/null 2.1.2: no build for windows_386"),
])
def test_missing_provider_version_or_platform(synced, tf_registry_server, capsys, providers, error):
    manifest, out = synced
    before = tree_hash(out)
    write_manifest(manifest, tf_registry_server, BASE.splitlines(True)[1] + providers)
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))
    assert code == 1 and re.search(error, err), err
    assert tree_hash(out) == before


def test_bad_manifest_is_refused_before_any_request(tmp_path, tf_registry_server, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("providers:\n  - {source: hashicorp/null, versions: '>> 2', "
                        "platforms: [linux_amd64]}\n")
    tf_registry_server.requests.clear()
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out",
                       str(tmp_path / "out"))
    assert code == 1 and "m.yaml:2: providers[0].versions: '>> 2'" in err
    assert tf_registry_server.requests == []


def test_verify_finds_a_changed_file(synced, capsys):
    _, out = synced
    zip_path = out / "providers" / TINY / "terraform-provider-tiny_1.1.0_linux_amd64.zip"
    data = bytearray(zip_path.read_bytes())
    data[10] ^= 1
    zip_path.write_bytes(bytes(data))
    code, _, err = cli(capsys, "mirror", "verify", str(out))
    assert code == 1
    assert f"providers/{TINY}/terraform-provider-tiny_1.1.0_linux_amd64.zip: sha256 is" in err
    # ... and a network-mirror document pointing at a zip that is not there.
    (out / "providers" / NULL / "terraform-provider-null_2.1.2_darwin_arm64.zip").unlink()
    code, _, err = cli(capsys, "mirror", "verify", str(out))
    assert (f"providers/{NULL}/terraform-provider-null_2.1.2_darwin_arm64.zip: missing "
            "(recorded in mirror-state.json)") in err
    assert "2.1.2.json: darwin_arm64 points to" in err


def test_verify_refuses_a_folder_that_is_not_a_mirror(tmp_path, capsys):
    code, _, err = cli(capsys, "mirror", "verify", str(tmp_path))
    assert code == 1 and "not a mirror folder (no mirror-state.json)" in err


def test_add_zip_merges_a_local_provider_and_sync_keeps_it(synced, tmp_path, capsys):
    manifest, out = synced
    local = tf_registry.make_zip(tmp_path / "terraform-provider-coder_0.1.0_linux_amd64.zip",
                                 {"terraform-provider-coder_v0.1.0": b"#!/bin/sh\nexit 1\n"})
    code, outp, err = cli(capsys, "mirror", "add-zip", str(out), str(local), "--source", "coder/coder")
    assert code == 0, err
    coder = out / "providers" / "registry.terraform.io/coder/coder"
    assert (coder / local.name).read_bytes() == local.read_bytes()
    assert "0.1.0" in json.loads((coder / "index.json").read_text())["versions"]
    assert 'provider "registry.terraform.io/coder/coder"' in (out / ".terraform.lock.hcl").read_text()
    assert cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))[0] == 0
    assert (coder / local.name).is_file()
    assert cli(capsys, "mirror", "verify", str(out), "--deep")[0] == 0


def test_add_zip_refuses_bad_zips(synced, tmp_path, capsys):
    _, out = synced
    before = tree_hash(out)
    wrong_name = tf_registry.make_zip(tmp_path / "coder.zip", {"x": b"x"})
    code, _, err = cli(capsys, "mirror", "add-zip", str(out), str(wrong_name), "--source", "coder/coder")
    assert code == 1 and "name it terraform-provider-coder_VERSION_OS_ARCH.zip" in err
    not_exec = tmp_path / "terraform-provider-coder_0.1.0_linux_amd64.zip"
    with zipfile.ZipFile(not_exec, "w") as z:
        z.writestr("terraform-provider-coder_v0.1.0", b"data")
    code, _, err = cli(capsys, "mirror", "add-zip", str(out), str(not_exec), "--source", "coder/coder")
    assert code == 1 and "no entry is executable" in err
    assert tree_hash(out) == before


def test_terraform_release_is_carried_and_verified(tmp_path, tf_releases, capsys):
    key = tmp_path / "release-key.asc"
    key.write_text(tf_releases.key.public_key)
    terraform = (f"terraform:\n  version: 1.11.4\n  platforms: [linux_amd64]\n"
                 f"  releases_url: {tf_releases.url}\n  signing_keys: release-key.asc\n")
    manifest = write_manifest(tmp_path / "m.yaml", tf_releases,
                              "  - {source: example/tiny, versions: '1.0.0', "
                              "platforms: [linux_amd64]}\n", terraform)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))
    assert code == 0, err
    folder = out / "terraform" / "1.11.4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "terraform_1.11.4_SHA256SUMS", "terraform_1.11.4_SHA256SUMS.sig",
        "terraform_1.11.4_linux_amd64.zip"]
    # The carried files check out with the real tools, as on HashiCorp's site.
    subprocess.run(["sha256sum", "-c", "terraform_1.11.4_SHA256SUMS"], cwd=folder, check=True,
                   capture_output=True)
    with zipfile.ZipFile(folder / "terraform_1.11.4_linux_amd64.zip") as z:
        z.extract("terraform", tmp_path / "bin")
    os.chmod(tmp_path / "bin" / "terraform", 0o755)
    version = subprocess.run([str(tmp_path / "bin" / "terraform"), "version"], check=True,
                             capture_output=True, text=True, env={"CHECKPOINT_DISABLE": "1",
                                                                  "PATH": "/usr/bin:/bin"})
    assert version.stdout.startswith("Terraform v")
    assert cli(capsys, "mirror", "verify", str(out))[0] == 0
    # A release signed by another key is refused, and the mirror stays as it was.
    before = tree_hash(out)
    write_manifest(manifest, tf_releases, "  - {source: example/tiny, versions: '1.0.0', "
                   "platforms: [linux_amd64]}\n", terraform.replace("1.11.4", "1.11.5"))
    tf_releases.terraform["1.11.5"] = tf_releases.terraform["1.11.4"]
    tf_releases.faults["unknown_key"] = "/terraform/1.11.5/"
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))
    assert code == 1 and "terraform 1.11.5 SHA256SUMS: signed by unknown key" in err
    assert f"in {tf_releases.url}/terraform/1.11.5/terraform_1.11.5_SHA256SUMS.sig" in err
    assert tree_hash(out) == before
    del tf_releases.terraform["1.11.5"]


def test_full_disk_names_the_artefact_and_keeps_the_mirror(tmp_path, tf_registry_server, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    # A 3 MiB filesystem holds the tiny provider's mirror but not the null provider.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (needs root): {mounted.stderr}"
    try:
        out = disk / "out"
        manifest, before = tiny_mirror_then_add_null(tmp_path, out, tf_registry_server, capsys,
                                                     "[linux_amd64]")
        code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))
        assert code == 1
        assert ("provider registry.terraform.io/hashicorp/null 2.1.2 linux_amd64 "
                "(terraform-provider-null_2.1.2_linux_amd64.zip): no space left") in err, err
        assert tree_hash(out) == before
        assert cli(capsys, "mirror", "verify", str(out))[0] == 0
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_killed_sync_leaves_a_valid_mirror_and_the_next_run_completes(synced, tf_registry_server,
                                                                      capsys):
    """kill -9 at several moments of a sync that adds null 3.0.0 for two platforms."""
    manifest, out = synced
    write_manifest(manifest, tf_registry_server,
                   BASE.replace("'~> 2.1'", "'>= 2.1'").replace("'>= 1.0'", "'1.0.0'"))
    cmd = [sys.executable, "-m", "appliance.admin.main", "mirror-sync", "--manifest",
           str(manifest), "--out", str(out), "--jobs", "1"]
    tf_registry_server.faults["slow"] = ".zip"   # each null zip takes seconds to arrive
    for delay in (0.3, 1.0, 2.5, 4.0):
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert cli(capsys, "mirror", "verify", str(out))[0] == 0, f"killed after {delay}s"
    assert (out / ".partial").is_dir(), "no kill landed in the middle of a download"
    tf_registry_server.faults.clear()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "providers" / NULL / "index.json").read_text()) == \
        {"versions": {"3.0.0": {}}}
    assert 'version = "1.0.0"' in (out / ".terraform.lock.hcl").read_text()
    assert cli(capsys, "mirror", "verify", str(out), "--deep")[0] == 0
    assert not (out / ".partial").exists()


def test_manifest_images_go_to_the_oci_layout(tmp_path, tf_registry_server, upstream_images,
                                              capsys):
    """mirror-sync hands the manifest's images to mirror_tools.images: one run
    fills both the provider mirror and OUT/images, digests intact."""
    up = upstream_images.registry
    manifest = write_manifest(
        tmp_path / "m.yaml", tf_registry_server,
        "  - {source: example/tiny, versions: '1.0.0', platforms: [linux_amd64]}\n",
        f"images:\n  - ref: {upstream_images.refs['multi']}\n"
        f"  - ref: {upstream_images.refs['small']}\n    platforms: [linux/amd64]\n")
    manifest.write_text(manifest.read_text().replace(
        "providers:", f"  {up.host}:\n    url: {up.url}\n    insecure: true\nproviders:", 1))
    out = tmp_path / "out"
    code, outp, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out),
                          "-o", "json")
    assert code == 0, err
    assert json.loads(outp)["images"] == 2
    index = (out / "images" / "index.json").read_text()
    assert upstream_images.digests["multi"] in index and upstream_images.digests["small"] in index
    assert (out / "providers" / TINY / "1.0.0.json").is_file()
    assert cli(capsys, "mirror", "verify", str(out))[0] == 0
    # A missing image fails the run before the providers are committed.
    before = tree_hash(out)
    manifest.write_text(manifest.read_text().replace("'1.0.0'", "'1.1.0'") +
                        f"  - ref: {up.host}/test/missing:9\n")
    code, _, err = cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))
    assert code == 1 and "test/missing" in err, err
    assert tree_hash(out) == before
