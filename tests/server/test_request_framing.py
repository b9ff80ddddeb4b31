"""Requests whose end a proxy in front of coderd could read differently than coderd, and
lines no HTTP/1.1 request has: refused with 400 and the connection closed, so nothing
sent after them is ever read as a request (docs/security.md, "Request framing").

Each case is sent on a bare socket with a second request behind it on the same
connection, as a request smuggled past a proxy would be; coderd must answer once.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.kit import rawhttp
from tests.kit.coderd import running_coderd

SMUGGLED = rawhttp.request("GET", "/api/v2/users/me")
LOGIN = [("Content-Type", "application/json")]
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def framing_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template, env={
            "CODER_HTTP_READ_HEADER_TIMEOUT": "2s", "CODER_HTTP_READ_TIMEOUT": "3s",
            "CODER_MAX_BODY_BYTES": str(MAX_BODY)}) as c:
        yield c


AMBIGUOUS = {
    "chunked and a length": ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
                             b"0\r\n\r\n"),
    "a length and chunked": ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                             b"0\r\n\r\n"),
    "chunked twice": ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
                      b"0\r\n\r\n"),
    "chunked after another coding": ([("Transfer-Encoding", "gzip, chunked")], b"0\r\n\r\n"),
    "an unknown coding": ([("Transfer-Encoding", "xchunked")], b"0\r\n\r\n"),
    "a length with sign and underscore": ([("Content-Length", "+1_0")], b'{"email":1}'),
    "a length with an underscore": ([("Content-Length", "1_0")], b'{"email":1}'),
    "a length twice": ([("Content-Length", "2"), ("Content-Length", "2")], b"{}"),
}


@pytest.mark.parametrize("case", AMBIGUOUS)
def test_ambiguous_body_framing_is_refused_and_the_connection_closed(framing_coderd, case):
    headers, body = AMBIGUOUS[case]
    answer = rawhttp.exchange(framing_coderd.url, rawhttp.request(
        "POST", "/api/v2/users/login", LOGIN + headers, body) + SMUGGLED, timeout=5)
    assert answer.statuses == [400] and answer.closed, (case, answer)


MALFORMED = {
    "a bare CR in a value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "a bare CR before the line's end": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n",
    "a NUL in a value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "a vertical tab in a value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n",
    "a control character in the target": b"GET /healthz\x0b HTTP/1.1\r\nHost: x\r\n\r\n",
    "two spaces in the request line": b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /healthz\r\n\r\n",
    "a version of three numbers": b"GET /healthz HTTP/1.1.1\r\nHost: x\r\n\r\n",
    "a method that is not a token": b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_lines_are_refused(framing_coderd, case):
    answer = rawhttp.exchange(framing_coderd.url, MALFORMED[case] + SMUGGLED, timeout=5)
    assert answer.statuses == [400] and answer.closed, (case, answer)


def test_a_head_cut_off_is_not_served(framing_coderd):
    with rawhttp.connect(framing_coderd.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1")
        sock.shutdown(socket.SHUT_WR)
        answer = rawhttp.answers(sock, 5)
    assert answer.statuses == [400] and answer.closed, answer


def test_well_framed_requests_keep_the_connection(framing_coderd):
    chunked = rawhttp.request("POST", "/api/v2/users/login", LOGIN + [("Transfer-Encoding", "chunked")],
                              b"2\r\n{}\r\n0\r\n\r\n")
    last = rawhttp.request("GET", "/healthz", [("Connection", "close")])
    answer = rawhttp.exchange(framing_coderd.url, rawhttp.request("GET", "/healthz") + chunked + last)
    assert answer.statuses == [200, 400, 200] and answer.closed, answer  # 400: no email


def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives(framing_coderd):
    """A chunked body has no length to check first: it is read up to the limit only."""
    framing_coderd.reset_peak_memory()
    before = framing_coderd.peak_memory()
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    sent = []
    with rawhttp.connect(framing_coderd.url) as sock:
        sock.sendall(rawhttp.request("POST", "/api/v2/users/login",
                                     LOGIN + [("Transfer-Encoding", "chunked")]))

        def send() -> None:
            try:
                for _ in range(64):
                    sock.sendall(chunk)
                    sent.append(len(chunk))
            except OSError:
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = rawhttp.answers(sock, 10)
        sender.join(10)
    assert answer.statuses == [413] and answer.closed, answer
    assert sum(sent) < 32 << 20, "coderd read the body far past its limit"
    assert framing_coderd.peak_memory() - before < 16 << 20


def test_a_declared_length_past_the_limit_is_refused_before_reading(framing_coderd):
    started = time.monotonic()
    with rawhttp.connect(framing_coderd.url) as sock:
        sock.sendall(rawhttp.request("POST", "/api/v2/users/login",
                                     LOGIN + [("Content-Length", str(10 << 30))], b"{"))
        answer = rawhttp.answers(sock, 5)
    assert answer.statuses == [413] and answer.closed, answer
    assert time.monotonic() - started < 3
