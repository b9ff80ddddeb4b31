"""A coderd shared by a test module, for tests that only add data."""
from __future__ import annotations

import pytest

from ..coderdtest import create_first_user, start_coderd


@pytest.fixture(scope="module")
def shared_coderd(pg_server, pg_template):
    c = start_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def shared_owner(shared_coderd):
    client, _ = create_first_user(shared_coderd)
    return client
