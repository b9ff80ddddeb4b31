"""Clients behind a TCP load balancer are told apart (attack review of the cluster).

HAProxy in ``mode tcp`` connects to coderd from its own address for every client:
one client's storm of bad logins rate-limited every user's login, and its
connections counted against everyone's cap. With ``CODER_PROXY_PROTOCOL_ORIGINS``
coderd reads the PROXY protocol header HAProxy sends (``send-proxy-v2``) before TLS
and counts each client as itself; nobody else can send one and be believed.
Here the balancer is this process connecting from 127.0.0.2, writing the header
HAProxy writes, then speaking TLS as the client it names would.
"""
from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time

import pytest

from server import proxyprotocol
from tests.kit.coderd import FIRST_USER_PASSWORD, create_first_user, start_coderd, start_tls_coderd

BALANCER = "127.0.0.2"
ATTACKER, USER, HOARDER = "10.9.0.1", "203.0.113.7", "2001:db8::5"


def v2_header(client: str, port: int = 40000, command: int = 0x1, extra: bytes = b"") -> bytes:
    """The header HAProxy's send-proxy-v2 writes for a TCP client (``extra``: its TLVs)."""
    address = ipaddress.ip_address(client)
    family = 0x11 if address.version == 4 else 0x21
    server = ipaddress.ip_address("192.0.2.1" if address.version == 4 else "2001:db8::1")
    body = address.packed + server.packed + port.to_bytes(2, "big") + (443).to_bytes(2, "big") + extra
    return proxyprotocol.SIGNATURE + bytes([0x20 | command, family]) + len(body).to_bytes(2, "big") + body


def read_from(raw: bytes, rest: bytes = b"GET / HTTP/1.1\r\n") -> tuple[tuple, bytes]:
    """What ``read_header`` makes of ``raw`` then ``rest`` on a real socket (its peer
    127.0.0.2:5555), and the bytes it left."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(raw + rest)
        theirs.shutdown(socket.SHUT_WR)
        client = proxyprotocol.read_header(ours, ("127.0.0.2", 5555))
        return client, ours.recv(100)


@pytest.mark.parametrize("raw, client", [
    (v2_header(USER, 51000), (USER, 51000)),
    (v2_header(HOARDER, 8), (HOARDER, 8)),
    (v2_header("::ffff:198.51.100.3", 9), ("198.51.100.3", 9)),
    (v2_header(USER, extra=b"\x04\x00\x04abcd"), (USER, 40000)),  # a TLV the balancer added
    (v2_header(USER, command=0x0), ("127.0.0.2", 5555)),  # LOCAL: the balancer's health check
    (proxyprotocol.SIGNATURE + b"\x21\x00\x00\x00", ("127.0.0.2", 5555)),  # no address given
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n", (USER, 51000)),
    (b"PROXY TCP6 2001:db8::5 2001:db8::1 8 443\r\n", (HOARDER, 8)),
    (b"PROXY UNKNOWN\r\n", ("127.0.0.2", 5555)),
])
def test_the_header_names_the_client_and_leaves_the_rest_unread(raw, client):
    assert read_from(raw) == (client, b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("raw, why", [
    (b"GET / HTTP/1.1\r\n", "did not begin with a PROXY protocol header"),
    (b"\x16\x03\x01\x02\x00\x01", "did not begin with a PROXY protocol header"),  # TLS at once
    (proxyprotocol.SIGNATURE[:11] + b"X\x21\x11\x00\x0c", "did not begin"),
    (proxyprotocol.SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12), "unknown PROXY protocol version 3"),
    (proxyprotocol.SIGNATURE + b"\x2f\x11\x00\x0c" + bytes(12), "command 15"),
    (proxyprotocol.SIGNATURE + b"\x21\x11\x00\x08" + bytes(8), "too short (8 bytes)"),
    (proxyprotocol.SIGNATURE + b"\x21\x11\xff\xff", "65535 bytes (at most 4096)"),
    (proxyprotocol.SIGNATURE + b"\x21\x11\x00\x0c" + bytes(4), "closed within"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51000" + b" " * 80, "longer than 107 bytes"),
    (b"PROXY TCP4 2001:db8::5 192.0.2.1 1 443\r\n", "malformed"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 70000 443\r\n", "malformed"),
    (b"PROXY TCP4 me 192.0.2.1 1 443\r\n", "malformed"),
    (b"PROXY TCP4 203.0.113.7\r\n", "malformed"),
    # attack (session 11): only the balancer sends a header, but a strict reading is cheap
    (b"PROXY TCP4 203.0.113.7 junk 51000 443\r\n", "malformed"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 051000 443\r\n", "malformed"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 x\r\n", "malformed"),
    (b"PROXY TCP6 fe80::1%eth0 2001:db8::1 8 443\r\n", "malformed"),
    (proxyprotocol.SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12), "family 1, transport 2: not TCP"),
    (proxyprotocol.SIGNATURE + b"\x21\xf1\x00\x0c" + bytes(12), "family 15"),
])
def test_a_malformed_header_is_refused(raw, why):
    with pytest.raises(proxyprotocol.HeaderError, match=re.escape(why)):
        read_from(raw, rest=b"")


def test_origins_are_the_balancers_networks():
    origins = proxyprotocol.Origins(["127.0.0.2/32", "fd00::/8"])
    assert ("127.0.0.2", 1) in origins and ("fd00::9", 1, 0, 0) in origins
    assert ("127.0.0.1", 1) not in origins and ("::1", 1, 0, 0) not in origins
    assert "" not in origins  # a Unix socket's peer
    assert not proxyprotocol.Origins([])


class Balanced(http.client.HTTPConnection):
    """A connection as the balancer hands it over: from its address, the header naming
    ``client`` first, then the client's own bytes (TLS when ``ca`` is given)."""

    def __init__(self, port: int, ca: str | None, client: str | None, source: str = BALANCER):
        super().__init__("127.0.0.1", port, timeout=10, source_address=(source, 0))
        self.tls = ssl.create_default_context(cafile=ca) if ca else None
        self.client = client

    def connect(self):
        super().connect()
        if self.client is not None:
            self.sock.sendall(v2_header(self.client))
        if self.tls:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def answered(conn: Balanced) -> int | None:
    """The status of ``GET /healthz`` on ``conn`` (kept open); None when coderd closed it."""
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status
    except (ssl.SSLError, ConnectionError):  # http.client.RemoteDisconnected among them
        return None


def login(port: int, ca: str | None, client: str, password: str) -> int:
    conn = Balanced(port, ca, client)
    try:
        conn.request("POST", "/api/v2/users/login", json.dumps(
            {"email": "admin@example.com", "password": password}),
            {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


# pywsgi serving TLS (as in the cluster); gunicorn's two workers serving HTTP
@pytest.fixture(params=[("1", "tls"), ("2", "http")], ids=["pywsgi-tls", "gunicorn-http"])
def balanced_coderd(request, pg_server, pg_template, tmp_path):
    workers, scheme = request.param
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    env = {"CODER_HTTP_WORKERS": workers,
           "CODER_PROXY_PROTOCOL_ORIGINS": f"{BALANCER}/32",
           "CODER_LOGIN_RATE_LIMIT": "5",
           "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT": "3",
           "CODER_HTTP_READ_HEADER_TIMEOUT": "2s"}
    if scheme == "tls":
        coderd, ca, url = start_tls_coderd(dsn, tmp_path / "ca", env=env)
        ca = str(ca.bundle_path)
    else:
        coderd, ca, url = start_coderd(dsn, env=env), None, None
        url = coderd.url
    try:
        create_first_user(coderd)
        yield coderd, ca, int(url.rpartition(":")[2]), int(workers)
    finally:
        coderd.stop()


def test_one_clients_bad_logins_leave_the_others_login_working(balanced_coderd):
    coderd, ca, port, workers = balanced_coderd
    storm = [login(port, ca, ATTACKER, "wrong password") for _ in range(5 * workers + 1)]
    assert 429 in storm, storm  # each process allows 5 a minute to one client
    assert [login(port, ca, USER, FIRST_USER_PASSWORD) for _ in range(2 * workers)] == \
        [201] * (2 * workers)
    owner = coderd.client()
    owner.token = owner.login_with_password("admin@example.com", FIRST_USER_PASSWORD)
    logins = owner.audit_logs(q="action:login", limit=100).audit_logs
    assert {log.ip for log in logins if log.status_code == 201} >= {USER}
    assert {log.ip for log in logins if log.status_code == 401} == {ATTACKER}


def test_the_connection_cap_counts_each_client(balanced_coderd):
    coderd, ca, port, workers = balanced_coderd
    with contextlib.ExitStack() as held:
        # The hoarder's kept-alive connections, until one is refused: each process holds 3
        # (a connection goes to whichever worker accepts it, so one of 3 * workers + 1 is).
        served = 0
        for _ in range(3 * workers + 1):
            if answered(held.enter_context(Balanced(port, ca, HOARDER))) is None:
                break
            served += 1
        assert 3 <= served < 3 * workers + 1
        # The balancer's address holds all the hoarder's: another client still passes.
        with Balanced(port, ca, USER) as other:
            assert answered(other) == 200


def test_nobody_else_is_believed_and_the_balancer_must_send_its_header(balanced_coderd):
    coderd, ca, port, _ = balanced_coderd
    # A client connecting itself with a header naming someone else: its header is read as
    # the start of its TLS handshake or request line, and refused.
    with Balanced(port, ca, USER, source="127.0.0.1") as impostor:
        assert answered(impostor) == (None if ca else 400)
    # The balancer's address without a header: closed.
    with Balanced(port, ca, None) as bare:
        assert answered(bare) is None
    # Nor may it hold a connection open without one past the header timeout.
    silent = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(BALANCER, 0))
    with silent:
        started = time.monotonic()
        assert silent.recv(1) == b""
        assert time.monotonic() - started < 4
    assert "refused a connection from load balancer 127.0.0.2" in coderd.log()
    assert login(port, ca, USER, FIRST_USER_PASSWORD) == 201
