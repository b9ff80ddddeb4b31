"""Idle connections cannot make coderd unreachable (review finding 4).

The review opened 1,100 bare TCP connections in 0.3 s to a coderd under
``ulimit -n 1024``: every accept() then failed with EMFILE and the owner's
request timed out. coderd now raises its open-files limit to the hard one,
drops a silent connection after the header timeout counted from its accept,
and closes a client address's connections past its cap at once.
"""
from __future__ import annotations

import contextlib
import http.client
import resource
import select
import socket
import ssl
import time
from urllib.parse import urlsplit

import psutil
import pytest

from tests.kit import rawhttp
from tests.kit.coderd import create_first_user, start_coderd, start_tls_coderd

OTHER_ADDRESS = "127.0.0.2"  # the owner, on the same machine as the attacker (127.0.0.1)


@contextlib.contextmanager
def open_files_soft_limit(soft: int):
    """Processes started inside inherit this soft limit (the hard one is kept)."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def get_me(url: str, token: str, timeout: float) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(OTHER_ADDRESS, 0))
    try:
        conn.request("GET", "/api/v2/users/me", headers={"Coder-Session-Token": token})
        return conn.getresponse().status
    finally:
        conn.close()


def closed_by_server(socks: list[socket.socket], wait: float) -> int:
    """How many of ``socks`` the server closed (readable: EOF, or a 408 before it)."""
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLIN)
    closed: set[int] = set()
    deadline = time.monotonic() + wait
    while len(closed) < len(socks) and (left := deadline - time.monotonic()) > 0:
        closed.update(fd for fd, _ in poll.poll(left * 1000))
        for fd in closed:
            with contextlib.suppress(KeyError):
                poll.unregister(fd)
    return len(closed)


@pytest.mark.parametrize("workers", ["1", "2"])  # pywsgi; gunicorn, whose workers inherit the limit
def test_1100_idle_connections_from_one_address_leave_coderd_reachable(pg_server, pg_template, workers):
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] >= 4096, "the test needs a hard limit of 4096"
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    with open_files_soft_limit(1024):
        coderd = start_coderd(dsn, env={"CODER_HTTP_WORKERS": workers})
    with contextlib.ExitStack() as cleanup:  # on the way out: the sockets, the limit, coderd
        cleanup.callback(coderd.stop)
        # The attacker (this process) holds 1,100 sockets too: a container's soft limit of
        # 1,024 (CI's fresh Debian) would fail the test's own connect() first.
        cleanup.enter_context(open_files_soft_limit(resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        owner, _ = create_first_user(coderd)
        host, port = urlsplit(coderd.url).hostname, urlsplit(coderd.url).port
        started = time.monotonic()
        idle = [cleanup.enter_context(socket.create_connection((host, port), timeout=5))
                for _ in range(1100)]
        opened_in = time.monotonic() - started
        answered = time.monotonic()
        assert get_me(coderd.url, owner.token, timeout=8) == 200
        took = time.monotonic() - answered
        if workers == "1":  # past the per-client cap (1000 by default, per process): closed at once
            assert closed_by_server(idle, 2) >= 100
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        main = psutil.Process(coderd.proc.pid)
        for process in [main, *main.children()]:  # gunicorn's workers inherit the raised limit
            assert process.rlimit(psutil.RLIMIT_NOFILE) == (hard, hard), process.cmdline()
        assert f"open files limit {hard}" in coderd.log() and "EMFILE" not in coderd.log()
        assert "Too many open files" not in coderd.log()
        print(f"1100 idle connections opened in {opened_in:.2f}s; the owner answered in {took:.3f}s")


def test_a_silent_connection_is_dropped_after_the_header_timeout_from_accept(coderd_factory):
    coderd = coderd_factory(env={"CODER_HTTP_READ_HEADER_TIMEOUT": "1s",
                                 "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT": "3"})
    client, _ = create_first_user(coderd)
    client.http.close()  # its kept-alive connection would count against this address
    time.sleep(0.2)  # for coderd to see it closed
    parts = urlsplit(coderd.url)
    started = time.monotonic()
    held = [socket.create_connection((parts.hostname, parts.port), timeout=10) for _ in range(4)]
    try:
        # One of four from this address is over the cap: closed at once.
        assert closed_by_server(held, 0.5) == 1
        # Another address is served meanwhile.
        assert get_me(coderd.url, client.token, timeout=5) == 200
        # The three that said nothing are dropped 1 s after their accept, not after the
        # 60 s read timeout.
        assert closed_by_server(held, 3) == 4
        assert time.monotonic() - started < 3
    finally:
        for s in held:
            s.close()


def test_a_tls_connection_s_header_timeout_counts_from_its_accept(pg_server, pg_template, tmp_path):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd, _, https_url = start_tls_coderd(dsn, tmp_path / "ca",
                                            env={"CODER_HTTP_READ_HEADER_TIMEOUT": "2s"})
    try:
        parts = urlsplit(https_url)
        raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
        accepted = time.monotonic()
        time.sleep(1.5)  # a late handshake, still in time
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            # Then nothing: dropped 2 s after the accept (it was 2 s after the handshake).
            answer = rawhttp.answers(tls, 3)
            assert answer.closed and answer.statuses == [408]
            assert time.monotonic() - accepted < 2.8
    finally:
        coderd.stop()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stopping_coderd_closes_its_idle_kept_alive_connections(coderd_factory, workers):
    """As Go's Shutdown: connections between requests are closed at once, so they do
    not hold a restart for the read timeout (60 s)."""
    coderd = coderd_factory(env={"CODER_HTTP_WORKERS": workers})
    parts = urlsplit(coderd.url)
    idle = []
    for _ in range(4):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"OK"
        idle.append(conn)
    started = time.monotonic()
    coderd.proc.terminate()
    coderd.proc.wait(30)
    assert time.monotonic() - started < 5
    for conn in idle:
        assert conn.sock.recv(1) == b""  # closed by coderd, with no answer
        conn.close()
