"""Start-up of the shipped executables: onefile vs onedir vs the venv's Python.

What ``packaging/executables.py`` builds each executable as is chosen from
these figures. For each executable, the same entry point is started three
ways, and the time from exec to the moment it has done its first job is
taken: ``--help`` answered and exited (coder, appliance, coder-agent), the
go-plugin handshake line (terraform-provider-coder: terraform waits for it
3-5 times per command), ``/healthz`` answering 200 (coderd, on an external,
already-migrated PostgreSQL, no built-in provisioners). Medians of
``--rounds`` starts after one warm-up start (warm page cache), the variants
interleaved so machine load hits them alike. Also prints each build's size.

    .venv/bin/python bench/executables.py [--rounds 5] [NAME ...]
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "packaging"))

import executables  # noqa: E402
from bench.provider_startup import handshake_seconds  # noqa: E402
from tests.kit.postgres import PostgresServer, free_port  # noqa: E402

VARIANTS = ("venv python", "onefile", "onedir")


def commands(name: str) -> dict[str, list[str]]:
    """How to start ``name`` each way (the onedir one through bin/NAME's layout)."""
    module, function = executables.EXECUTABLES[name].entry.split(":")
    python = [sys.executable, "-c", f"import sys; sys.argv[0] = {name!r}; "
              f"from {module} import {function}; raise SystemExit({function}())"]
    onedir = executables.cached_build(name, onefile=False, progress=print)
    return {"venv python": python,
            "onefile": [str(executables.cached_build(name, onefile=True, progress=print))],
            "onedir": [str(onedir / name)]}


def help_seconds(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([*cmd, "--help"], env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def provider_seconds(cmd: list[str], env: dict) -> float:
    return handshake_seconds(Path(cmd[0]), Path(env["HOME"]))


def healthz_seconds(cmd: list[str], env: dict) -> float:
    """exec of ``coderd server`` to /healthz 200; then it is stopped."""
    port = free_port()
    env = {**env, "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}",
           "CODER_ACCESS_URL": f"http://127.0.0.1:{port}"}
    start = time.perf_counter()
    proc = subprocess.Popen([*cmd, "server"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd}: coderd exited with {proc.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except requests.ConnectionError:
                pass
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("names", nargs="*", metavar="NAME", default=list(executables.ALL))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-executables-"))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(REPO)}
    pg = None
    try:
        for name in args.names:
            pg = _bench(name, args.rounds, home, env, pg)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _bench(name: str, rounds: int, home: Path, env: dict, pg: PostgresServer | None):
    """Measure and print one executable; returns the PostgreSQL coderd's runs use."""
    cmds = commands(name)
    measure = help_seconds
    run_env = env
    if name == "terraform-provider-coder":
        cmds["venv python"] = [str(_script(cmds["venv python"], home / "provider-venv"))]
        measure = provider_seconds
    elif name == "coderd":
        if pg is None:
            pg = PostgresServer().start()
        run_env = {**env, "CODER_PG_CONNECTION_URL": pg.dsn(pg.create_database()),
                   "CODER_CONFIG_DIR": str(home / "coderd"), "CODER_PROVISIONER_DAEMONS": "0"}
        measure = healthz_seconds
    times = {v: [] for v in VARIANTS}
    for variant in VARIANTS:  # warm-up (and coderd's migrations, once)
        measure(cmds[variant], run_env)
    for _ in range(rounds):
        for variant in VARIANTS:
            times[variant].append(measure(cmds[variant], run_env))
    sizes = {kind: size(executables.cached_build(name, onefile=kind == "onefile"))
             for kind in ("onefile", "onedir")}
    line = "  ".join(f"{v} {statistics.median(t) * 1000:6.0f} ms (max {max(t) * 1000:.0f})"
                     for v, t in times.items())
    print(f"{name:25} {line}  |  onefile {sizes['onefile'] / 1e6:.0f} MB, "
          f"onedir {sizes['onedir'] / 1e6:.0f} MB", flush=True)
    return pg


def _script(cmd: list[str], path: Path) -> Path:
    """The venv-Python command as an executable file (terraform, like the timer, execs a path)."""
    path.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {shlex.join(cmd)}\n")
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
