"""install.sh with the database choices, on a booted minimal Debian 12 host with no route.

One bundle, built as a bundle manifest with ``postgres: debian`` and an extra
package would build it (installkit's, MANIFEST.json recording both): install.sh
sets up Debian's PostgreSQL from the bundle with coderd's database and role
(peer authentication over the unix socket, no password), points coderd at it
and installs the extra package, the administrator naming neither; a rerun and
check mode change nothing; an uninstall keeps the database. Then the same
server serves as an external database with a password, named by
``--postgres-url``: coderd uses it, and the URL is nowhere in install.sh's
output. A purge drops coderd's database and leaves the server and the other one. No
process of the host ever tried to leave it.
"""
from __future__ import annotations

import json

import pytest

from ..hosts import BootedHost, minimal_debian_root, off_host
from .installkit import (HOSTNAME, OWNER, api, bundle, changed_tasks, check_mode, exists,
                         install, is_active, recap, unpack)

pytestmark = pytest.mark.booted_hosts

EXTRA = ("tmux",)
SOCKET_URL = "postgresql:///coder_appliance?host=/run/postgresql&port=5432"
EMBEDDED = "/var/lib/coder-appliance/coderd/postgres"
EXTERNAL_PASSWORD = "Ext-Db-Pass-7-Hidden"
EXTERNAL_URL = f"postgresql://coder_ext:{EXTERNAL_PASSWORD}@127.0.0.1:5432/coder_ext"


@pytest.fixture(scope="module")
def sealed():
    with bundle("debian", EXTRA) as made:
        yield made


def psql(host: BootedHost, sql: str, database: str = "postgres") -> list[str]:
    """``sql``'s rows as the server's superuser, over the socket."""
    done = host.run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                     "-d", database, "-c", sql])
    return done.stdout.splitlines()


def tables(host: BootedHost, database: str) -> list[str]:
    return psql(host, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database)


def databases(host: BootedHost) -> dict[str, str]:
    """Database name -> owner."""
    rows = psql(host, "SELECT datname, pg_get_userbyid(datdba) FROM pg_database")
    return dict(row.split("|") for row in rows)


def coderd_unit(host: BootedHost) -> str:
    return host.run(["systemctl", "show", "coderd", "-p", "After", "-p", "Wants"]).stdout


def test_debian_postgresql_then_an_external_url(sealed, tmp_path):
    fingerprint, tar = sealed
    with BootedHost(minimal_debian_root(), tmp_path / "host") as host:
        host.run(["sh", "-c", f"echo '127.0.0.1 {HOSTNAME}' >> /etc/hosts"])
        folder = unpack(host, tar)

        install(host, folder, fingerprint, traced=False)
        env = host.run(["cat", "/etc/coder-appliance/coderd.env"]).stdout
        assert f"CODER_PG_CONNECTION_URL={SOCKET_URL}\n" in env
        assert is_active(host, "postgresql") == "active" and is_active(host, "coderd") == "active"
        assert "postgresql.service" in coderd_unit(host)
        assert databases(host)["coder_appliance"] == "coder-appliance"
        assert psql(host, "SELECT rolpassword IS NULL FROM pg_authid "
                    "WHERE rolname = 'coder-appliance'") == ["t"]
        assert {"users", "workspaces"} <= set(tables(host, "coder_appliance"))
        assert exists(host, EMBEDDED) == []
        status, _ = api(host, "POST", "/api/v2/users/first", {**OWNER, "trial": False})
        assert status == 201
        assert psql(host, "SELECT username FROM users WHERE NOT is_system", "coder_appliance") == [OWNER["username"]]
        for name in EXTRA:
            assert host.run(["dpkg-query", "-W", "-f", "${Status}", name]).stdout \
                == "install ok installed"

        again = install(host, folder, fingerprint, traced=False)
        assert recap(again.stdout)["changed"] == 0, f"changed again: {changed_tasks(again.stdout)}"
        checked = check_mode(host, folder, "-e", json.dumps(
            {"appliance_postgres": "debian", "appliance_extra_packages": list(EXTRA)}))
        assert recap(checked.stdout)["changed"] == 0, f"check mode: {changed_tasks(checked.stdout)}"

        removed = install(host, folder, fingerprint, "--uninstall", traced=False)
        assert "its data and configuration are kept" in removed.stdout
        assert is_active(host, "coderd") != "active"
        assert is_active(host, "postgresql") == "active"
        assert psql(host, "SELECT username FROM users WHERE NOT is_system", "coder_appliance") == [OWNER["username"]]

        # The same server as an "external" database: over TCP, with a password.
        psql(host, f"CREATE ROLE coder_ext LOGIN PASSWORD '{EXTERNAL_PASSWORD}'")
        psql(host, "CREATE DATABASE coder_ext OWNER coder_ext")
        external = install(host, folder, fingerprint, "--postgres-url", EXTERNAL_URL,
                           traced=False)
        for text in (external.stdout, external.stderr):
            assert EXTERNAL_PASSWORD not in text and EXTERNAL_URL not in text
        env = host.run(["cat", "/etc/coder-appliance/coderd.env"]).stdout
        assert f"CODER_PG_CONNECTION_URL={EXTERNAL_URL}\n" in env
        assert "postgresql.service" not in coderd_unit(host)
        assert exists(host, EMBEDDED) == []
        # A new database: coderd migrated it and has no user yet.
        assert "users" in tables(host, "coder_ext")
        status, _ = api(host, "POST", "/api/v2/users/first", {**OWNER, "trial": False})
        assert status == 201
        assert psql(host, "SELECT username FROM users WHERE NOT is_system", "coder_ext") == [OWNER["username"]]

        purged = install(host, folder, fingerprint, "--uninstall", "--purge", traced=False)
        assert "removed coder-appliance, its data and its configuration" in purged.stdout
        left = databases(host)
        assert "coder_appliance" not in left and left["coder_ext"] == "coder_ext"
        assert psql(host, "SELECT count(*) FROM pg_roles WHERE rolname = 'coder-appliance'") \
            == ["0"]
        assert is_active(host, "postgresql") == "active"
        assert off_host(host.connects()) == [], "a process of the host tried to leave it"
