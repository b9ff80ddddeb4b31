"""A real PostgreSQL server for tests: Debian's binaries, a throwaway cluster on 127.0.0.1.

PostgreSQL refuses to run as root, so when the tests run as root the cluster
belongs to the ``postgres`` system user that Debian's package creates. A server
may instead start as a streaming-replication standby of another
(``start_standby``: pg_basebackup), be promoted, shut down fast (a switchover)
or crash (every process killed): what Patroni does to a cluster, done by hand.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import psycopg2

from tests.kit import process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: run ./dev setup "
                           "(it installs Debian's postgresql package)")
    return os.path.dirname(candidates[-1])


# Fast and unsafe: the data need not survive a crash of the machine.
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "400"}


class PostgresServer:
    def __init__(self, settings: dict | None = None) -> None:
        """``settings``: given on the command line, over ``SETTINGS``."""
        self.settings = {**SETTINGS, **(settings or {})}
        self.bindir = _bindir()
        self.port = free_port()
        # On disk, not in /tmp: each test's database is a copy of the migrated template,
        # and a whole run's add up to more than a container's /tmp tmpfs holds.
        self.root = tempfile.mkdtemp(prefix="coder-appliance-pg-", dir="/var/tmp")
        self.data = os.path.join(self.root, "data")
        self.user = "postgres" if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    def _run_as(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def start(self) -> "PostgresServer":
        self._own_root()
        subprocess.run(self._run_as([f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self._launch()

    def start_standby(self, primary: "PostgresServer") -> "PostgresServer":
        """A hot standby streaming from ``primary`` (``-R``: it knows where from)."""
        self._own_root()
        subprocess.run(self._run_as([f"{self.bindir}/pg_basebackup", "-h", "127.0.0.1",
                                     "-p", str(primary.port), "-U", "postgres", "-D", self.data,
                                     "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self._launch()

    def promote(self) -> None:
        """The standby becomes a primary (returns once it accepts writes)."""
        subprocess.run(self._run_as([f"{self.bindir}/pg_ctl", "promote", "-w", "-D", self.data]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def shutdown(self) -> None:
        """A fast shutdown, as a switchover does: sessions are ended, standbys get all WAL."""
        subprocess.run(self._run_as([f"{self.bindir}/pg_ctl", "stop", "-m", "fast", "-w",
                                     "-D", self.data]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.proc.wait()

    def crash(self) -> None:
        """Every process of the server killed at once: no shutdown, as when its host dies."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _own_root(self) -> None:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _launch(self) -> "PostgresServer":
        options = [arg for key, value in self.settings.items() for arg in ("-c", f"{key}={value}")]
        self.proc = subprocess.Popen(self._run_as([
            f"{self.bindir}/postgres", "-D", self.data, "-h", "127.0.0.1", "-p", str(self.port),
            "-k", self.root, *options]), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.root, "log"), "ab"))
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(self.dsn("postgres")).close()
                return self
            except psycopg2.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n"
                                       + open(os.path.join(self.root, "log")).read())
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        conn = psycopg2.connect(self.dsn("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        conn.close()
        return name

    def stop(self) -> None:
        process.stop(self.proc, timeout=15)
        shutil.rmtree(self.root, ignore_errors=True)
