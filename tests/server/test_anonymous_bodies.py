"""Bodies anyone may send, without an account: they cannot freeze coderd.

The review's attack: ``POST /users/first`` read and parsed up to CODER_MAX_BODY_BYTES
(10 MiB) before asking whether a first user exists (a wide JSON array held the event
loop 1.8 s and 243 MiB a request), and a body of 1-byte chunks held it 10.9 s in
pywsgi's chunk reader; ``/users/login`` alike. Here three anonymous connections loop
such requests while the owner's ``GET /users/me`` is timed.
"""
from __future__ import annotations

import statistics
import threading
import time

import pytest
import requests

from tests.kit import rawhttp
from tests.kit.coderd import create_first_user, running_coderd

WIDE = b"[" + b"[]," * 3_400_000 + b"[]]"  # 10.2 MB, under the 10 MiB body limit
TINY_CHUNKS = b"1\r\n \r\n" * 1_500_000 + b"0\r\n\r\n"  # 1.5 MB of JSON whitespace, a byte a chunk
BOUND = 3.0  # seconds the owner may wait for /users/me while attacked (before: 10 s and more)
MEDIAN_BOUND = 0.5  # its usual wait (on an idle machine ~10 ms; before: seconds)


@pytest.fixture(scope="module")
def body_coderd(pg_server, pg_template):
    with running_coderd(pg_server, pg_template) as c:
        yield c


def attacks() -> list[bytes]:
    json_ = [("Content-Type", "application/json")]
    return [rawhttp.request("POST", "/api/v2/users/first", json_ + [("Content-Length", str(len(WIDE)))], WIDE),
            rawhttp.request("POST", "/api/v2/users/login", json_ + [("Content-Length", str(len(WIDE)))], WIDE),
            rawhttp.request("POST", "/api/v2/users/login", json_ + [("Transfer-Encoding", "chunked")],
                            TINY_CHUNKS)]


def attack(url: str, request: bytes, stop: threading.Event, answers: list) -> None:
    while not stop.is_set():
        with rawhttp.connect(url, timeout=30) as sock:
            try:
                sock.sendall(request)
            except OSError:
                pass  # refused before all of it was read, and closed
            answers.append(rawhttp.answers(sock, 30).first)


def test_a_login_body_over_64_kib_is_a_413(body_coderd):
    resp = requests.post(body_coderd.url + "/api/v2/users/login", timeout=10,
                         json={"email": "a" * 70_000, "password": "x"})
    assert resp.status_code == 413, resp.text


def chunked_login(coderd, body: bytes, chunk: int) -> rawhttp.Answers:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                      for i in range(0, len(body), chunk))
    return rawhttp.exchange(coderd.url, rawhttp.request(
        "POST", "/api/v2/users/login", [("Content-Type", "application/json"),
                                        ("Transfer-Encoding", "chunked"), ("Connection", "close")],
        chunks + b"0\r\n\r\n"), timeout=10)


def test_a_body_of_tiny_chunks_is_refused_early(body_coderd):
    body = b'{"email": "nobody@example.com", "password": "x"}' + b" " * 30_000
    answer = chunked_login(body_coderd, body, 1)
    assert answer.first == 400 and b"chunks too small" in answer.data, answer
    # The same body in chunks of a few hundred bytes is read: a wrong password.
    assert chunked_login(body_coderd, body, 512).first == 401


def test_anonymous_bodies_leave_the_owner_answered(body_coderd):
    """Last in the module: it spends the login rate limit."""
    owner = create_first_user(body_coderd)[0]
    owner.user()
    stop, answers = threading.Event(), []
    threads = [threading.Thread(target=attack, args=(body_coderd.url, r, stop, answers))
               for r in attacks()]
    for t in threads:
        t.start()
    waits = []
    try:
        time.sleep(0.5)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            started = time.monotonic()
            resp = requests.get(body_coderd.url + "/api/v2/users/me", timeout=30,
                                headers={"Coder-Session-Token": owner.token})
            waits.append(time.monotonic() - started)
            assert resp.status_code == 200, resp.text
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert statistics.median(waits) < MEDIAN_BOUND and max(waits) < BOUND, f"/users/me took up to {max(waits):.2f}s: {sorted(round(w, 2) for w in waits)}"
    assert set(answers) <= {400, 409, 413, 429}, answers  # 429: the login rate limit
    assert "Traceback" not in body_coderd.log()
