"""The provisioner daemon client trusts coderd's certificate by its SHA-256 (sdk.pinning).

The certificates here name only ``localhost`` and come from a CA the client is not
given, while the client connects to 127.0.0.1: with the pin, neither matters; without
the right pin, nothing is sent.
"""
from __future__ import annotations

import pytest
import requests
from appliance.sdk.pinning import certificate_sha256
from appliance.sdk.provisionerd import PSK_HEADER, ProvisionerDaemonClient
from mirror_tools.ca import CertificateAuthority

from tests.kit.httpserve import GetServer


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    ca = CertificateAuthority.init(tmp_path_factory.mktemp("ca"))
    return ca.issue(dns=["localhost"], name="served"), ca.issue(dns=["localhost"], name="other")


@pytest.fixture
def server(certs):
    served, _ = certs
    seen = []

    def answer(request):
        seen.append(request.headers.get(PSK_HEADER))
        return 200, "application/json", b"{}"

    with GetServer(answer, tls=(str(served.chain_path), str(served.key_path))) as s:
        s.seen = seen
        yield s


def test_the_pinned_certificate_is_trusted_without_its_ca_or_a_matching_name(server, certs):
    served, _ = certs
    url = f"https://127.0.0.1:{server.port}"
    with pytest.raises(requests.exceptions.SSLError):  # without the pin: an unknown CA
        ProvisionerDaemonClient(url, "key").http.get(url + "/", timeout=5)
    # As `openssl x509 -fingerprint -sha256` prints it, too.
    pin = ":".join(certificate_sha256(served.cert_path)[i:i + 2] for i in range(0, 64, 2)).upper()
    resp = ProvisionerDaemonClient(url, "key", pin_sha256=pin).http.get(url + "/", timeout=5)
    assert resp.status_code == 200 and server.seen == ["key"]


def test_another_certificate_is_refused_before_anything_is_sent(server, certs):
    _, other = certs
    url = f"https://127.0.0.1:{server.port}"
    client = ProvisionerDaemonClient(url, "key", pin_sha256=certificate_sha256(other.cert_path))
    with pytest.raises(requests.exceptions.SSLError, match="Fingerprints did not match"):
        client.http.get(url + "/", timeout=5)
    assert server.seen == []


def test_a_malformed_pin_or_a_plain_http_url_is_refused_at_once():
    with pytest.raises(ValueError, match="64 hex digits"):
        ProvisionerDaemonClient("https://127.0.0.1:1", "key", pin_sha256="abc")
    with pytest.raises(ValueError, match="https"):
        ProvisionerDaemonClient("http://127.0.0.1:1", "key", pin_sha256="0" * 64)
