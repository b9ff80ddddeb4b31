"""Fixtures every test can use: a real PostgreSQL, real coderd processes and the real CLI."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.kit")

from server.app import prepare_database  # noqa: E402

from tests.kit.cli import CoderCLI, new_cli
from tests.kit.coderd import PostgresServer, create_first_user, running_coderd, start_coderd
from tests.kit.localtemplate import build_shipped_agent


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server) -> str:
    """A database at the newest schema, cloned for each test that needs one."""
    name = pg_server.create_database()
    prepare_database(pg_server.dsn(name))
    return name


@pytest.fixture
def database(pg_server, pg_template) -> str:
    """The DSN of a fresh, migrated database of this test's own."""
    return pg_server.dsn(pg_server.create_database(template=pg_template))


@pytest.fixture
def coderd_factory(pg_server, pg_template):
    started = []

    def make(env: dict | None = None, args: list[str] = (), dsn: str | None = "new"):
        if dsn == "new":
            dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
        c = start_coderd(dsn, env=env, args=list(args))
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()
        # Shown by pytest only when the test failed.
        print(f"--- coderd log ({c.url}) ---\n" + "\n".join(c.log().splitlines()[-80:]))


@pytest.fixture
def coderd(coderd_factory):
    return coderd_factory()


@pytest.fixture
def owner(coderd):
    """A client logged in as the first user (an owner)."""
    client, _ = create_first_user(coderd)
    return client


@pytest.fixture(scope="module")
def shared_coderd(pg_server, pg_template):
    """A coderd shared by a test module, for tests that only add uniquely named data."""
    with running_coderd(pg_server, pg_template) as c:
        yield c


@pytest.fixture(scope="module")
def shared_owner(shared_coderd):
    client, _ = create_first_user(shared_coderd)
    return client


@pytest.fixture(scope="session")
def provider_mirror() -> str:
    """The packed provider mirror (coder/coder and hashicorp/null), built once and cached."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    mirror = root / ".cache" / "provider-mirror"
    subprocess.run([sys.executable, str(root / "packaging" / "build_provider.py"), "--mirror", str(mirror)],
                   check=True, capture_output=True)
    return str(mirror)


@pytest.fixture
def provisioning_coderd(coderd_factory, provider_mirror):
    """A coderd with its built-in provisioner daemons and the provider mirror."""
    return coderd_factory(env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                               "CODER_PROVISIONER_DAEMONS": "2",
                               "CODER_PROVISIONER_STALE_AFTER": "6s"})


@pytest.fixture
def cli(tmp_path) -> CoderCLI:
    """The real ``coder`` CLI with a config folder of this test's own."""
    return new_cli(tmp_path / "coderv2")


@pytest.fixture(scope="session")
def agent_binaries(tmp_path_factory):
    """A folder holding coder-agent-linux-amd64, the PyInstaller build (cached by source hash)."""
    return build_shipped_agent(tmp_path_factory.mktemp("agent-binaries"))
