"""The job queue: many daemons against many jobs, each job run exactly once."""
from __future__ import annotations

import concurrent.futures
import socket
import time

import pytest

from appliance.sdk.provisionerd import PSK_HEADER, ProvisionerDaemonClient, RegisterDaemonRequest

from tests.kit.coderd import create_first_user
from tests.kit.jobqueue import PSK, drain
from tests.kit.provisioning import Rows


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_job_runs_exactly_once(coderd_factory, workers):
    coderd = coderd_factory(env={"CODER_PROVISIONER_DAEMON_PSK": PSK, "CODER_HTTP_WORKERS": workers})
    _, first = create_first_user(coderd)
    rows = Rows(coderd.dsn, first.user_id, first.organization_id)
    jobs = [rows.import_version({"main.tf": "# no-op\n"})[1] for _ in range(150)]
    taken, _ = drain(coderd.url, daemons=10, expected=len(jobs))
    assert set(taken) == set(jobs)
    assert all(len(who) == 1 for who in taken.values()), {j: w for j, w in taken.items() if len(w) > 1}
    statuses = rows.q("SELECT job_status, count(*) FROM provisioner_jobs GROUP BY 1")
    assert statuses == [{"job_status": "succeeded", "count": len(jobs)}]
    assert len({w[0] for w in taken.values()}) > 1, "one daemon took every job"
    rows.conn.close()


def test_a_daemon_that_hung_up_mid_poll_takes_no_job(coderd_factory):
    """A daemon killed during its long poll must not be handed the next job."""
    coderd = coderd_factory(env={"CODER_PROVISIONER_DAEMON_PSK": PSK})
    _, first = create_first_user(coderd)
    rows = Rows(coderd.dsn, first.user_id, first.organization_id)
    daemon_id = ProvisionerDaemonClient(coderd.url, PSK).register(
        RegisterDaemonRequest(name="gone")).id
    host, port = coderd.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"POST /api/v2/provisionerd/{daemon_id}/acquire HTTP/1.1\r\nHost: {host}\r\n"
                     f"{PSK_HEADER}: {PSK}\r\nContent-Length: 0\r\n\r\n".encode())
        time.sleep(1)  # coderd is waiting for a job on this poll now
    _, job_id = rows.import_version({"main.tf": "# no-op\n"})
    time.sleep(2)
    assert rows.q("SELECT started_at FROM provisioner_jobs WHERE id = %s", (job_id,))[0]["started_at"] is None
    # A daemon that is there takes it.
    client = ProvisionerDaemonClient(coderd.url, PSK, timeout=30)
    me = client.register(RegisterDaemonRequest(name="here")).id
    job = client.acquire(me)
    assert job is not None and job.job_id == job_id


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stopping_coderd_answers_its_long_polls(coderd_factory, workers):
    """SIGTERM during daemons' long polls: each gets "no job" (204) at once, not a
    500 when the server gives up on the request."""
    coderd = coderd_factory(env={"CODER_PROVISIONER_DAEMON_PSK": PSK, "CODER_HTTP_WORKERS": workers})
    client = ProvisionerDaemonClient(coderd.url, PSK, timeout=30)
    daemons = [client.register(RegisterDaemonRequest(name=f"d{i}")).id for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(len(daemons)) as pool:
        polls = [pool.submit(client.acquire, d) for d in daemons]
        time.sleep(1)  # every poll is waiting for a job now
        started = time.monotonic()
        coderd.proc.terminate()
        assert [p.result() for p in polls] == [None] * len(daemons)  # a 500 would raise
        assert time.monotonic() - started < 3
    coderd.proc.wait(20)
