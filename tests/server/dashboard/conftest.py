"""Fixtures of the dashboard's browser tests: a coderd at coder.test and a checked browser."""
from __future__ import annotations

import pytest

from tests.kit.browser import chromium, loopback_names  # noqa: F401
from tests.kit.coderd import create_first_user
from tests.kit.dashboard import Dashboard, start_dashboard_coderd, test_output  # noqa: F401
from tests.kit.localtemplate import local_template_coderd


@pytest.fixture(scope="module")
def site(pg_server, pg_template):
    """A coderd at coder.test, its first user made, shared by a module's tests."""
    yield from _site(pg_server, pg_template)


@pytest.fixture(scope="module")
def provisioning_site(pg_server, pg_template, provider_mirror):
    """``site`` with a built-in provisioner daemon and the provider mirror: templates are
    imported and workspaces built by real terraform."""
    yield from _site(pg_server, pg_template, {"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                              "CODER_PROVISIONER_DAEMONS": "1"})


@pytest.fixture(scope="module")
def local_site(pg_server, pg_template, provider_mirror, agent_binaries):
    """A coderd on ``localhost`` whose provisioner builds the ``local`` example template
    with the shipped agent, and its owner (the coder.test attack pages are then another
    site, whose forms coderd refuses all the same)."""
    with loopback_names(), local_template_coderd(
            pg_server.dsn(pg_server.create_database(template=pg_template)), provider_mirror,
            agent_binaries) as site:
        yield site


def _site(pg_server, pg_template, env: dict | None = None):
    with loopback_names():
        coderd = start_dashboard_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                                        env)
        try:
            owner, _ = create_first_user(coderd)
            yield coderd, owner
        finally:
            coderd.stop()


@pytest.fixture
def dashboard(site, chromium, test_output):  # noqa: F811
    return Dashboard(chromium, site[0], test_output)

