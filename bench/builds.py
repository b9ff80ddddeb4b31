"""Workspace builds and the job queue, measured.

1. Create-to-succeeded with the ``local`` example template: a workspace is
   created through the API and timed until its build succeeds, split into
   queue wait (created -> started), terraform init, and plan + apply (from the
   job's log stages), over ``--builds`` workspaces made one after another.
2. Queue throughput: ``--daemons`` no-op daemons (HTTP clients of the real
   daemon API) drain ``--jobs`` queued jobs; jobs acquired per second.

    .venv/bin/python -m bench.builds [--builds 10] [--jobs 500] [--daemons 10]

Provider start-up, on the critical path of every terraform command, is
measured by bench/provider_startup.py.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.archives import template_tar
from appliance.sdk import types
from tests.kit.coderd import create_first_user, start_coderd
from tests.kit.postgres import PostgresServer
from tests.kit.provisioning import Rows
from tests.kit.jobqueue import PSK, drain

ROOT = Path(__file__).resolve().parents[1]


def wait_job(get, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while True:
        job = get()
        if job.completed_at is not None:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError("build did not finish")
        time.sleep(0.05)


def stage_starts(logs) -> dict[str, float]:
    starts: dict[str, float] = {}
    for log in logs:
        starts.setdefault(log.stage, log.created_at.timestamp())
    return starts


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def builds(pg: PostgresServer, mirror: str, count: int, workspaces_dir: str) -> list[dict]:
    coderd = start_coderd(pg.dsn(pg.create_database()), env={
        "CODER_PROVIDER_MIRROR_DIR": mirror, "CODER_PROVISIONER_DAEMONS": "3"})
    rows = []
    try:
        owner, first = create_first_user(coderd)
        tf_vars = (ROOT / "examples/templates/local/main.tf").read_text().replace(
            '"/var/lib/coder-appliance/workspaces"', f'"{workspaces_dir}"')
        folder = Path(tempfile.mkdtemp())
        shutil.copytree(ROOT / "examples/templates/local", folder, dirs_exist_ok=True)
        (folder / "main.tf").write_text(tf_vars)
        file_id = owner.upload_file(template_tar(folder))
        version = owner.create_template_version(first.organization_id,
                                                types.CreateTemplateVersionRequest(file_id=file_id))
        job = wait_job(lambda: owner.template_version(version.id).job)
        if job.status != "succeeded":
            raise RuntimeError(f"template import failed: {job.error}")
        template = owner.create_template(first.organization_id, types.CreateTemplateRequest(
            name="local", template_version_id=version.id))
        for i in range(count):
            t0 = time.time()
            ws = owner.create_workspace(types.CreateWorkspaceRequest(name=f"bench{i}",
                                                                     template_id=template.id))
            build = ws.latest_build
            job = wait_job(lambda: owner.workspace_build(build.id).job)
            t1 = time.time()
            if job.status != "succeeded":
                raise RuntimeError(f"build failed: {job.error}")
            starts = stage_starts(owner.workspace_build_logs(build.id))
            init = starts.get("Initializing terraform", job.started_at.timestamp())
            plan = starts.get("Planning infrastructure", init)
            rows.append({"total": t1 - t0,
                         "queue": job.started_at.timestamp() - job.created_at.timestamp(),
                         "init": plan - init,
                         "plan_apply": job.completed_at.timestamp() - plan})
        for ws in owner.workspaces().workspaces:
            b = owner.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(transition="delete"))
            wait_job(lambda: owner.workspace_build(b.id).job)
        return rows
    finally:
        coderd.stop()


def queue(pg: PostgresServer, jobs: int, daemons: int) -> float:
    coderd = start_coderd(pg.dsn(pg.create_database()), env={"CODER_PROVISIONER_DAEMON_PSK": PSK})
    try:
        _, first = create_first_user(coderd)
        r = Rows(coderd.dsn, first.user_id, first.organization_id)
        ids = [r.import_version({"main.tf": "# no-op\n"})[1] for _ in range(jobs)]
        taken, elapsed = drain(coderd.url, daemons=daemons, expected=len(ids))
        assert len(taken) == len(ids) and all(len(w) == 1 for w in taken.values())
        r.conn.close()
        return len(ids) / elapsed
    finally:
        coderd.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--daemons", type=int, default=10)
    args = parser.parse_args()
    mirror = str(ROOT / ".cache" / "provider-mirror")
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build_provider.py"), "--mirror", mirror],
                   check=True, capture_output=True)
    workspaces_dir = tempfile.mkdtemp(prefix="bench-workspaces-")
    pg = PostgresServer().start()
    try:
        results = builds(pg, mirror, args.builds, workspaces_dir)
        rate = queue(pg, args.jobs, args.daemons)
    finally:
        pg.stop()
        shutil.rmtree(workspaces_dir, ignore_errors=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    tf = subprocess.run(["terraform", "version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {tf}\n")
    print(f"create -> build succeeded, `local` template, {len(results)} workspaces one after another:\n")
    print("| phase | p50 s | p95 s |")
    print("|---|---:|---:|")
    for key, label in (("total", "create to succeeded"), ("queue", "queue wait"),
                       ("init", "terraform init"), ("plan_apply", "plan + apply + state")):
        values = [r[key] for r in results]
        print(f"| {label} | {statistics.median(values):.2f} | {percentile(values, 95):.2f} |")
    print(f"\nqueue: {args.daemons} no-op daemons drained {args.jobs} jobs at {rate:.0f} jobs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
