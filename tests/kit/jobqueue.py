"""Provisioner daemons that do nothing, against coderd's job queue: the queue's tests and
``bench/builds.py`` drain jobs with them."""
from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
import uuid

from appliance.sdk.provisionerd import CompleteJobRequest, ProvisionerDaemonClient, RegisterDaemonRequest

PSK = "queue-test-psk"


def drain(url: str, daemons: int, expected: int) -> tuple[dict[uuid.UUID, list[str]], float]:
    """Run ``daemons`` no-op daemons until ``expected`` jobs are done.

    Returns who ran what, and the seconds from the first acquire to the last
    job taken (the daemons' last long polls after that are not counted).
    """
    taken: dict[uuid.UUID, list[str]] = collections.defaultdict(list)
    times: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def daemon(index: int) -> None:
        client = ProvisionerDaemonClient(url, PSK, timeout=30)
        me = client.register(RegisterDaemonRequest(name=f"noop-{index}")).id
        while not done.is_set():
            job = client.acquire(me)
            if job is None:
                continue
            with lock:
                taken[job.job_id].append(f"noop-{index}")
                if len(taken) == expected:
                    times.append(time.monotonic())
                    done.set()
            client.complete_job(me, job.job_id, CompleteJobRequest())

    with concurrent.futures.ThreadPoolExecutor(daemons) as pool:
        start = time.monotonic()
        futures = [pool.submit(daemon, i) for i in range(daemons)]
        done.wait(120)
        for f in futures:
            f.result(timeout=60)
    return taken, (times[0] - start if times else float("inf"))
