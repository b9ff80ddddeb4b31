"""Fuzzing the request parser: request lines, header blocks (``server/httpheaders.py``)
and body framing (Content-Length, chunked) built from the pieces attacks use, mutated
byte by byte, sent to a real coderd on 127.0.0.1 (docs/security.md, "Request framing").

Whatever arrives, coderd answers without a 5xx and, once the client has sent
everything (its write side shut), closes the connection within seconds: it
never waits for more, never answers twice for one request it could not read,
and afterwards holds no connection, database connection or unauthenticated
slot (its pool has two connections, so one slot: a leak would stall the login
at the end).
"""
from __future__ import annotations

import re
import socket
import time

import psutil
import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.kit import rawhttp
from tests.kit.coderd import FIRST_USER_PASSWORD, create_first_user, running_coderd

EXAMPLES = 300
BATCHES, BATCH = 2, 25
ANSWER_WITHIN = 5.0
HEADER_TIMEOUT = READ_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def fuzz_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template, env={
            "CODER_PG_POOL_SIZE": "2", "CODER_HTTP_READ_HEADER_TIMEOUT": f"{HEADER_TIMEOUT:g}s",
            "CODER_HTTP_READ_TIMEOUT": f"{READ_TIMEOUT:g}s", "CODER_MAX_BODY_BYTES": "4096"}) as c:
        owner, _ = create_first_user(c)
        yield c, owner


TOKEN = "abcdefghij-" + "k" * 22
methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"]),
                    st.from_regex(r"[A-Za-z!#(\x0b\x00-]{0,8}", fullmatch=True))
targets = st.one_of(
    st.sampled_from(["/healthz", "/api/v2/users/login", "/api/v2/users/me", "/api/v2/users/first",
                     "/api/v2/files", "/api/v2/buildinfo", "/@admin/w/apps/a/", "*",
                     "http://127.0.0.1/healthz", "/api/v2/users/login?x=%00"]),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=24).map(lambda t: "/" + t))
versions = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.1.1", "HTTP/2.0", "HTTP/0.9", "http/1.1",
                            "HTTP/1.1 x", ""])
names = st.one_of(st.sampled_from(["Host", "Content-Length", "Transfer-Encoding", "Content-Type",
                                   "Coder-Session-Token", "Connection", "Expect", "Upgrade",
                                   "Sec-WebSocket-Version", "Sec-WebSocket-Key", "Cookie", "Origin",
                                   " Content-Length", "Content-Length ", "X-Fuzz"]),
                  st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12))
values = st.one_of(st.sampled_from(["0", "5", "17", "4097", "+1_0", "-1", "1_0", "0x10", "5, 5",
                                    "99999999999999999999", "chunked", "Chunked", "gzip, chunked",
                                    "chunked, identity", "identity", "close", "keep-alive", "upgrade",
                                    "Upgrade", "websocket", "tcp", "100-continue", "13",
                                    "dGhlIHNhbXBsZSBub25jZQ==", "application/json", "application/x-tar",
                                    TOKEN, "http://127.0.0.1", "a\rb", "a\x00b", " x\t"]),
                   st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=16))
line_ends = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r", "\n\r"])


@st.composite
def chunked_bodies(draw) -> bytes:
    out = b""
    for piece in draw(st.lists(st.binary(max_size=40), max_size=4)):
        size = draw(st.sampled_from(["%x" % len(piece), "%X" % len(piece), "%x;ext=1" % len(piece),
                                     " %x" % len(piece), "zz", "-1", "%x" % (len(piece) + 1),
                                     "1" * 20]))
        out += size.encode() + draw(st.sampled_from([b"\r\n", b"\n"])) + piece + b"\r\n"
    return out + draw(st.sampled_from([b"0\r\n\r\n", b"0\r\nX: y\r\n\r\n", b"0\r\n", b""]))


@st.composite
def requests_bytes(draw) -> bytes:
    end = draw(line_ends)
    line = draw(st.sampled_from([" ", " ", " ", "  ", "\t"])).join(
        part for part in (draw(methods), draw(targets), draw(versions)) if part or draw(st.booleans()))
    headers = draw(st.lists(st.tuples(names, values), max_size=8))
    colon = draw(st.sampled_from([": ", ": ", ":", " : ", ": \t"]))
    head = line + end + "".join(f"{n}{colon}{v}{draw(line_ends)}" for n, v in headers)
    head += draw(st.sampled_from([end, end, "", "\r\n", " \r\n"]))
    body = draw(st.one_of(st.binary(max_size=64), chunked_bodies()))
    data = bytearray(head.encode("latin-1") + body)
    for _ in range(draw(st.integers(0, 3))):  # a few bytes changed anywhere
        if data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.sampled_from([0, 9, 10, 13, 32, 58, 0x0b, 0x7f, 0xff]))
    return bytes(data + draw(st.sampled_from([b"", rawhttp.request("GET", "/healthz")])))


def _send(url: str, data: bytes) -> rawhttp.Answers:
    with rawhttp.connect(url, ANSWER_WITHIN) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # coderd closed first: what it sent is still there to read
            pass
        return rawhttp.answers(sock, ANSWER_WITHIN)


def _check(data: bytes, answer: rawhttp.Answers) -> None:
    assert answer.closed, f"coderd kept the connection open: {data!r} -> {answer.data[:300]!r}"
    assert all(status < 500 for status in answer.statuses), (data, answer.data[:500])
    # A response that says the connection closes is the last one on it.
    responses = re.split(rb"(?=HTTP/1\.[01] \d{3} )", answer.data)
    for response in responses[:-1]:
        head = response.partition(b"\r\n\r\n")[0].lower()
        assert b"\r\nconnection: close" not in head, (data, answer.data[:500])


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=requests_bytes())
def test_fuzzed_requests_are_answered_or_refused_then_closed(fuzz_coderd, data):
    """Sent whole (the client's write side shut after)."""
    coderd, _ = fuzz_coderd
    _check(data, _send(coderd.url, data))


@settings(max_examples=BATCHES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(requests_bytes(), min_size=BATCH, max_size=BATCH))
def test_fuzzed_requests_left_open_are_closed_in_time(fuzz_coderd, batch):
    """Sent with the connection left open, as a client that may send more: each is
    answered or refused, and closed within the header and read timeouts."""
    coderd, _ = fuzz_coderd
    sockets = []
    try:
        for data in batch:
            sock = rawhttp.connect(coderd.url)
            try:
                sock.sendall(data)
            except OSError:
                pass
            sockets.append(sock)
        deadline = time.monotonic() + HEADER_TIMEOUT + READ_TIMEOUT + 3
        for data, sock in zip(batch, sockets):
            _check(data, rawhttp.answers(sock, max(0.1, deadline - time.monotonic())))
    finally:
        for sock in sockets:
            sock.close()


def test_a_broken_websocket_handshake_is_a_4xx_with_its_reason(fuzz_coderd):
    """RFC 6455's rules of the handshake, checked before anything is upgraded: a missing,
    short or not-base64 key, an unknown version, HTTP/1.0. Each is a 4xx whose body is what
    its Content-Length says (gevent-websocket's own answers had a text body that pywsgi
    could not write, and a 500 for a key that is not base64), with nothing in the log."""
    coderd, _ = fuzz_coderd
    upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    key = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    cases = [([("Sec-WebSocket-Version", "13")], 400, "Sec-WebSocket-Key"),
             ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "abc")], 400, "Sec-WebSocket-Key"),
             ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "c2hvcnQ=")], 400, "Sec-WebSocket-Key"),
             ([("Sec-WebSocket-Version", "99"), key], 426, "Sec-WebSocket-Version"),
             ([key], 426, "Sec-WebSocket-Version")]
    for headers, status, text in cases:
        for target in ("/api/v2/buildinfo", f"/api/v2/workspaceagents/{TOKEN}/pty"):
            answer = rawhttp.exchange(coderd.url, rawhttp.request("GET", target, upgrade + headers)
                                      + rawhttp.request("GET", "/healthz"), ANSWER_WITHIN)
            assert answer.statuses[:1] == [status], (headers, answer.data[:300])
            head, _, rest = answer.data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            assert text.encode() in rest[:length], (headers, answer.data[:300])
    old = rawhttp.request("GET", "/api/v2/buildinfo", upgrade + [("Sec-WebSocket-Version", "13"), key])
    answer = rawhttp.exchange(coderd.url, old.replace(b"HTTP/1.1", b"HTTP/1.0", 1), ANSWER_WITHIN)
    assert answer.statuses == [400] and b"HTTP/1.1" in answer.data, answer.data[:300]
    assert "Traceback" not in coderd.log(), coderd.log()[-3000:]


def test_after_the_fuzzing_nothing_is_held(fuzz_coderd):
    """Runs after the fuzzing (tests run in file order): no connection left open, the pool
    and the unauthenticated slot free."""
    coderd, owner = fuzz_coderd
    port = int(coderd.url.rsplit(":", 1)[1])
    process = psutil.Process(coderd.proc.pid)
    deadline = time.monotonic() + 5
    while True:
        held = [c for c in process.net_connections(kind="tcp")
                if c.laddr and c.laddr.port == port and c.status != psutil.CONN_LISTEN]
        if not held or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not held, held
    me = requests.get(coderd.url + "/api/v2/users/me", headers={"Coder-Session-Token": owner.token},
                      timeout=10)
    assert me.status_code == 200
    login = requests.post(coderd.url + "/api/v2/users/login", timeout=10,
                          json={"email": "admin@example.com", "password": FIRST_USER_PASSWORD})
    assert login.status_code == 201
    assert "Traceback" not in coderd.log(), coderd.log()[-3000:]
