"""The appliance's own terraform-provider-coder, served by a registry, mirrored, and run by terraform."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from appliance.admin.main import main as appliance
from tests.mirror_tools.mirrorkit import write_manifest

REPO = Path(__file__).resolve().parents[2]
CONFIG = """terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
data "coder_workspace" "me" {}
data "coder_parameter" "size" {
  name    = "size"
  type    = "number"
  default = 2
}
output "transition" { value = data.coder_workspace.me.transition }
output "size" { value = data.coder_parameter.size.value }
"""


def coder_provider_executable(dest: Path) -> tuple[str, bytes]:
    """(version, executable) of terraform-provider-coder, built as the project ships it to mirrors."""
    mirror = dest / "built"
    subprocess.run([sys.executable, str(REPO / "packaging" / "build_provider.py"), "--mirror", str(mirror)],
                   check=True, capture_output=True)
    zips = sorted((mirror / "providers/registry.terraform.io/coder/coder").glob("*_linux_amd64.zip"))
    with zipfile.ZipFile(zips[-1]) as z:
        name = next(n for n in z.namelist() if n.startswith("terraform-provider-coder"))
        version = zips[-1].name.split("_")[1]
        return version, z.read(name)


def test_mirror_sync_mirrors_the_coder_provider_and_terraform_runs_it(_tf_registry_session, tmp_path):
    version, executable = coder_provider_executable(tmp_path)
    _tf_registry_session.add_provider("coder", "coder", version, ["linux_amd64"], executable)
    manifest = write_manifest(
        tmp_path / "m.yaml", _tf_registry_session,
        f"  - {{source: coder/coder, versions: '= {version}', platforms: [linux_amd64]}}\n")
    out = tmp_path / "out"
    assert appliance(["mirror-sync", "--manifest", str(manifest), "--out", str(out)]) == 0
    assert appliance(["mirror", "verify", str(out)]) == 0
    assert 'provider "registry.terraform.io/coder/coder"' in (out / ".terraform.lock.hcl").read_text()

    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text(CONFIG)
    (work / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{out / "providers"}"\n  }}\n}}\n')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
           "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"), "CHECKPOINT_DISABLE": "1",
           "CODER_WORKSPACE_TRANSITION": "stop"}
    terraform = shutil.which("terraform")
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        done = subprocess.run([terraform, *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    outputs = subprocess.run([terraform, "output", "-json"], cwd=work, env=env, capture_output=True,
                             text=True, check=True).stdout
    assert '"stop"' in outputs and '"2"' in outputs
