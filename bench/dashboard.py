"""Dashboard benchmark: the workspaces page's server time with 1,000 workspaces, and the bytes
of a cold load of each page (the workspace page's with one of them).

coderd runs on loopback (one process, its own PostgreSQL database); an owner owns 1,000
workspaces of one template, their builds completed. The page's time is the median of
``--runs`` requests for ``/workspaces?q=`` (every workspace visible: Coder's page of 25,
first and last), taken on loopback, so it is the server's time. A cold load is the page
and every file it names (stylesheet, script, icon), as a browser with an empty cache
fetches them, counted as sent (coderd gzips text files for a client that accepts it): the
login, workspaces and templates pages (the list, a template's page, its version's and the
create-workspace form). Rerun with:

    .venv/bin/python -m bench.dashboard [--workspaces 1000] [--runs 30]

and paste the printed table into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import time
import uuid

import requests

from appliance.sdk import types
from tests.kit.coderd import create_first_user, start_coderd
from tests.kit.postgres import PostgresServer
from tests.kit.provisioning import make_template, sql

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def populate(coderd, owner, count: int) -> tuple[types.Template, str]:
    """``count`` workspaces of one template: the template and the last workspace's name."""
    template = make_template(owner, coderd.dsn)
    for _ in range(count):
        name = "w" + uuid.uuid4().hex[:10]
        owner.create_workspace(types.CreateWorkspaceRequest(name=name, template_id=template.id))
    sql(coderd.dsn, "UPDATE provisioner_jobs SET started_at = now(), completed_at = now() "
                    "WHERE completed_at IS NULL")
    return template, name


def median_ms(session: requests.Session, url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        resp = session.get(url)
        times.append((time.perf_counter() - start) * 1000)
        resp.raise_for_status()
    return statistics.median(times)


def wire_bytes(session: requests.Session, url: str) -> int:
    """The body's bytes as coderd sent them (gzipped where it gzips)."""
    with session.get(url, stream=True) as resp:
        resp.raise_for_status()
        return len(resp.raw.read(decode_content=False))


def cold_load_bytes(url: str, cookies: dict) -> int:
    """The page and every static file it names, fetched as an empty cache does (accepting
    gzip, as browsers do): the bytes on the wire."""
    session = requests.Session()
    session.cookies.update(cookies)
    page = session.get(url)
    page.raise_for_status()
    base = url.split("/", 3)
    origin = "/".join(base[:3])
    return len(page.content) + sum(wire_bytes(session, origin + path)
                                   for path in ASSET.findall(page.text))


def run(args) -> list[tuple[str, str]]:
    pg = PostgresServer().start()
    coderd = start_coderd(pg.dsn(pg.create_database()), timeout=180)
    try:
        owner, _ = create_first_user(coderd)
        template, workspace = populate(coderd, owner, args.workspaces)
        version = owner.template_version(template.active_version_id).name
        session = requests.Session()
        session.cookies.set("coder_session_token", owner.token)
        last = -(-args.workspaces // 25)
        session.get(coderd.url + "/workspaces?q=")  # warm up
        rows = [(f"GET /workspaces?q= (page 1 of {last}, {args.workspaces} workspaces)",
                 f"{median_ms(session, coderd.url + '/workspaces?q=', args.runs):.1f} ms"),
                (f"GET /workspaces?q=&page={last}",
                 f"{median_ms(session, coderd.url + f'/workspaces?q=&page={last}', args.runs):.1f} ms")]
        signed_in = {"coder_session_token": owner.token}
        for path, cookies in (("/login", {}), ("/workspaces?q=", signed_in),
                              (f"/@admin/{workspace}", signed_in),
                              ("/templates", signed_in), (f"/templates/{template.name}", signed_in),
                              (f"/templates/{template.name}/versions/{version}", signed_in),
                              (f"/templates/{template.name}/workspace", signed_in)):
            rows.append((f"cold load of {path}",
                         f"{cold_load_bytes(coderd.url + path, cookies) / 1024:.1f} KB"))
        return rows
    finally:
        coderd.stop()
        shutil.rmtree(coderd.config_dir, ignore_errors=True)
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rows = run(args)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
