"""``coder templates`` and the workspace commands, through the real CLI.

The end-to-end test pushes a template and builds a workspace with the real
provisioner daemons, terraform and the Python provider from the mirror.
"""
from __future__ import annotations

import json

from appliance import archives

from tests.kit.coderd import create_first_user
from tests.kit.provisioning import TEMPLATE


def test_init_lists_and_copies_examples(cli, tmp_path):
    out = cli.run("templates", "init").stdout
    assert "local" in out.split()
    dest = tmp_path / "mine"
    assert "Extracted local" in cli.run("templates", "init", "--id", "local", str(dest)).stdout
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "main.tf", "start-agent.sh",
                                                      "stop-agent.sh"]
    proc = cli.run("templates", "init", "--id", "local", str(dest), expect=1)
    assert "exists and is not empty" in proc.stderr
    proc = cli.run("templates", "init", "--id", "nope", str(tmp_path / "x"), expect=2)
    assert "no example template 'nope'" in proc.stderr and "local" in proc.stderr


def test_refusals_without_a_provisioner(owner_cli, tmp_path):
    proc = owner_cli.run("templates", "push", "empty", "-d", str(tmp_path), "-y", expect=1)
    assert "holds no .tf file" in proc.stderr
    # A disk image beside the template: refused at coderd's upload limit, named, not uploaded.
    (tmp_path / "main.tf").write_text("terraform {}\n")
    with open(tmp_path / "disk.img", "wb") as f:
        f.truncate(4 * archives.UPLOAD_LIMIT)  # sparse
    proc = owner_cli.run("templates", "push", "big", "-d", str(tmp_path), "-y", expect=1)
    assert proc.stderr.splitlines() == [
        f"error: Archive too big. Must be <= {archives.UPLOAD_LIMIT} bytes",
        "hint: disk.img takes it past coderd's upload limit: keep large files out of the "
        "template folder."]
    assert "terraform state" in " ".join(owner_cli.run("templates", "push", "--help").stdout.split())
    proc = owner_cli.run("templates", "delete", "nothing-here", expect=1)
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(owner_cli.run("list", "-o", "json").stdout) == []
    proc = owner_cli.run("create", "ws", "--template", "nothing-here", expect=1)
    assert "Template not found" in proc.stderr or "not found" in proc.stderr
    proc = owner_cli.run("create", "ws", "-t", "x", "--parameter", "novalue", expect=2)
    assert "format key=value expected, but got novalue" in proc.stderr


def test_push_create_stop_start_delete(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    folder = tmp_path / "demo"
    (folder / ".terraform").mkdir(parents=True)
    (folder / ".terraform" / "junk").write_text("not uploaded")
    (folder / "main.tf").write_text(TEMPLATE)
    (folder / "README.md").write_text("# Demo\n")
    for secret in ("terraform.tfstate", "prod.auto.tfvars", ".env"):  # left out as by Coder
        (folder / secret).write_text("password = \"state-secret\"\n")

    out = c.run("templates", "push", "-d", str(folder), "-y").stdout
    assert "==> " in out and "Template 'demo' has been created" in out
    assert ("Left out of the upload, as Coder does (terraform state and variable values): "
            "prod.auto.tfvars, terraform.tfstate\n") in out
    templates = json.loads(c.run("templates", "list", "-o", "json").stdout)
    assert [t["name"] for t in templates] == ["demo"]
    version = owner.template_version(templates[0]["active_version_id"])
    assert version.readme == "# Demo\n"
    uploaded = owner.download_file(version.job.file_id).decode("latin-1")
    assert ".terraform/junk" not in uploaded and "state-secret" not in uploaded
    assert [p.name for p in owner.template_version_parameters(version.id)] == ["region", "size"] \
        or {p.name for p in owner.template_version_parameters(version.id)} == {"region", "size"}

    proc = c.run("create", "box", "-t", "demo", expect=1)
    assert "'region' is required" in proc.stderr and "--parameter region=VALUE" in proc.stderr
    proc = c.run("create", "box", "-t", "demo", "--parameter", "region=there",
                 "--parameter", "size=99", expect=1)  # the dry run refuses it: no build
    assert "Dry run failed" in proc.stderr and "size" in proc.stdout + proc.stderr
    assert json.loads(c.run("list", "-o", "json").stdout) == []
    out = c.run("create", "box", "-t", "demo", "--parameter", "region=there").stdout
    assert out.index("Planning workspace...") < out.index("Workspace Preview") \
        < out.index("  null_resource.box\n    agent main: linux/amd64\n      app web:") \
        < out.index("The box workspace has been created!")
    listed = json.loads(c.run("list", "-o", "json").stdout)
    assert [(w["name"], w["latest_build"]["status"]) for w in listed] == [("box", "running")]
    shown = c.run("show", "box").stdout
    assert "agent main" in shown and "app web" in shown
    table = c.run("list").stdout.splitlines()
    assert table[0].split()[:3] == ["WORKSPACE", "TEMPLATE", "STATUS"]
    assert table[1].split()[:3] == ["admin/box", "demo", "running"]

    assert "has been stopped" in c.run("stop", "box", "-y").stdout
    assert owner.workspace_by_owner_and_name("me", "box").latest_build.status == "stopped"
    assert "has been started" in c.run("start", "box", "-y").stdout
    proc = c.run("delete", "box", expect=1)
    assert "--yes" in proc.stderr
    assert "has been deleted" in c.run("rm", "box", "-y").stdout  # Coder's aliases: rm, ls
    assert json.loads(c.run("ls", "-o", "json").stdout) == []

    # A second version with a terraform error: the push fails with terraform's message.
    (folder / "main.tf").write_text(TEMPLATE + '\nresource "null_resource" "bad" { nonsense = 1 }\n')
    proc = c.run("templates", "push", "demo", "-d", str(folder), "-y", expect=1)
    assert "Template import failed" in proc.stderr and "nonsense" in proc.stdout + proc.stderr
    versions = c.run("templates", "versions", "list", "demo").stdout
    assert "failed" in versions and "Active" in versions
    assert "Deleted template 'demo'" in c.run("templates", "delete", "demo", "-y").stdout


def test_versions_promote_archive_unarchive(owner_cli, shared_coderd, shared_owner):
    from tests.kit.provisioning import imported_version, make_template

    template = make_template(shared_owner, shared_coderd.dsn)
    second = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id)
    c, name = owner_cli, template.name
    assert "Archived" not in c.run("templates", "versions", "list", name).stdout
    assert f"Version '{second.name}' archived." in c.run(
        "templates", "versions", "archive", name, second.name, "-y").stdout
    assert second.name not in c.run("templates", "versions", "list", name).stdout
    assert "Archived" in c.run("templates", "versions", "list", name, "--include-archived").stdout
    proc = c.run("templates", "versions", "promote", "-t", name, "--template-version",
                 second.name, expect=1)
    assert "The provided template version is archived." in proc.stderr
    c.run("templates", "versions", "unarchive", name, second.name, "-y")
    assert f"Successfully promoted version '{second.name}' for template '{name}'" in c.run(
        "templates", "versions", "promote", "-t", name, "--template-version", second.name).stdout
    assert shared_owner.template(template.id).active_version_id == second.id
    proc = c.run("templates", "versions", "archive", name, second.name, "-y", expect=1)
    assert "currently set to the active version" in proc.stderr
