"""A mirror changes in one step: ``appliance mirror-sync`` SIGKILLed at each step of its commit.

Each test kills a real ``mirror-sync`` process at a named step (the test-only
``APPLIANCE_MIRROR_TEST_KILL_AT``, mirror_tools/mirror_state.py), then checks
that what a reader sees is exactly the old mirror or exactly the new one
(every file, nothing extra), that ``mirror verify --deep`` agrees, and that
the next run leaves exactly the new one, which real terraform installs from
without ever finding the version the manifest dropped. The race tests hold a
run just before it takes the mirror's lock (the test-only
``APPLIANCE_MIRROR_TEST_PAUSE_AT``) while another run commits, then check
that the first one works from the mirror the other left.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from appliance.admin.main import main as appliance
from mirror_tools.mirror_state import (COMMIT_STEPS, CURRENT, GENERATIONS, KILL_AT_ENV,
                                       PAUSE_AT_ENV)
from tests.kit import tf_registry
from tests.mirror_tools.mirrorkit import (REPO, TINY, filesystem_mirror_config, sync_process,
                                          terraform_init, visible_tree, write_manifest)

# Old: tiny 1.0.0 and null 2.1.2. New: tiny 1.1.0 instead of 1.0.0 (a version
# dropped, one added); null's zip is unchanged (kept, hard-linked).
OLD = ("  - {source: example/tiny, versions: '1.0.0', platforms: [linux_amd64]}\n"
       "  - {source: hashicorp/null, versions: '2.1.2', platforms: [linux_amd64]}\n")
NEW = OLD.replace("'1.0.0'", "'1.1.0'")
STILL_OLD = ("legacy-linked", "legacy-pointed", "legacy-exchanged", "generations-pruned",
             "first-file-linked", "generation-built", "links-added")
NOW_NEW = ("switched", "links-pruned")


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory, _tf_registry_session):
    """The old mirror (to copy before each kill), the new one synced afresh, their trees."""
    root = tmp_path_factory.mktemp("kill")
    old_manifest = write_manifest(root / "old.yaml", _tf_registry_session, OLD)
    new_manifest = write_manifest(root / "new.yaml", _tf_registry_session, NEW)
    for manifest, out in ((old_manifest, root / "old"), (new_manifest, root / "new")):
        assert appliance(["mirror-sync", "--manifest", str(manifest), "--out", str(out)]) == 0
    return {"old": root / "old", "new": root / "new",
            "old_manifest": old_manifest, "new_manifest": new_manifest,
            "old_tree": visible_tree(root / "old"), "new_tree": visible_tree(root / "new")}


def verify(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.admin.main", "mirror", "verify",
                           "--deep", str(out)], cwd=REPO, capture_output=True, text=True)


def init_tiny(workdir: Path, out: Path, version: str) -> subprocess.CompletedProcess:
    """Real terraform asks the filesystem mirror OUT/providers for example/tiny = VERSION."""
    return terraform_init(workdir, filesystem_mirror_config(out / "providers"),
                          'terraform {\n  required_providers {\n    tiny = { source = '
                          f'"example/tiny", version = "= {version}" }}\n  }}\n}}\n')


def flatten(src: Path, dest: Path) -> None:
    """The same mirror as a version before generations wrote it: real folders at the top."""
    shutil.copytree(src, dest, ignore=lambda folder, names: [
        n for n in names if Path(folder) == src and n in (CURRENT, GENERATIONS, ".lock")])


@contextlib.contextmanager
def held_before_the_lock(tmp_path: Path, *argv: str):
    """``appliance ARGV`` in its own process, stopped just before it takes the
    mirror's lock while the body runs; yields a function that lets it go on and
    returns its CompletedProcess."""
    resume = tmp_path / "resume"
    proc = subprocess.Popen([sys.executable, "-m", "appliance.admin.main", *argv], cwd=REPO,
                            env={**os.environ, PAUSE_AT_ENV: f"before-lock:{resume}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def go_on() -> subprocess.CompletedProcess:
        resume.touch()
        stdout, stderr = proc.communicate(timeout=300)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    try:
        deadline = time.monotonic() + 60
        while not Path(f"{resume}.paused").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "never reached the lock"
            time.sleep(0.01)
        yield go_on
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_sync_waiting_for_the_lock_works_from_the_mirror_committed_meanwhile(mirrors,
                                                                              tmp_path):
    """A sync of the old manifest starts on the old mirror; the new one is committed
    before it takes the lock. It must see that commit: it ends with exactly the old
    manifest's mirror, not the generation it first saw nor an empty folder."""
    out = tmp_path / "out"
    shutil.copytree(mirrors["old"], out, symlinks=True)
    with held_before_the_lock(tmp_path, "mirror-sync", "--manifest",
                              str(mirrors["old_manifest"]), "--out", str(out)) as go_on:
        meanwhile = sync_process(mirrors["new_manifest"], out)
        assert meanwhile.returncode == 0, meanwhile.stderr
        assert visible_tree(out) == mirrors["new_tree"]
        done = go_on()
    assert done.returncode == 0, done.stderr
    assert visible_tree(out) == mirrors["old_tree"]
    checked = verify(out)
    assert checked.returncode == 0, checked.stderr


def test_an_add_zip_waiting_for_the_lock_keeps_the_sync_committed_meanwhile(mirrors, tmp_path):
    """``mirror add-zip`` held before the lock while a sync commits the new manifest:
    the zip joins the new mirror (the sync's work is not undone)."""
    local = tf_registry.make_zip(tmp_path / "terraform-provider-coder_0.1.0_linux_amd64.zip",
                                 {"terraform-provider-coder_v0.1.0": b"#!/bin/sh\nexit 1\n"})
    add_zip = ("mirror", "add-zip", "--source", "coder/coder")
    expected = tmp_path / "expected"
    shutil.copytree(mirrors["new"], expected, symlinks=True)
    assert appliance([*add_zip, str(expected), str(local)]) == 0
    out = tmp_path / "out"
    shutil.copytree(mirrors["old"], out, symlinks=True)
    with held_before_the_lock(tmp_path, *add_zip, str(out), str(local)) as go_on:
        meanwhile = sync_process(mirrors["new_manifest"], out)
        assert meanwhile.returncode == 0, meanwhile.stderr
        done = go_on()
    assert done.returncode == 0, done.stderr
    assert visible_tree(out) == visible_tree(expected)
    checked = verify(out)
    assert checked.returncode == 0, checked.stderr


def test_the_steps_are_all_tested():
    assert set(STILL_OLD + NOW_NEW) == set(COMMIT_STEPS)


@pytest.mark.parametrize("step", STILL_OLD + NOW_NEW)
def test_killed_at_each_commit_step(mirrors, tmp_path, step):
    out = tmp_path / "out"
    if step.startswith("legacy-"):
        flatten(mirrors["old"], out)
        assert not (out / "providers").is_symlink()
    else:
        shutil.copytree(mirrors["old"], out, symlinks=True)
    assert visible_tree(out) == mirrors["old_tree"]

    killed = sync_process(mirrors["new_manifest"], out, env={KILL_AT_ENV: step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    expected = "old_tree" if step in STILL_OLD else "new_tree"
    assert visible_tree(out) == mirrors[expected], f"killed at {step}"
    checked = verify(out)
    assert checked.returncode == 0, checked.stderr

    done = sync_process(mirrors["new_manifest"], out)
    assert done.returncode == 0, done.stderr
    assert visible_tree(out) == mirrors["new_tree"]
    assert verify(out).returncode == 0
    current = os.readlink(out / CURRENT)
    # The generation before is kept for readers still in it; nothing else is left.
    kept = sorted(p.name for p in (out / GENERATIONS).iterdir())
    assert current.split("/")[-1] in kept and len(kept) <= 2, kept
    assert not (out / ".partial").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".current", ".generations", ".lock", ".terraform.lock.hcl", "mirror-state.json",
         "providers"])
    # Terraform finds the new version and never the one the manifest dropped.
    dropped = init_tiny(tmp_path / "tf-old", out, "1.0.0")
    assert dropped.returncode != 0
    assert re.search(r"no available releases match|does not have a package available|"
                     r"Failed to query available provider packages", dropped.stdout + dropped.stderr)


def test_terraform_installs_the_new_version_after_a_kill_then_rerun(mirrors, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(mirrors["old"], out, symlinks=True)
    killed = sync_process(mirrors["new_manifest"], out, env={KILL_AT_ENV: "generation-built"})
    assert killed.returncode == -signal.SIGKILL
    # Killed before the switch: terraform still installs the old version.
    assert init_tiny(tmp_path / "before", out, "1.0.0").returncode == 0
    assert sync_process(mirrors["new_manifest"], out).returncode == 0
    done = init_tiny(tmp_path / "after", out, "1.1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    lock = (tmp_path / "after" / ".terraform.lock.hcl").read_text()
    assert 'version     = "1.1.0"' in lock or 'version = "1.1.0"' in lock
    assert init_tiny(tmp_path / "dropped", out, "1.0.0").returncode != 0


def test_verify_reports_files_the_state_does_not_know_and_sync_drops_them(mirrors, tmp_path):
    """A zip copied in by hand would be offered by terraform: verify names it, the next sync
    (even one with nothing to download) leaves it out of the mirror."""
    out = tmp_path / "out"
    shutil.copytree(mirrors["old"], out, symlinks=True)
    folder = out / "providers" / TINY
    stray = folder / "terraform-provider-tiny_9.9.9_linux_amd64.zip"
    shutil.copy(folder / "terraform-provider-tiny_1.0.0_linux_amd64.zip", stray)
    (out / "notes.txt").write_text("not part of the mirror\n")
    (folder / "1.0.0.json").unlink()
    found = verify(out)
    assert found.returncode == 1
    assert f"providers/{TINY}/{stray.name}: not recorded in mirror-state.json" in found.stderr
    assert "notes.txt: not recorded in mirror-state.json" in found.stderr
    assert (f"providers/{TINY}/1.0.0.json: missing (recorded in mirror-state.json)"
            in found.stderr)
    assert init_tiny(tmp_path / "tf", out, "9.9.9").returncode == 0, "terraform offers a zip copied in by hand"
    done = sync_process(mirrors["old_manifest"], out, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["downloaded"] == 0
    tree = visible_tree(out)
    assert tree == {**mirrors["old_tree"], "notes.txt": tree["notes.txt"]}
    assert verify(out).stderr.count("error:") == 2   # notes.txt, and the summary line


def test_serve_reads_through_the_pointer(mirrors, tmp_path, https_cert, test_ca):
    """A running ``mirror serve`` shows the new mirror as soon as a sync switches to it."""
    out = tmp_path / "out"
    shutil.copytree(mirrors["old"], out, symlinks=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.admin.main", "mirror", "serve", str(out),
         "--cert", str(https_cert.chain_path), "--key", str(https_cert.key_path),
         "--address", "127.0.0.1:0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"at (https://\S+)", proc.stdout.readline()).group(1)
        index = f"{url}providers/{TINY}/index.json"
        old_zip = f"{url}providers/{TINY}/terraform-provider-tiny_1.0.0_linux_amd64.zip"
        get = lambda u: requests.get(u, verify=str(test_ca.bundle_path), timeout=10)  # noqa: E731
        assert get(index).json() == {"versions": {"1.0.0": {}}}
        assert get(old_zip).status_code == 200
        assert sync_process(mirrors["new_manifest"], out).returncode == 0
        assert get(index).json() == {"versions": {"1.1.0": {}}}
        assert get(old_zip).status_code == 404
        assert requests.head(f"{url}.current/providers/{TINY}/index.json",
                             verify=str(test_ca.bundle_path), timeout=10).status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_mirror_from_before_generations_is_converted(mirrors, tmp_path):
    """Flat folders at the top (what earlier versions wrote) keep working, and the
    next sync turns them into links without changing a byte a reader sees."""
    out = tmp_path / "out"
    flatten(mirrors["old"], out)
    assert verify(out).returncode == 0
    done = sync_process(mirrors["old_manifest"], out)
    assert done.returncode == 0, done.stderr
    assert (out / "providers").is_symlink() and (out / "mirror-state.json").is_symlink()
    assert visible_tree(out) == mirrors["old_tree"]
    assert verify(out).returncode == 0
