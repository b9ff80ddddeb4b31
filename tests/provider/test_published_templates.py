"""Every template Coder publishes plans against this provider as it does against Coder's.

The templates (coder/registry's ``registry/coder/templates`` and coder/coder's
``examples/templates/tasks-docker``) and the registry modules they call are
vendored in ``published/`` (README.md there: where each came from). Every other
provider is a stub made from what the templates use of it
(``published_stubs``, ``stub_provider``), so what can fail is Coder's
provider, or the templates' own logic over the values it gives. Each template
gets ``terraform init`` and ``terraform plan`` with the environment coderd's
provisioner gives a workspace's start build, and the variables a template
admin would push (``PUSHED_VARIABLES``: the templates' required ones). Any
error fails the test, and so does any warning but those Coder's provider
gives too (``CODER_WARNINGS``).

The registry's modules need terraform 1.9 or newer (validations that refer to
other variables, ``optional()``); with an older terraform (a fresh Debian's
1.0.3 from PyPI) a template whose configuration that terraform cannot read
must fail in terraform's own configuration check, before any provider runs,
and the others must plan as above.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kit.provider import coder_env
from tests.kit.tools import terraform_bin, terraform_version
from .published_stubs import write_mirror

PUBLISHED = Path(__file__).resolve().parent / "published"
TEMPLATES = sorted(p.name for p in (PUBLISHED / "templates").iterdir() if p.is_dir())
# What `coder templates push --variable` would give the variables that have no default.
PUSHED_VARIABLES = {
    "digitalocean-linux": {"project_uuid": "5a1c1bd5-0000-4000-8000-000000000001"},
    "gcp-devcontainer": {"project_id": "coder-test"},
    "gcp-linux": {"project_id": "coder-test"},
    "gcp-vm-container": {"project_id": "coder-test"},
    "gcp-windows": {"project_id": "coder-test"},
    "kubernetes": {"namespace": "coder"},
    "kubernetes-envbox": {"namespace": "coder", "max_cpus": "4", "min_cpus": "1",
                          "max_memory": "8", "min_memory": "1"},
}
# Warnings Coder's provider 2.17.0 gives too: coder_agent.dir is deprecated (see test_lifecycle).
DIR_WARNINGS = ['"dir" is deprecated and will be removed in a future release.',
                'Setting "dir" to a value other than $HOME will break Coder Desktop file sync.',
                "Argument is deprecated"]
CODER_WARNINGS = {t: DIR_WARNINGS for t in ("aws-devcontainer", "docker-devcontainer",
                                            "docker-envbuilder", "gcp-devcontainer", "incus",
                                            "kubernetes-devcontainer")}
# Modules from registry.terraform.io (not Coder's), replaced by stubs kept here.
MODULE_STUBS = {"terraform-google-modules/container-vm/google": "stub-modules/container-vm"}
# Before terraform 1.12, `||` does not short-circuit: the jetbrains module's check of a null
# ide_config fails whatever the provider ("Invalid function argument"), so the copy gets the
# same checks written for older terraform (each condition is `null || rest`: `?:` is the same).
SHORT_CIRCUIT = ("var.ide_config == null ||", "var.ide_config == null ? true :")
# The terraform the registry's modules are written for, and what an older one says of them
# (its configuration check, which runs before any provider is installed or started).
MODULES_NEED = (1, 9)
TOO_OLD = re.compile(r"The Terraform configuration must be valid before initialization|"
                     r"Unsupported Terraform Core version")
NEWER_FUNCTIONS = "Call to unknown function"  # e.g. endswith (1.3): every error must be one


def too_old(output: str) -> bool:
    """Whether the terraform under test failed only for being older than the modules."""
    errors = re.findall(r"^Error: (.+)$", output, re.M)
    return bool(TOO_OLD.search(output)) or (bool(errors) and set(errors) == {NEWER_FUNCTIONS})


def adapt(tree: Path) -> None:
    """The copy's calls of registry.terraform.io modules pointed at the stubs; the jetbrains
    check rewritten for terraform before 1.12."""
    for path in tree.rglob("*.tf"):
        text = original = path.read_text()
        for source, stub in MODULE_STUBS.items():
            if f'"{source}"' in text:
                local = os.path.relpath(tree / stub, path.parent)
                text = re.sub(rf'source(\s*)=\s*"{source}"\n\s*version\s*=\s*"[^"]*"',
                              rf'source\1= "{local}"', text)
        if terraform_version() < (1, 12):
            text = text.replace(*SHORT_CIRCUIT)
        if text != original:
            path.write_text(text)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The vendored tree copied out and adapted (``adapt``)."""
    tree = tmp_path_factory.mktemp("published") / "tree"
    shutil.copytree(PUBLISHED, tree, ignore=shutil.ignore_patterns("*.md", "*.json", "*.py"))
    adapt(tree)
    return tree


def cli_config(workdir: Path, mirror: Path, stubs: Path) -> Path:
    """Coder's provider from the mirror under test, every other provider from the stubs."""
    config = workdir / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror / "providers"}"\n'
        '    include = ["registry.terraform.io/coder/coder"]\n  }\n'
        f'  filesystem_mirror {{\n    path = "{stubs}"\n'
        '    exclude = ["registry.terraform.io/coder/coder"]\n  }\n}\n')
    return config


def run(config: Path, workdir: Path, home: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [terraform_bin(), *args, "-no-color"], cwd=workdir, capture_output=True, text=True,
        timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "CHECKPOINT_DISABLE": "1",
             "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": str(config), **(env or {})})


def warnings(output: str) -> list[str]:
    return re.findall(r"^Warning: (.+)$", output, re.M)


@pytest.mark.parametrize("template", TEMPLATES)
def test_published_template_plans(published, mirror, tf_home, template):
    workdir = published / "templates" / template
    stubs = workdir.parent / f"{template}.stubs"
    write_mirror([workdir, published / "modules", published / "stub-modules"], stubs)
    config = cli_config(workdir, mirror, stubs)
    tfvars = "".join(f'{k} = "{v}"\n' for k, v in PUSHED_VARIABLES.get(template, {}).items())
    (workdir / "pushed.auto.tfvars").write_text(tfvars)
    init = run(config, workdir, tf_home, "init", "-input=false")
    old = terraform_version() < MODULES_NEED
    if init.returncode != 0 and old:
        assert too_old(init.stdout + init.stderr), init.stdout + init.stderr
        return
    assert init.returncode == 0, init.stdout + init.stderr
    plan = run(config, workdir, tf_home, "plan", "-input=false", env=coder_env())
    output = plan.stdout + plan.stderr
    if plan.returncode != 0 and old:
        assert too_old(output), output
        return
    assert plan.returncode == 0, output
    assert warnings(output) == CODER_WARNINGS.get(template, []), output
