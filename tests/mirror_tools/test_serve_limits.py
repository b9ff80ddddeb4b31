"""``appliance mirror serve`` gives no client its thread for ever: idle and half-sent
connections are closed in time, and past its connection limit new ones are closed
at once (docs/security.md, "Slow and idle clients").
"""
from __future__ import annotations

import socket
import ssl
import time

import pytest
import requests

from mirror_tools.ca import CertificateAuthority
from mirror_tools.serve import MirrorServer

from tests.kit import rawhttp

HEADER_TIMEOUT = 1.5
READ_TIMEOUT = 2.5
MAX_CONNECTIONS = 4


@pytest.fixture
def mirror(tmp_path):
    ca = CertificateAuthority.init(tmp_path / "ca")
    cert = ca.issue(dns=["localhost"], ips=["127.0.0.1"], name="mirror")
    root = tmp_path / "mirror"
    (root / "registry.terraform.io").mkdir(parents=True)
    (root / "registry.terraform.io" / "index.json").write_text('{"versions": {}}')
    server = MirrorServer(root, ("127.0.0.1", 0), str(cert.chain_path), str(cert.key_path),
                          header_timeout=HEADER_TIMEOUT, read_timeout=READ_TIMEOUT,
                          max_connections=MAX_CONNECTIONS)
    server.start_background()
    yield server, str(ca.bundle_path)
    server.shutdown()
    server.server_close()


def _tls(url: str, bundle: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=bundle)
    return context.wrap_socket(rawhttp.connect(url), server_hostname="127.0.0.1")


def test_idle_and_half_sent_connections_are_closed(mirror):
    server, bundle = mirror
    started = time.monotonic()
    with rawhttp.connect(server.url) as silent, _tls(server.url, bundle) as dripping:  # silent:
        try:  # not even a TLS handshake
            for byte in b"GET /registry.terraform.io/index.json HTTP/1.1\r\nHost: x\r\n":
                dripping.sendall(bytes([byte]))  # one byte every 0.1 s: never idle
                time.sleep(0.1)
        except (ssl.SSLError, OSError):
            pass  # closed under a write
        assert rawhttp.is_closed(dripping, 2)
        assert HEADER_TIMEOUT - 0.5 < time.monotonic() - started < HEADER_TIMEOUT + 2
        assert rawhttp.is_closed(silent, READ_TIMEOUT + 2)
        assert READ_TIMEOUT - 0.5 < time.monotonic() - started < READ_TIMEOUT + 2


def test_past_the_connection_limit_new_connections_are_closed(mirror):
    server, bundle = mirror
    held = [rawhttp.connect(server.url) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)
        with rawhttp.connect(server.url) as extra:
            assert rawhttp.is_closed(extra, 1)
        for sock in held:  # each freed by the read timeout, then the mirror serves again
            assert rawhttp.is_closed(sock, READ_TIMEOUT + 2)
        time.sleep(0.3)
        resp = requests.get(server.url + "registry.terraform.io/index.json", verify=bundle, timeout=5)
        assert resp.status_code == 200 and resp.json() == {"versions": {}}
    finally:
        for sock in held:
            sock.close()


def test_a_client_that_stops_reading_is_dropped(mirror, tmp_path):
    server, bundle = mirror
    (server.root / "registry.terraform.io" / "big.zip").write_bytes(b"\0" * (64 << 20))
    with _tls(server.url, bundle) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET /registry.terraform.io/big.zip HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(READ_TIMEOUT + 2)  # read nothing meanwhile: the mirror's write times out
        answer = rawhttp.answers(sock, 10)
    assert answer.closed and len(answer.data) < 64 << 20
