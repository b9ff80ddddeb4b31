"""Numbered up/down SQL migrations, applied under an advisory lock.

Files are ``NNNNNN_name.up.sql`` and ``NNNNNN_name.down.sql`` in
``server/db/migrations``. Each migration runs in its own transaction together
with the row that records it, so a failed migration leaves nothing behind.
The advisory lock makes concurrent coderd starts safe: the second waits, then
finds nothing left to do.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from .pool import connect

log = logging.getLogger(__name__)

# Any constant shared by all coderd processes; spells "coderdmi".
ADVISORY_LOCK_ID = 0x636F646572646D69
_NAME = re.compile(r"^(\d{6})_([a-z0-9_]+)\.(up|down)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


def available() -> list[Migration]:
    files: dict[int, dict[str, str]] = {}
    names: dict[int, str] = {}
    for entry in resources.files("server.db").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if not m:
            continue
        version = int(m.group(1))
        names[version] = m.group(2)
        files.setdefault(version, {})[m.group(3)] = entry.read_text()
    migrations = []
    for version in sorted(files):
        parts = files[version]
        if set(parts) != {"up", "down"}:
            raise RuntimeError(f"migration {version:06d} needs both .up.sql and .down.sql")
        migrations.append(Migration(version, names[version], parts["up"], parts["down"]))
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise RuntimeError("migration numbers must be consecutive from 000001")
    return migrations


def _current(cur) -> int:
    cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer NOT NULL)")
    cur.execute("SELECT max(version) FROM schema_migrations")
    return cur.fetchone()[0] or 0


def up(dsn: str) -> int:
    """Apply every pending migration; return the version the schema is at."""
    return _run(dsn, target=None)


def down(dsn: str, target: int = 0) -> int:
    """Roll back to ``target`` (0 drops everything the migrations made)."""
    return _run(dsn, target=target)


def _run(dsn: str, target: int | None) -> int:
    migrations = available()
    conn = connect(dsn, "coderd-migrate")  # autocommit, with the pool's timeouts
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_ID,))
            try:
                conn.autocommit = False
                version = _current(cur)
                conn.commit()
                if version > len(migrations):
                    raise RuntimeError(f"database schema {version} is newer than this coderd "
                                       f"({len(migrations)}): upgrade coderd")
                if target is None:
                    for m in migrations[version:]:
                        log.info("applying migration %06d_%s", m.version, m.name)
                        cur.execute(m.up)
                        cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (m.version,))
                        conn.commit()
                        version = m.version
                else:
                    for m in reversed(migrations[target:version]):
                        log.info("reverting migration %06d_%s", m.version, m.name)
                        cur.execute(m.down)
                        cur.execute("DELETE FROM schema_migrations WHERE version = %s", (m.version,))
                        conn.commit()
                        version = m.version - 1
                return version
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.autocommit = True
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_ID,))
    finally:
        conn.close()
