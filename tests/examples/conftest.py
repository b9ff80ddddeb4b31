"""Fixtures of the example-template tests: coderd serving the shipped agent, and the CLI.

``templates_coderd`` is a real coderd with its built-in provisioner daemons,
the provider mirror, and the PyInstaller ``--onefile`` agent at ``/bin/`` (what
a bundle installs): the templates' init scripts download that binary into the
sandbox or container, where this checkout's venv does not exist.
"""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.examples.workspacetest")

from tests.kit.coderd import create_first_user


@pytest.fixture
def templates_coderd(coderd_factory, provider_mirror, agent_binaries):
    """coderd with provisioner daemons, the provider mirror and the agent binary."""
    return coderd_factory(env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "1",
                               "CODER_AGENT_BINARY_DIR": str(agent_binaries),
                               "CODER_AGENT_STATS_REFRESH_INTERVAL": "2s"})


@pytest.fixture
def owner_cli(cli, templates_coderd):
    """The real ``coder`` CLI, logged in as the first user (an owner), and its SDK client."""
    owner, _ = create_first_user(templates_coderd)
    return cli.log_in_as(templates_coderd.url, owner.token), owner
