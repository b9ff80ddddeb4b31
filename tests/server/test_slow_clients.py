"""Clients that send half a request, or one byte at a time, or nothing: coderd keeps
answering signed-in users and disconnects them in time (docs/security.md, "Slow
and idle clients").

The coderd here has a pool of 4 connections, 2 s to send a request's head and
4 s between two bytes, so every wait below is short; the attack sockets are a
few times the pool's size, all on 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import ssl
import time

import pytest
import requests

from tests.kit import rawhttp
from tests.kit.coderd import create_first_user, running_coderd, start_tls_coderd

POOL_SIZE = 4
HEADER_TIMEOUT = 2.0
READ_TIMEOUT = 4.0
ENV = {"CODER_PG_POOL_SIZE": str(POOL_SIZE), "CODER_HTTP_READ_HEADER_TIMEOUT": f"{HEADER_TIMEOUT:g}s",
       "CODER_HTTP_READ_TIMEOUT": f"{READ_TIMEOUT:g}s"}
UNKNOWN_TOKEN = "abcdefghij-" + "k" * 22  # well formed, no one's


@pytest.fixture(scope="module")
def slow_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template, env=ENV) as c:
        yield c


@pytest.fixture(scope="module")
def slow_owner(slow_coderd):
    return create_first_user(slow_coderd)[0]


def _half_sent(url: str) -> list[bytes]:
    """Requests cut off in their headers or their body, with and without a token."""
    login = [("Content-Type", "application/json"), ("Content-Length", "100")]
    token = [("Coder-Session-Token", UNKNOWN_TOKEN)]
    return [
        b"GET /api/v2/users/me HTTP/1.1\r\nHost: x\r\nCoder-Session-Token: " + UNKNOWN_TOKEN.encode(),
        rawhttp.request("POST", "/api/v2/users/login", token + login, b'{"email": '),
        rawhttp.request("POST", "/api/v2/users/login", login, b'{"email": '),
        rawhttp.request("POST", "/api/v2/users/login",
                        token + [("Content-Type", "application/json"),
                                 ("Transfer-Encoding", "chunked")], b"40\r\n{"),
    ]


def test_half_sent_requests_leave_signed_in_users_answered(slow_coderd, slow_owner):
    slow_owner.user()  # the owner's key is cached, as it is for anyone active
    sockets = []
    try:
        for head in _half_sent(slow_coderd.url) * (2 * POOL_SIZE):
            sock = rawhttp.connect(slow_coderd.url)
            sock.sendall(head)
            sockets.append(sock)
        time.sleep(0.5)  # each has reached as far into coderd as it can
        for _ in range(3):
            started = time.monotonic()
            resp = requests.get(slow_coderd.url + "/api/v2/users/me", timeout=5,
                                headers={"Coder-Session-Token": slow_owner.token})
            assert resp.status_code == 200, resp.text
            assert time.monotonic() - started < 3
        # ... and coderd lets none of them wait past its timeouts.
        deadline = time.monotonic() + READ_TIMEOUT + HEADER_TIMEOUT + 3
        still_open = [s for s in sockets
                      if not rawhttp.is_closed(s, max(0.1, deadline - time.monotonic()))]
        assert not still_open, f"{len(still_open)} of {len(sockets)} connections still open"
    finally:
        for sock in sockets:
            sock.close()


def test_a_head_sent_one_byte_at_a_time_is_cut_off(slow_coderd):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
    with rawhttp.connect(slow_coderd.url) as sock:
        started = time.monotonic()
        for byte in head:  # a byte every 0.25 s: never idle for the read timeout
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.25)
            if time.monotonic() - started > HEADER_TIMEOUT + 3:
                break
        answer = rawhttp.answers(sock, 3)
    assert answer.statuses == [408] and answer.closed, answer
    assert time.monotonic() - started < HEADER_TIMEOUT + 4


def test_idle_connections_are_closed(slow_coderd):
    with rawhttp.connect(slow_coderd.url) as silent, rawhttp.connect(slow_coderd.url) as kept:
        kept.sendall(rawhttp.request("GET", "/healthz"))
        started = time.monotonic()
        assert rawhttp.answers(kept, READ_TIMEOUT + 3).statuses == [200]
        assert rawhttp.is_closed(silent, 1)
        assert READ_TIMEOUT - 1 < time.monotonic() - started < READ_TIMEOUT + 3


def test_a_json_body_that_stalls_is_a_408(slow_coderd):
    with rawhttp.connect(slow_coderd.url) as sock:
        sock.sendall(rawhttp.request("POST", "/api/v2/users/login",
                                     [("Content-Type", "application/json"),
                                      ("Transfer-Encoding", "chunked")], b"1\r\n{\r\n"))
        started = time.monotonic()
        for _ in range(int(READ_TIMEOUT * 2) + 2):  # a chunk every 0.5 s: never idle, never done
            time.sleep(0.5)
            try:
                sock.sendall(b"1\r\n \r\n")
            except OSError:
                break
        answer = rawhttp.answers(sock, 3)
    assert answer.statuses == [408] and answer.closed, answer
    assert time.monotonic() - started < READ_TIMEOUT + 4


def test_a_tls_handshake_must_end_in_time(pg_server, pg_template, tmp_path):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd, _, https_url = start_tls_coderd(dsn, tmp_path / "ca", env=ENV)
    try:
        with rawhttp.connect(https_url) as sock:
            started = time.monotonic()
            assert rawhttp.is_closed(sock, HEADER_TIMEOUT + 3)
            assert time.monotonic() - started < HEADER_TIMEOUT + 2
    finally:
        coderd.stop()


def client_hello() -> bytes:
    """The first bytes a TLS client sends, as Python's ssl module writes them."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_tls_handshake_sent_a_byte_at_a_time_is_cut_off(pg_server, pg_template, tmp_path):
    """attack (session 11): the handshake's timeout was per read, so a client sending its
    hello a byte every 1.5 s (10 s allowed per read) held its connection for over an hour;
    as many as its per-client cap, from a few addresses, held the whole pool."""
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd, _, https_url = start_tls_coderd(dsn, tmp_path / "ca", env=ENV)
    try:
        hello = client_hello()
        with rawhttp.connect(https_url) as sock:
            started, closed = time.monotonic(), False
            for byte in hello[:40]:  # a byte every 0.4 s: well within a read's timeout
                try:
                    sock.sendall(bytes([byte]))
                    closed = rawhttp.is_closed(sock, 0.4)
                except OSError:  # reset
                    closed = True
                if closed:
                    break
            assert closed and time.monotonic() - started < HEADER_TIMEOUT + 1.5, \
                time.monotonic() - started
    finally:
        coderd.stop()
