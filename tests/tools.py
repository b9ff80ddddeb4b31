"""The executables tests run (openssl, ssh, terraform, strace, ...), found on PATH.

A missing one is the machine's setup, not the code under test: the test fails
(a skip would hide that part of the suite never ran) and says how to install it.
"""
from __future__ import annotations

import shutil

import pytest


def tool(name: str) -> str:
    """The path of ``name``; the test fails when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required by this test and is not installed: "
                    "./dev setup --test installs it")
    return path
