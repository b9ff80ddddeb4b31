"""packaging/build_provider.py: the provider zip and the null provider land in a valid mirror."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile

import pytest

from appliance.admin.main import main as appliance
from mirror_tools.providers.hashes import h1_zip
from provider import VERSION
from provider.plugin import CoderProvider

from tests.kit.provider import REPO, Terraform, build_mirror, coder_env

CODER = "providers/registry.terraform.io/coder/coder"
NULL = "providers/registry.terraform.io/hashicorp/null"


def test_mirror_layout_and_hashes(mirror):
    zip_path = mirror / CODER / f"terraform-provider-coder_{VERSION}_linux_amd64.zip"
    with zipfile.ZipFile(zip_path) as z:
        (entry,) = z.infolist()
    assert entry.filename == f"terraform-provider-coder_v{VERSION}"
    assert entry.external_attr >> 16 & 0o111 == 0o111
    archive = json.loads((mirror / CODER / f"{VERSION}.json").read_text())["archives"]["linux_amd64"]
    assert archive["url"] == zip_path.name
    assert h1_zip(zip_path) in archive["hashes"]
    assert any(h.startswith("zh:") for h in archive["hashes"])
    assert json.loads((mirror / NULL / "index.json").read_text()) == {"versions": {"2.1.2": {}}}
    lock = (mirror / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/coder/coder"' in lock
    assert 'provider "registry.terraform.io/hashicorp/null"' in lock
    assert appliance(["mirror", "verify", "--deep", str(mirror)]) == 0


def test_up_to_date_mirror_is_left_alone(mirror):
    zip_path = mirror / CODER / f"terraform-provider-coder_{VERSION}_linux_amd64.zip"
    before = zip_path.stat().st_mtime_ns
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build_provider.py"),
                           "--mirror", str(mirror), "--wrapper"],
                          capture_output=True, text=True, check=True)
    assert "up to date" in done.stdout
    assert zip_path.stat().st_mtime_ns == before


def test_bad_mirror_folder_is_reported(tmp_path):
    target = tmp_path / "file"
    target.write_text("not a folder")
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build_provider.py"),
                           "--mirror", str(target)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and str(target) in done.stderr


@pytest.mark.slow
def test_pyinstaller_build_serves_terraform(tmp_path, tf_home):
    """The shipped variant: PyInstaller --onefile --strip (built once per source hash)."""
    mirror = build_mirror(tmp_path / "mirror", "pyinstaller")
    with zipfile.ZipFile(mirror / CODER / f"terraform-provider-coder_{VERSION}_linux_amd64.zip") as z:
        head = z.open(z.infolist()[0]).read(4)
    assert head == b"\x7fELF"
    tf = Terraform(tmp_path / "tf", mirror, "docker", tf_home)
    tf.init()
    tf.apply(coder_env())
    assert uuid.UUID(tf.state()["coder_agent.main"]["token"])
    tf.run("destroy", "-input=false", "-auto-approve", env=coder_env())


# Coder's terraform-provider-coder 2.17.0: each type's SchemaVersion (unset: 0), but
# coder_agent_instance, kept at 1 since this provider's states carry 1 (terraform refuses
# a state newer than the provider's schema).
CODER_SCHEMA_VERSIONS = {
    "resource": {"coder_agent": 1, "coder_agent_instance": 1, "coder_app": 1, "coder_script": 1,
                 "coder_env": 1, "coder_metadata": 1, "coder_ai_task": 1, "coder_devcontainer": 1,
                 "coder_external_agent": 1},
    "data": {"coder_workspace": 1, "coder_workspace_owner": 0, "coder_provisioner": 1,
             "coder_external_auth": 1, "coder_parameter": 1, "coder_workspace_preset": 1,
             "coder_workspace_tags": 1, "coder_task": 0, "coder_secret": 1},
}


def test_terraform_sees_the_coder_release_it_implements(blank):
    assert VERSION == "2.17.0"
    selected = json.loads(blank.run("version", "-json").stdout)["provider_selections"]
    assert selected["registry.terraform.io/coder/coder"] == VERSION
    schemas = json.loads(blank.run("providers", "schema", "-json").stdout)["provider_schemas"]
    coder = schemas["registry.terraform.io/coder/coder"]
    assert {k: v["version"] for k, v in coder["resource_schemas"].items()} == \
        CODER_SCHEMA_VERSIONS["resource"]
    # Terraform 1.0 shows every data source's version as 0: read them from the provider.
    data = {f"coder_{d.NAME}": d.SPEC.tf_schema.version for d in CoderProvider().get_data_sources()}
    assert data == CODER_SCHEMA_VERSIONS["data"]
