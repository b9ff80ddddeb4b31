"""What the mirror_tools tests share: manifests, what a reader of a mirror sees,
``appliance`` in this process and ``appliance mirror-sync`` in its own, real terraform
installing from a mirror (a ``filesystem_mirror`` CLI config, ``CHECKPOINT_DISABLE=1``),
and image specs for the test registries.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from appliance.admin.main import main as appliance
from mirror_tools.manifest import ImageSpec, RegistryAccess
from tests.kit.tools import terraform_bin

REPO = Path(__file__).resolve().parents[2]
NULL = "registry.terraform.io/hashicorp/null"
TINY = "registry.terraform.io/example/tiny"


NAMESPACES = ("hashicorp", "example", "coder")   # what the test registry serves


def write_manifest(path: Path, registry, providers: str, extra: str = "",
                   signers: dict[str, str] | None = None) -> Path:
    """A manifest fetching ``registry.terraform.io`` from the test ``registry``
    (plain HTTP, so marked insecure), whose namespaces are pinned to the
    registry's signing key unless ``signers`` (namespace -> fingerprint) says
    otherwise."""
    pins = signers if signers is not None else {n: registry.key.fingerprint for n in NAMESPACES}
    path.write_text(f"registries:\n  registry.terraform.io:\n    url: {registry.url}\n"
                    "    insecure: true\n"
                    + ("    signers:\n" if pins else "")
                    + "".join(f"      {n}: [{f}]\n" for n, f in pins.items())
                    + f"providers:\n{providers}{extra}")
    return path


def visible_tree(root: Path) -> dict[str, str]:
    """Every file a reader of the mirror finds (following its top-level links;
    hidden names at the top are work areas, but for the lock file) with its sha256."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".") or f == ".terraform.lock.hcl"]
        for name in files:
            path = Path(folder, name)
            if path.is_file():
                out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sync_process(manifest: Path, out: Path, *args: str,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``appliance mirror-sync`` as its own process (so it can be killed)."""
    return subprocess.run([sys.executable, "-m", "appliance.admin.main", "mirror-sync",
                           "--manifest", str(manifest), "--out", str(out), *args],
                          cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=300)


def filesystem_mirror_config(providers_dir: Path) -> str:
    """A CLI config that installs only from the packed filesystem mirror ``providers_dir``."""
    return ('provider_installation {\n  filesystem_mirror {\n'
            f'    path = "{providers_dir}"\n  }}\n}}\n')


def terraform_init(workdir: Path, cli_config: str, main_tf: str,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``terraform init`` of ``main_tf`` with only ``cli_config``'s provider installation."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(main_tf)
    (workdir / "cli.tfrc").write_text(cli_config)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"), "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1", **(env or {})}
    return subprocess.run([terraform_bin(), "init", "-input=false", "-no-color"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=300)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``appliance ARGV`` in this process: its exit code, stdout and stderr."""
    code = appliance(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def spec(up, name, platforms=()) -> ImageSpec:
    """Image ``name`` of the upstream test registry ``up``, over plain HTTP."""
    return ImageSpec(ref=up.refs[name], platforms=list(platforms),
                     registry=RegistryAccess(host=up.registry.host, url=up.registry.url,
                                             insecure=True))


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
