"""``coder templates pull``, ``edit``, ``archive`` and ``create`` through the real CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile

from tests.kit.cli import ROOT
from tests.kit.provisioning import imported_version, make_template

FILES = {"main.tf": 'terraform {}\n', "scripts/start.sh": "#!/bin/sh\necho hi\n"}


def raw_run(cli, *args: str) -> subprocess.CompletedProcess:
    """The CLI with its stdout as bytes (an archive)."""
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", *args], env=cli.env,
                          cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def test_pull_writes_the_active_version_or_the_one_named(owner_cli, shared_coderd, shared_owner,
                                                         tmp_path):
    template = make_template(shared_owner, shared_coderd.dsn)
    newer = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id,
                             files=FILES)
    dest = tmp_path / "pulled"
    proc = owner_cli.run("templates", "pull", template.name, str(dest))
    assert "A newer template version than the active version exists" in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["main.tf"]  # the active one
    # Not empty: Coder's question, which a script cannot answer; -y writes over it.
    proc = owner_cli.run("templates", "pull", template.name, str(dest), "--version", newer.name,
                         expect=1)
    assert "not empty" in proc.stderr and "--yes" in proc.stderr
    assert not (dest / "scripts").exists()
    owner_cli.run("templates", "pull", template.name, str(dest), "--version", "latest", "-y")
    assert (dest / "scripts" / "start.sh").read_text() == FILES["scripts/start.sh"]

    tar = raw_run(owner_cli, "templates", "pull", template.name, "--version", newer.name, "--tar")
    assert tar.returncode == 0, tar.stderr
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as t:
        assert {m.name.lstrip("./") for m in t.getmembers() if m.isfile()} == set(FILES)
    zipped = raw_run(owner_cli, "templates", "pull", template.name, "--version", newer.name,
                     "--zip")
    assert zipped.returncode == 0, zipped.stderr
    with zipfile.ZipFile(io.BytesIO(zipped.stdout)) as z:
        assert {n: z.read(n).decode() for n in z.namelist() if not n.endswith("/")} == FILES
    proc = owner_cli.run("templates", "pull", template.name, "--version", "nope", expect=1)
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_edit_changes_only_what_is_given_and_refuses_what_the_appliance_lacks(
        owner_cli, shared_coderd, shared_owner):
    template = make_template(shared_owner, shared_coderd.dsn, description="keep me")
    c = owner_cli
    assert "Updated template metadata at" in c.run(
        "templates", "edit", template.name, "--display-name", "Shiny", "--default-ttl", "8h",
        "--activity-bump", "30m", "--allow-user-cancel-workspace-jobs=false",
        "--deprecated", "use another", "--allow-user-autostart=true", "--failure-ttl", "0h").stdout
    got = shared_owner.template(template.id)
    assert (got.display_name, got.description, got.default_ttl_ms, got.activity_bump_ms,
            got.allow_user_cancel_workspace_jobs, got.deprecated, got.deprecation_message) == (
        "Shiny", "keep me", 8 * 3600_000, 30 * 60_000, False, True, "use another")
    proc = c.run("templates", "edit", template.name, "--failure-ttl", "1h", "--private",
                 "--display-name", "Not this", expect=2)
    assert "--private, --failure-ttl: this appliance has no such template setting" in proc.stderr
    assert shared_owner.template(template.id).display_name == "Shiny"
    proc = c.run("templates", "edit", template.name, expect=1)
    assert "template metadata not modified" in proc.stderr
    proc = c.run("templates", "edit", template.name, "--default-ttl", "soon", expect=2)
    assert "--default-ttl" in proc.stderr and "Traceback" not in proc.stderr
    c.run("templates", "edit", template.name, "--name", template.name + "x")
    assert shared_owner.template(template.id).name == template.name + "x"


def test_archive_unused_versions(owner_cli, shared_coderd, shared_owner):
    template = make_template(shared_owner, shared_coderd.dsn)
    unused = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id)
    proc = owner_cli.run("templates", "archive", template.name, expect=1)
    assert "--yes" in proc.stderr  # no terminal to confirm on
    out = owner_cli.run("templates", "archive", template.name, "-y").stdout
    assert out.startswith(f"Archived 0 versions from {template.name} at ")  # none failed
    out = owner_cli.run("templates", "archive", template.name, "--all", "-y").stdout
    assert out.startswith(f"Archived 1 versions from {template.name} at ")
    assert shared_owner.template_version(unused.id).archived
    assert not shared_owner.template_version(template.active_version_id).archived


def test_create_refusals(owner_cli, shared_coderd, shared_owner, tmp_path):
    template = make_template(shared_owner, shared_coderd.dsn)
    (tmp_path / "main.tf").write_text("terraform {}\n")
    proc = owner_cli.run("templates", "create", template.name, "-d", str(tmp_path), "-y",
                         expect=1)
    assert f'A template already exists named "{template.name}"!' in proc.stderr
    assert "DEPRECATION WARNING: Use `coder templates push`" in proc.stderr
    proc = owner_cli.run("templates", "create", "x" * 32, "-d", str(tmp_path), "-y", expect=1)
    assert "Template name must be less than 32 characters" in proc.stderr
    proc = owner_cli.run("templates", "create", "fresh", "-d", str(tmp_path), "--dormancy-threshold",
                         "24h", "-y", expect=2)
    assert "--dormancy-threshold: this appliance has no such template setting" in proc.stderr
    proc = owner_cli.run("templates", "create", "fresh", "-d", str(tmp_path), expect=1)
    assert "--yes" in proc.stderr
    names = [t["name"] for t in json.loads(owner_cli.run("templates", "list", "-o", "json").stdout)]
    assert "fresh" not in names


def test_create_makes_a_template_with_coders_defaults(cli, provisioning_coderd, tmp_path):
    from tests.kit.coderd import create_first_user
    from tests.kit.provisioning import TEMPLATE

    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "main.tf").write_text(TEMPLATE)
    out = c.run("templates", "create", "made", "-d", str(tmp_path), "-y",
                "--require-active-version").stdout
    assert "The made template has been created at" in out
    assert 'coder create --template="made" [workspace name]' in out
    made = owner.template_by_name("default", "made")
    assert made.default_ttl_ms == 24 * 3600_000 and made.require_active_version
