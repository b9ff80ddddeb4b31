"""Fixtures for the Ansible tests: booted Debian 12 hosts with no route."""
from __future__ import annotations

import pytest

from ..hosts import BootedHost, minimal_debian_root


@pytest.fixture
def minimal_host(tmp_path):
    """A booted copy of the minimal Debian 12 root (no python3, only loopback)."""
    with BootedHost(minimal_debian_root(), tmp_path / "host") as host:
        yield host
