"""The handshake between coderd processes that forwards a stream: the relay secret never
crosses the connection, a dialer without it is refused, a recorded handshake cannot be
replayed, a listener without it is not believed, and with RelayTLS the bytes are encrypted.

These drive ``Relay._dial`` and ``Relay._handle_forwarded`` over real loopback sockets with
no database (the secret is set directly); test_replicas.py runs the whole path."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest

from appliance import mux
from mirror_tools.ca.authority import CertificateAuthority
from server.relay import registry
from server.relay.registry import AgentUnavailable, Relay, RelayTLS
from server.relay.tlsstream import TLSStream

SECRET = "the-deployment-relay-secret-0123456789"
AGENT = uuid.uuid4()


def relay(secret: str = SECRET, tls: RelayTLS | None = None) -> Relay:
    r = Relay(pool=None, tls=tls)
    r._secret = secret
    return r


class Tap:
    """A loopback listener that hands each connection to ``relay`` through a recording
    proxy: ``captured`` holds every byte either side sent, as a passive listener sees it."""

    def __init__(self, listener: Relay):
        self.listener = listener
        self.captured = bytearray()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.inner = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                outside, _ = self.server.accept()
            except OSError:
                return
            inside = socket.create_connection(self.inner.getsockname())
            handler_end, peer = self.inner.accept()
            threading.Thread(target=self.listener._handle_forwarded,
                             args=(handler_end, peer), daemon=True).start()
            for src, dst in ((outside, inside), (inside, outside)):
                threading.Thread(target=self._copy, args=(src, dst), daemon=True).start()

    def _copy(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                self.captured += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.server.close()
        self.inner.close()


@pytest.fixture
def tap():
    taps = []

    def make(listener: Relay) -> Tap:
        taps.append(Tap(listener))
        return taps[-1]
    yield make
    for t in taps:
        t.close()


def test_a_right_dialer_is_answered_and_the_secret_never_crosses(tap):
    t = tap(relay())
    # The agent is not held by the listener: its answer (an error) proves the handshake passed.
    with pytest.raises(mux.StreamError, match="not connected to this process"):
        relay()._dial(t.address, AGENT, "tcp:22", 5)
    assert b"nonce" in t.captured and str(AGENT).encode() in t.captured
    assert SECRET.encode() not in t.captured


def test_a_dialer_without_the_secret_is_refused(tap):
    t = tap(relay())
    with pytest.raises(AgentUnavailable, match="connection ended"):
        relay("a-guessed-secret")._dial(t.address, AGENT, "tcp:22", 5)
    assert b"not connected" not in t.captured  # refused before anything about agents


def test_a_recorded_handshake_cannot_be_replayed(tap):
    t = tap(relay())
    with pytest.raises(mux.StreamError):
        relay()._dial(t.address, AGENT, "tcp:22", 5)
    recorded = [json.loads(line) for line in bytes(t.captured).splitlines()]
    proof = next(m for m in recorded if "mac" in m and "agent_id" in m)
    host, _, port = t.address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.recv(4096)  # this connection's nonce, which the recorded proof does not cover
        sock.sendall(json.dumps(proof).encode() + b"\n")
        assert sock.recv(4096) == b""


def test_a_handshake_trickled_a_byte_at_a_time_is_cut_off(tap, monkeypatch):
    """attack (session 10): the listener's timeout was per read, so a peer without the
    secret that sent a byte every few seconds held a connection (and a file descriptor)
    for hours. The whole handshake now has one deadline."""
    monkeypatch.setattr(registry, "HANDSHAKE_SECONDS", 1.5)
    t = tap(relay())
    host, _, port = t.address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.recv(4096)  # the nonce
        start, closed = time.monotonic(), False
        for byte in b'{"nonce": "' + b"0" * 64:  # each well within a read's old timeout
            try:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                closed = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:  # nothing to read: still open
                continue
            except OSError:  # reset
                closed = True
            if closed:
                break
        assert closed and time.monotonic() - start < 4, time.monotonic() - start


def test_a_listener_without_the_secret_is_not_believed():
    """A fake replica at a relay address gets no secret and cannot pose as the holder."""
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def fake() -> None:
        conn, _ = server.accept()
        conn.sendall(b'{"nonce": "0"}\n')
        received.extend(conn.recv(4096))
        conn.sendall(b'{"ok": true, "mac": "00"}\n')
        conn.close()
    threading.Thread(target=fake, daemon=True).start()
    try:
        with pytest.raises(AgentUnavailable, match="did not prove"):
            relay()._dial(f"127.0.0.1:{server.getsockname()[1]}", AGENT, "tcp:22", 5)
    finally:
        server.close()
    assert received and SECRET.encode() not in received


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("relay-ca")
    authority = CertificateAuthority.init(d / "ca")
    cert = authority.issue(ips=["127.0.0.1"], name="relay")
    return RelayTLS(str(cert.chain_path), str(cert.key_path), str(authority.bundle(d / "ca.pem")))


def test_with_tls_the_stream_is_encrypted(tap, ca):
    t = tap(relay(tls=ca))
    with pytest.raises(mux.StreamError, match="not connected to this process"):
        relay(tls=ca)._dial(t.address, AGENT, "tcp:22", 5)
    assert t.captured and b"nonce" not in t.captured and str(AGENT).encode() not in t.captured


def test_with_tls_an_untrusted_listener_is_refused(tap, ca, tmp_path):
    other = CertificateAuthority.init(tmp_path / "other")
    cert = other.issue(ips=["127.0.0.1"], name="relay")
    t = tap(relay(tls=RelayTLS(str(cert.chain_path), str(cert.key_path), ca.ca_file)))
    with pytest.raises(AgentUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        relay(tls=ca)._dial(t.address, AGENT, "tcp:22", 5)


def test_tls_passes_half_closes_on(ca):
    """One direction's end (SSH's EOF on stdin) reaches the peer while the other still flows."""
    server = socket.create_server(("127.0.0.1", 0))
    got = []

    def listener() -> None:
        conn, _ = server.accept()
        tls = TLSStream(conn, ca.server_context(), server_side=True)
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
        got.append(data)
        tls.sendall(b"after your end: " + data * 50_000)
        tls.shutdown(socket.SHUT_WR)
        tls.close()
    threading.Thread(target=listener, daemon=True).start()
    raw = socket.create_connection(server.getsockname(), timeout=5)
    dialer = TLSStream(raw, ca.client_context(), server_side=False, server_hostname="127.0.0.1")
    dialer.sendall(b"hello")
    dialer.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := dialer.recv(65536):
        reply += chunk
    dialer.close()
    server.close()
    assert got == [b"hello"] and reply == b"after your end: " + b"hello" * 50_000


def test_settings_refuse_a_cleartext_relay_off_this_machine(ca):
    from appliance.settings import SettingsError, load

    assert load({}, environ={}).relay_address == "127.0.0.1"  # single host: nothing to set
    with pytest.raises(SettingsError, match="not a loopback address"):
        load({}, environ={"CODER_RELAY_ADDRESS": "10.0.0.5"})
    with pytest.raises(SettingsError, match="go together"):
        load({}, environ={"CODER_RELAY_TLS_CERT_FILE": ca.cert_file})
    files = {"CODER_RELAY_TLS_CERT_FILE": ca.cert_file, "CODER_RELAY_TLS_KEY_FILE": ca.key_file,
             "CODER_RELAY_TLS_CA_FILE": ca.ca_file}
    assert load({}, environ={"CODER_RELAY_ADDRESS": "10.0.0.5", **files}).relay_tls_ca_file
    assert load({}, environ={"CODER_RELAY_ADDRESS": "localhost"}).relay_address == "localhost"
