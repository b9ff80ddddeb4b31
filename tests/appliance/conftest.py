"""Fixtures for the ``coder`` CLI tests (``cli``, the real CLI, comes from tests/conftest.py).

``shared_coderd``/``shared_owner`` (from tests/conftest.py) share one coderd across a test
module, for tests that only add uniquely named users and tokens; ``owner_cli`` is the CLI
logged in as that owner.
"""
from __future__ import annotations

import pytest


@pytest.fixture
def owner_cli(cli, shared_coderd, shared_owner):
    return cli.log_in_as(shared_coderd.url, shared_owner.token)
