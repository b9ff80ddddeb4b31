"""API benchmark: authenticated GET /users/me and GET /users under wrk.

coderd runs with gunicorn and 2 gevent workers on loopback, first with its
embedded PostgreSQL, then with an external PostgreSQL server (Debian's). wrk
holds 50 connections open for each run. Rerun with:

    .venv/bin/python -m bench.api [--duration 15] [--connections 50] [--users 100]

and paste the printed table into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys

from appliance.sdk import types
from tests.kit.coderd import create_first_user, start_coderd
from tests.kit.postgres import PostgresServer


def wrk(url: str, token: str, duration: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
         "-H", f"Coder-Session-Token: {token}", url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"],
            "errors": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def run(database: str, dsn: str | None, args) -> list[dict]:
    coderd = start_coderd(dsn, env={"CODER_HTTP_WORKERS": "2", "CODER_PG_POOL_SIZE": "20"},
                          timeout=180)
    try:
        owner, _ = create_first_user(coderd)
        for i in range(args.users - 1):
            owner.create_user(types.CreateUserRequest(email=f"bench{i}@example.com",
                                                      username=f"bench{i}", login_type="none"))
        token = owner.create_token(token_name="bench")
        wrk(coderd.url + "/api/v2/users/me", token, 3, args.connections)  # warm up
        rows = []
        for path in ("/api/v2/users/me", f"/api/v2/users?limit={args.page}"):
            result = wrk(coderd.url + path, token, args.duration, args.connections)
            rows.append({"database": database, "path": "GET " + path, **result})
        return rows
    finally:
        coderd.stop()
        shutil.rmtree(coderd.config_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--users", type=int, default=100, help="users in the deployment")
    parser.add_argument("--page", type=int, default=25, help="page size for GET /users")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: ./dev setup --test installs it")
    rows = run("embedded", None, args)
    pg = PostgresServer().start()
    try:
        rows += run("external", pg.dsn(pg.create_database()), args)
    finally:
        pg.stop()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.python_implementation()} {platform.python_version()}")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, coderd with 2 gunicorn gevent workers, "
          f"{args.users} users\n")
    print("| database | request | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['database']} | {r['path']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
