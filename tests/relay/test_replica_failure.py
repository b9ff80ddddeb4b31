"""A coderd replica killed (its built-in provisioner daemon and terraform with it) behind a
balancer: the agent it held reconnects to the other replica within 10 s, the SSH session
through it ends cleanly and a new one works at once, the build its daemon was running is
failed by the reaper with a message and can be retried, and what is queued runs on the
other replica."""
from __future__ import annotations

import os
import signal
import time

import psutil

from appliance.sdk import types

from tests.kit import process
from tests.kit.agent import remote_sleepers
from tests.kit.balancer import Balancer
from tests.kit.coderd import start_coderd
from tests.kit.postgres import free_port
from tests.kit.provisioning import SLOW_TEMPLATE, Rows, wait_started
from tests.kit.relay import AgentProcess, build_workspace, coder, ssh_running, wait_connected

AGENT_RECONNECTS_WITHIN = 10.0


def kill_replica(coderd) -> None:
    """SIGKILL to the replica and everything it started, as when its machine dies."""
    parent = psutil.Process(coderd.proc.pid)
    for each in [parent, *parent.children(recursive=True)]:
        each.send_signal(signal.SIGKILL)
    coderd.proc.wait()


def test_a_killed_replica(pg_server, pg_template, provider_mirror, tmp_path):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    env = {"CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_PROVISIONER_DAEMONS": "1",
           "CODER_PROVISIONER_STALE_AFTER": "5s"}
    a = start_coderd(dsn, env=env)
    b_port = free_port()
    balancer = Balancer([("127.0.0.1", int(a.url.rsplit(":", 1)[1])), ("127.0.0.1", b_port)])
    b = agent = session = None
    try:
        ws = build_workspace(a, tmp_path)
        (ws.config_dir / "url").write_text(balancer.url)
        owner = ws.owner
        owner.url = balancer.url
        # A build that a's daemon (the only one yet) is running when a dies.
        user = owner.user()
        rows = Rows(dsn, user.id, user.organization_ids[0])
        slow_version, job_id = rows.import_version({"main.tf": SLOW_TEMPLATE})
        assert rows.wait(job_id)["job_status"] == "succeeded"
        template = rows.template(slow_version)
        slow_workspace = rows.workspace(template)
        _, running = rows.build(slow_workspace, slow_version, "start")
        wait_started(rows, running)
        b = start_coderd(dsn, env={**env, "CODER_HTTP_ADDRESS": f"127.0.0.1:{b_port}",
                                   "CODER_ACCESS_URL": f"http://127.0.0.1:{b_port}"})

        agent = AgentProcess(balancer.url, ws.token, tmp_path).start()
        wait_connected(owner, ws.agent_id)
        marker = f"sleep 86398.{os.getpid()}"
        session = ssh_running(ws, marker)

        killed = time.monotonic()
        kill_replica(a)
        # The session ends (no hang) with an error, not a traceback, and its command too.
        _, err = session.communicate(timeout=20)
        assert session.returncode != 0 and b"Traceback" not in err, err
        wait_connected(owner, ws.agent_id, timeout=AGENT_RECONNECTS_WITHIN)
        assert time.monotonic() - killed < AGENT_RECONNECTS_WITHIN
        deadline = time.monotonic() + 10
        while remote_sleepers(marker):
            assert time.monotonic() < deadline, f"outlived its session: {remote_sleepers(marker)}"
            time.sleep(0.2)
        r = coder(ws, "ssh", ws.name, "--", "echo again")
        assert r.returncode == 0 and r.stdout == b"again\n", r.stderr

        job = rows.wait(running, timeout=30)
        assert job["job_status"] == "failed" and job["error_code"] == "daemon_lost", job
        assert job["error"] == "The provisioner daemon running this job stopped responding."
        # Retried: a new build of that workspace runs on b's daemon.
        fast = SLOW_TEMPLATE.replace("sleep 60", "true")
        fast_version, job_id = rows.import_version({"main.tf": fast})
        assert rows.wait(job_id, timeout=90)["job_status"] == "succeeded"
        rows.q("UPDATE template_versions SET template_id = %s WHERE id = %s",
               (template, fast_version))
        build = owner.create_workspace_build(slow_workspace, types.CreateWorkspaceBuildRequest(
            transition="start", template_version_id=fast_version))
        job = rows.wait(build.job.id, timeout=90)
        assert job["job_status"] == "succeeded", job["error"]
        assert "Traceback" not in b.log(), b.log()[-3000:]
        rows.conn.close()
    finally:
        process.stop(session, signal.SIGKILL)
        if agent:
            agent.stop()
        balancer.stop()
        for replica in (a, b):
            if replica is not None:
                replica.stop()
