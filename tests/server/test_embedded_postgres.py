"""The embedded PostgreSQL (``server.db.embedded``) as coderd runs it: started from the
wheel, reached, and stopped through the wheel's exported ``pg_ctl``."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from server.db.embedded import EmbeddedPostgres


def test_the_embedded_postgresql_starts_serves_and_stops(monkeypatch, tmp_path):
    # As tests/kit/coderd.py's: under root the wheel's own user must reach the data directory.
    config = Path(tempfile.mkdtemp(prefix="embedded-pg-test-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the wheel locks there, at exit too
    embedded = EmbeddedPostgres(config)
    try:
        try:
            for url in embedded.start(), EmbeddedPostgres(config).running_url():
                assert database_of(url) == "coder"
        finally:
            embedded.stop()
        with pytest.raises(RuntimeError, match="no embedded PostgreSQL is running"):
            EmbeddedPostgres(config).running_url()
    finally:
        shutil.rmtree(config, ignore_errors=True)


def database_of(url: str) -> str:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            return cur.fetchone()[0]
    finally:
        conn.close()
