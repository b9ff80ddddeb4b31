"""Request heads held in memory: at most 64 KiB of header lines, no folded lines.

The review's attack: header lines were read up to 64 KiB each, 100 of them, and folded
lines joined without limit, so 40 connections that never finished their heads made
coderd hold 250 MiB. Sent on bare sockets.
"""
from __future__ import annotations

import socket
import threading

import pytest

from tests.kit import rawhttp
from tests.kit.coderd import running_coderd

MAX_HEAD = 64 * 1024


@pytest.fixture(scope="module")
def heads_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template) as c:
        yield c


def head(lines: list[bytes]) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(lines) + b"\r\n"


TOO_LARGE = {
    "one line over the limit": [b"X-A: " + b"a" * MAX_HEAD + b"\r\n"],
    "many lines over the limit": [b"X-%d: " % i + b"a" * 8000 + b"\r\n" for i in range(9)],
}


@pytest.mark.parametrize("case", TOO_LARGE)
def test_a_head_over_64_kib_is_a_431(heads_coderd, case):
    answer = rawhttp.exchange(heads_coderd.url, head(TOO_LARGE[case]), timeout=5)
    assert answer.statuses == [431] and answer.closed, answer


def test_folded_lines_are_refused(heads_coderd):
    answer = rawhttp.exchange(heads_coderd.url, head([b"X-A: a\r\n", b" folded\r\n"]), timeout=5)
    assert answer.statuses == [400] and answer.closed, answer


def test_a_large_head_under_the_limit_is_served(heads_coderd):
    cookie = b"Cookie: c=" + b"a" * (MAX_HEAD - 1024) + b"\r\n"
    answer = rawhttp.exchange(heads_coderd.url, head([cookie, b"Connection: close\r\n"]), timeout=5)
    assert answer.statuses == [200], answer


def test_unfinished_heads_hold_little_memory(heads_coderd):
    """40 connections each send 6 MiB of header lines and no blank line, and stay open."""
    line = b"X-Fill: " + b"a" * 60000 + b"\r\n"
    socks = [rawhttp.connect(heads_coderd.url) for _ in range(40)]

    def flood(sock: socket.socket) -> None:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + line * 98)
        except OSError:
            pass  # refused and closed: what the fix does

    heads_coderd.reset_peak_memory()
    before = heads_coderd.peak_memory()
    try:
        threads = [threading.Thread(target=flood, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        grown = heads_coderd.peak_memory() - before
    finally:
        for s in socks:
            s.close()
    assert grown < 32 * 2**20, f"coderd grew {grown / 2**20:.0f} MiB"
