"""Template variables end to end: ``coder templates push`` with values, the import that
reads the template's ``variable`` blocks, the API that shows them, and builds whose plans
are given them; real coderd, provisioner daemons and terraform, the CLI as a user runs it.
"""
from __future__ import annotations

import json

from appliance import archives

from tests.kit.coderd import create_first_user

SECRET = "hush-" + "9f3a"  # a sensitive variable's value: never in a log or an answer
TEMPLATE = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
    null  = { source = "hashicorp/null" }
  }
}
variable "greeting" {
  type        = string
  description = "Said in the metadata."
}
variable "secret" {
  type      = string
  sensitive = true
  default   = "default-secret"
}
variable "sizes" {
  type    = list(string)
  default = ["s"]
}
variable "quote" {
  default = "plain"
}
resource "null_resource" "box" {
  triggers = { secret = sha256(var.secret) }
}
resource "coder_metadata" "box" {
  resource_id = null_resource.box.id
  item {
    key   = "greeting"
    value = var.greeting
  }
  item {
    key   = "sizes"
    value = join(",", var.sizes)
  }
  item {
    key   = "quote"
    value = var.quote
  }
  item {
    key   = "secret_length"
    value = length(var.secret)
  }
}
'''


def _metadata(resources) -> dict[str, str]:
    return {m.key: m.value for r in resources if r.name == "box" for m in r.metadata}


def _all_logs(owner, version_id) -> str:
    return "\n".join(log.output for log in owner.template_version_logs(version_id))


def test_refusals_before_anything_is_uploaded(owner_cli, tmp_path):
    (tmp_path / "main.tf").write_text(TEMPLATE)
    push = ("templates", "push", "vars", "-d", str(tmp_path), "-y")
    proc = owner_cli.run(*push, "--variable", "greeting", expect=2)
    assert proc.stderr.splitlines()[0] == "error: format key=value expected, but got greeting"
    proc = owner_cli.run(*push, "--provisioner-tag", "gpu", expect=2)
    assert 'invalid tag format for "gpu". must be key=value' in proc.stderr
    proc = owner_cli.run(*push, "--variables-file", str(tmp_path / "none.yaml"), expect=1)
    assert "cannot read" in proc.stderr and "No such file" in proc.stderr
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    proc = owner_cli.run(*push, "--variables-file", str(tmp_path / "list.yaml"), expect=1)
    assert "expected a map of variable names to values" in proc.stderr
    (tmp_path / "terraform.tfvars").write_text("greeting = \n")
    proc = owner_cli.run(*push, expect=1)
    assert "terraform.tfvars: not valid HCL" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "terraform.tfvars").write_text("flag = true\n")
    proc = owner_cli.run(*push, expect=1)
    assert "unsupported value type (name: flag)" in proc.stderr
    proc = owner_cli.run("templates", "push", "-d", "-", "-y", input=b"", expect=2)
    assert "template name argument must be provided" in proc.stderr
    proc = owner_cli.run("templates", "push", "vars", "-d", "-", "-y", input=b"not a tar" * 100,
                         expect=1)
    assert "stdin is not a tar archive" in proc.stderr
    proc = owner_cli.run(*push, "--activate=maybe", expect=2)
    assert "invalid boolean value 'maybe'" in proc.stderr
    listed = json.loads(owner_cli.run("templates", "list", "-o", "json").stdout)
    assert "vars" not in [t["name"] for t in listed]  # nothing was pushed


def test_variables_from_push_to_build(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    folder = tmp_path / "vars"
    folder.mkdir()
    (folder / "main.tf").write_text(TEMPLATE)

    # Values from the folder's terraform.tfvars (read by the CLI: the upload leaves it out),
    # a YAML --variables-file over it, and --variable over both.
    (folder / "terraform.tfvars").write_text('greeting = "from tfvars"\nquote = "tfvars"\n')
    (folder / "values.yaml").write_text('sizes: \'["m", "l"]\'\nquote: yaml\n')
    out = c.run("templates", "push", "-d", str(folder), "-y", "--name", "first",
                "--variables-file", str(folder / "values.yaml"),
                "--var", f"secret={SECRET}", "--variable", 'quote=say "${hi}" \\ %{x}').stdout
    assert "Auto-discovered Terraform tfvars files." in out and "created" in out
    template = owner.template_by_name("default", "vars")
    first = owner.template_version(template.active_version_id)
    assert first.name == "first"
    declared = owner.template_version_variables(first.id)
    assert [(v.name, v.type, v.required, v.sensitive) for v in declared] == [
        ("greeting", "string", True, False), ("secret", "string", False, True),
        ("sizes", "list(string)", False, False), ("quote", "", False, False)]
    assert declared[0].description == "Said in the metadata."
    assert (declared[1].value, declared[1].default_value) == ("*redacted*", "*redacted*")
    assert (declared[2].value, declared[2].default_value) == ('["m", "l"]', '["s"]')
    assert declared[3].value == 'say "${hi}" \\ %{x}'
    planned = _metadata(owner.template_version_resources(first.id))
    assert planned["greeting"] == "from tfvars" and planned["sizes"] == "m,l"
    assert planned["quote"] == 'say "${hi}" \\ %{x}'  # a literal: nothing interpolated
    assert planned["secret_length"] == str(len(SECRET))
    uploaded = owner.download_file(first.job.file_id)
    assert b"from tfvars" not in uploaded and b"values.yaml" in uploaded

    # A build's plan and apply are given the version's values; the secret is in no log.
    c.run("create", "box", "-t", "vars", "-y")
    workspace = owner.workspace_by_owner_and_name("me", "box")
    built = _metadata(workspace.latest_build.resources)
    assert built["greeting"] == "from tfvars" and built["secret_length"] == str(len(SECRET))
    logs = [log.output for log in owner.workspace_build_logs(workspace.latest_build.id)]
    logs += [log.output for log in owner.template_version_logs(first.id)]
    assert logs and SECRET not in "\n".join(logs) and SECRET not in provisioning_coderd.log()

    # A required variable without a value: the import fails with Coder's message and code,
    # and the variables it read are stored all the same (a client can ask which). Without
    # --provisioner-tag, the active version's tags are used again, as Coder does.
    (folder / "terraform.tfvars").unlink()
    proc = c.run("templates", "push", "-d", str(folder), "-y", "--name", "unset", expect=1)
    assert "required template variables need values: greeting" in proc.stderr
    assert "Re-using provisioner tags from the active template version." in proc.stderr
    unset = _version(owner, template.id, "unset")
    assert (unset.job.status, unset.job.error_code) == ("failed", "REQUIRED_TEMPLATE_VARIABLES")
    assert {v.name: v.value for v in owner.template_version_variables(unset.id)} == {
        "greeting": "", "secret": "*redacted*", "sizes": '["s"]', "quote": "plain"}

    # --activate=false: uploaded, the active version stays. -d - reads the tar from stdin
    # (and no tfvars file: the values come from the flags alone).
    out = c.run("templates", "push", "vars", "-d", "-", "--name", "piped", "--activate=false",
                "--variable", "greeting=piped", "--provisioner-tag", "scope=organization",
                input=archives.template_tar(folder)).stdout
    assert "Auto-discovered" not in out
    piped = _version(owner, template.id, "piped")
    assert piped.job.status == "succeeded" and piped.job.tags["scope"] == "organization"
    assert owner.template_by_name("default", "vars").active_version_id == first.id
    assert _metadata(owner.template_version_resources(piped.id))["greeting"] == "piped"
    c.run("delete", "box", "-y")


def _version(owner, template_id, name):
    return next(v for v in owner.template_versions(template_id) if v.name == name)
