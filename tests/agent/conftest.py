"""Fixtures of the agent tests: a coderd whose agents heartbeat every second."""
from __future__ import annotations

import pytest

from tests.kit.agent import HEARTBEAT
from tests.kit.coderd import create_first_user


@pytest.fixture
def agent_coderd(coderd_factory, tmp_path):
    bin_dir = tmp_path / "agent-binaries"
    bin_dir.mkdir()
    return coderd_factory(env={"CODER_AGENT_STATS_REFRESH_INTERVAL": f"{HEARTBEAT}s",
                               "CODER_AGENT_BINARY_DIR": str(bin_dir)})


@pytest.fixture
def agent_owner(agent_coderd):
    client, _ = create_first_user(agent_coderd)
    return client
