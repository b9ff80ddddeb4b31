"""The README's ``./dev run``, in a network namespace with only loopback, every connect() traced.

What a new user does after the quick start: ``./dev run``, log in as the
first user, push ``examples/templates/local``, create a workspace and reach
it with ``coder ssh``. coderd, its embedded PostgreSQL, terraform, the
provider and the agent all run under ``strace -f``; every address any of them
connects or sends to must be on this host, and none may be a DNS server (a
lookup is the first step of leaving it). The setup is done already (the suite
runs after ``./dev test``'s own), so ``./dev run`` installs nothing here.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.kit.coderd import FIRST_USER_PASSWORD
from .hosts import TRACED_CALLS, destinations, off_host
from tests.kit.tools import tool

REPO = Path(__file__).resolve().parents[1]


def test_the_trace_reader_sees_what_would_leave():
    trace = (
        '10 connect(5, {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
        '11 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2600:1f18::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH\n'
        '12 sendto(7, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("127.0.0.53")}, 16) = 1\n'
        '13 connect(8, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0\n'
        '14 connect(9, {sa_family=AF_INET6, sin6_port=htons(3000), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0\n'
        # getaddrinfo sorting its answers for a passive address (sshd, each session): this host.
        '15 connect(4, {sa_family=AF_INET6, sin6_port=htons(2222), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}, 28) = 0\n'
        '15 connect(4, {sa_family=AF_INET, sin_port=htons(2222), sin_addr=inet_addr("0.0.0.0")}, 16) = 0\n')
    assert off_host(destinations(trace)) == [("2600:1f18::1", 443, "connect"),
                                             ("127.0.0.53", 53, "sendto")]


def test_dev_run_stays_on_the_host(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test makes a network namespace: run the suite as root (CI does)")
    strace, unshare, nsenter = tool("strace"), tool("unshare"), tool("nsenter")
    trace = tmp_path / "connect.trace"
    # Not under pytest's 0700 temporary folder: the embedded PostgreSQL runs unprivileged.
    config = Path(f"/var/tmp/dev-run-offline-{uuid.uuid4().hex[:8]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODER_", "TF_"))}
    env.update(CODER_CONFIG_DIR=str(config), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "dev-run.log", "wb")
    # A user namespace owns the network namespace, so bringing its loopback up needs no
    # CAP_NET_ADMIN on the host (a container, such as CI's fresh Debian, lacks it);
    # every user and group maps to itself, so ./dev and the unprivileged PostgreSQL
    # run as they would outside. unshare keeps its PID: the namespaces live as long as
    # strace, ./dev and coderd do.
    dev = subprocess.Popen(
        [unshare, "--user", "--net", "--", "sh", "-c",
         "until grep -q . /proc/self/uid_map; do sleep 0.05; done; "
         f'ip link set lo up && exec {strace} -f -qq --seccomp-bpf -o {trace} '
         f'-e {TRACED_CALLS} ./dev run'],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ours = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{dev.pid}/ns/user") == ours:  # until unshare has made it
        assert time.monotonic() < deadline and dev.poll() is None, "unshare --user failed"
        time.sleep(0.01)
    for kind in ("uid_map", "gid_map"):
        Path(f"/proc/{dev.pid}/{kind}").write_text("0 0 4294967295\n")
    cli_env = {**env, "CODER_CONFIG_DIR": str(tmp_path / "cli"), "PYTHONPATH": str(REPO)}

    def inside(*args: str, timeout: float = 300, check: bool = True
               ) -> subprocess.CompletedProcess:
        done = subprocess.run([nsenter, f"--net=/proc/{dev.pid}/ns/net", "--", *args],
                              cwd=REPO, env=cli_env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0 or not check, \
            f"{args} failed:\n{done.stdout}\n{done.stderr}\n" \
            f"{(tmp_path / 'dev-run.log').read_text()[-3000:]}"
        return done

    coder = [str(REPO / ".venv" / "bin" / "coder")]
    try:
        deadline = time.monotonic() + 300
        while True:
            assert dev.poll() is None, (tmp_path / "dev-run.log").read_text()[-3000:]
            probe = subprocess.run([nsenter, f"--net=/proc/{dev.pid}/ns/net", "--", "curl",
                                    "-sf", "http://127.0.0.1:3000/healthz"], capture_output=True)
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, "./dev run did not answer /healthz in 300 s"
            time.sleep(0.5)
        inside(*coder, "login", "http://127.0.0.1:3000", "--first-user-username", "admin",
               "--first-user-email", "admin@example.com",
               "--first-user-password", FIRST_USER_PASSWORD)
        inside(*coder, "templates", "push", "local", "-d", "examples/templates/local", "-y")
        name = "offline" + uuid.uuid4().hex[:6]
        inside(*coder, "create", name, "-t", "local", "-y")
        try:
            # The build is done; the agent connects once the sandbox has fetched it.
            deadline = time.monotonic() + 180
            while True:
                ssh = inside(*coder, "ssh", name, "--", "echo", "agent-is-connected", check=False)
                if ssh.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert ssh.stdout.strip() == "agent-is-connected", ssh.stderr
        finally:
            inside(*coder, "delete", name, "-y")
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone: its log says why
            os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()
        shutil.rmtree(config, ignore_errors=True)
    dests = destinations(trace.read_text())
    assert any(port == 3000 for _, port, _ in dests), "the trace saw no connection to coderd"
    assert off_host(dests) == [], f"./dev run tried to leave the host: {off_host(dests)}"
