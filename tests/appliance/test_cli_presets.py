"""Workspace presets end to end: the import reads a template's ``coder_workspace_preset``s,
``GET /templateversions/{id}/presets`` answers as Coder's does, and a workspace created with
one (``template_version_preset_id``, ``coder create --preset``) is built with its values;
real coderd, provisioner daemons and terraform.
"""
from __future__ import annotations

import requests

from appliance.sdk import types

from tests.kit.coderd import create_another_user, create_first_user

TEMPLATE = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
    null  = { source = "hashicorp/null" }
  }
}
data "coder_parameter" "region" {
  name    = "region"
  default = "us"
  mutable = true
}
data "coder_parameter" "size" {
  name = "size"
}
data "coder_workspace_preset" "europe" {
  name        = "Europe"
  description = "Close to Paris"
  default     = true
  parameters  = { region = "eu", size = "large" }
  prebuilds {
    instances = 2
  }
}
data "coder_workspace_preset" "small" {
  name       = "Small"
  parameters = { size = "small" }
}
resource "null_resource" "box" {}
resource "coder_metadata" "box" {
  resource_id = null_resource.box.id
  item {
    key   = "region"
    value = data.coder_parameter.region.value
  }
  item {
    key   = "size"
    value = data.coder_parameter.size.value
  }
}
'''


def _values(workspace: types.Workspace) -> dict[str, str]:
    items = [i for r in workspace.latest_build.resources for i in r.metadata]
    return {i.key: i.value for i in items}


def test_presets_from_import_to_create(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "main.tf").write_text(TEMPLATE)
    c.run("templates", "push", "-d", str(tmp_path / "preset"), "-y")
    version = owner.template_by_name("default", "preset").active_version_id

    # Coder's JSON: codersdk.Preset has no json tags, so its keys are the Go field names.
    url = f"{provisioning_coderd.url}/api/v2/templateversions/{version}/presets"
    answer = requests.get(url, headers={"Coder-Session-Token": owner.token}, timeout=10)
    assert answer.status_code == 200
    europe, small = answer.json()
    assert set(europe) == {"ID", "Name", "Parameters", "Default", "DesiredPrebuildInstances",
                           "Description", "Icon"}
    assert {k: v for k, v in europe.items() if k != "ID"} == {
        "Name": "Europe", "Parameters": [{"Name": "region", "Value": "eu"},
                                         {"Name": "size", "Value": "large"}],
        "Default": True, "DesiredPrebuildInstances": 2, "Description": "Close to Paris",
        "Icon": ""}
    assert (small["Name"], small["Default"], small["DesiredPrebuildInstances"]) == (
        "Small", False, None)
    assert requests.get(url, timeout=10).status_code == 401

    # No --preset: the default preset, its values over nothing asked for.
    out = c.run("create", "eu-box", "-t", "preset", "-y").stdout
    assert "Preset 'Europe' (default) applied:" in out and "  region: 'eu'" in out
    assert _values(owner.workspace_by_owner_and_name("me", "eu-box")) == {
        "region": "eu", "size": "large"}
    # --preset NAME: that preset's values win over --parameter for the names it sets.
    c.run("create", "small-box", "-t", "preset", "--preset", "Small", "--parameter",
          "size=huge", "--parameter", "region=ap", "-y")
    assert _values(owner.workspace_by_owner_and_name("me", "small-box")) == {
        "region": "ap", "size": "small"}
    proc = c.run("create", "x", "-t", "preset", "--preset", "Mars", "-y", expect=1)
    assert "preset 'Mars' not found" in proc.stderr and "Traceback" not in proc.stderr
    # 'none': no preset, so the required size is asked for (and no terminal here).
    proc = c.run("create", "y", "-t", "preset", "--preset", "none", "-y", expect=1)
    assert "size" in proc.stderr and "Traceback" not in proc.stderr


def test_preset_of_another_version_or_for_another_user_is_refused(cli, provisioning_coderd,
                                                                    tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "main.tf").write_text(TEMPLATE)
    c.run("templates", "push", "-d", str(tmp_path / "preset"), "-y")
    template = owner.template_by_name("default", "preset")
    preset = owner.template_version_presets(template.active_version_id)[0]
    member, _ = create_another_user(owner)
    # A member may use the org's template's presets for their own workspace only.
    request = {"name": "mine", "template_id": str(template.id),
               "template_version_preset_id": str(preset.ID)}
    headers = {"Coder-Session-Token": member.token}
    base = f"{provisioning_coderd.url}/api/v2/users"
    refused = requests.post(f"{base}/admin/workspaces", json=request, headers=headers, timeout=10)
    assert refused.status_code in (403, 404), refused.text
    stranger = dict(request, template_version_preset_id="5a1c1bd5-0000-4000-8000-000000000001")
    bad = requests.post(f"{base}/me/workspaces", json=stranger, headers=headers, timeout=10)
    assert bad.status_code == 400 and bad.json()["message"] == "Preset not found."
    assert requests.post(f"{base}/me/workspaces", json=request, timeout=10).status_code == 401
    made = requests.post(f"{base}/me/workspaces", json=request, headers=headers, timeout=10)
    assert made.status_code == 201, made.text


def test_two_default_presets_fail_the_import(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "twice").mkdir()
    (tmp_path / "twice" / "main.tf").write_text(
        TEMPLATE.replace('name       = "Small"', 'name       = "Small"\n  default    = true'))
    proc = c.run("templates", "push", "-d", str(tmp_path / "twice"), "-y", expect=1)
    assert "a maximum of 1 coder_workspace_preset can be marked as default, but 2 are set" in \
        proc.stderr
