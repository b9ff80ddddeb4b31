"""Trusting one certificate by its SHA-256, instead of a CA and a host name.

coderd's built-in provisioner daemons reach it on 127.0.0.1, which its
certificate does not name (it names the access host). Whatever holds that
loopback port when a daemon connects (another local user's process, after a
coderd restart) must not get the daemon's key, and with it the jobs and their
secrets: so coderd hands its daemons the SHA-256 of the certificate it serves,
and they talk to nothing else.

urllib3 checks it (``assert_fingerprint``, public): right after the handshake,
before a byte of the request leaves; a mismatch raises ``SSLError``, and
there is no fallback. With a fingerprint urllib3 skips the host name check,
but still verifies the chain unless ``cert_reqs`` is ``CERT_NONE``: the pin,
not a CA, is the trust here, so both are set, together, on the pool every
request goes through (direct or by a proxy). requests sets ``cert_reqs`` from
``verify`` on each send, in ``cert_verify``, the hook it documents for
subclasses; the adapter sets both after it.
"""
from __future__ import annotations

import os
import re
from typing import Any

from requests.adapters import HTTPAdapter


def normalize_sha256(pin: str) -> str:
    """64 hex digits, lower case; colons (as ``openssl x509 -fingerprint`` prints) are dropped.
    ValueError for anything else, so a typo fails at start rather than on every request."""
    digits = pin.replace(":", "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError(f"{pin!r} is not a certificate's SHA-256 (64 hex digits)")
    return digits


def certificate_sha256(pem_path: str | os.PathLike) -> str:
    """The pin of the certificate a server serves from ``pem_path``: the SHA-256 of the first
    certificate in the file (the rest is its chain), 64 hex digits."""
    from cryptography import x509  # only where a pin is made, not where one is checked
    from cryptography.hazmat.primitives import hashes

    with open(pem_path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())[0].fingerprint(hashes.SHA256()).hex()


class PinnedAdapter(HTTPAdapter):
    """HTTPS to a peer whose certificate's SHA-256 is ``pin``, whatever CA signed it or names it holds."""

    def __init__(self, pin: str, **kwargs: Any):
        self.pin = normalize_sha256(pin)
        super().__init__(**kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        conn.assert_fingerprint = self.pin
        conn.cert_reqs = "CERT_NONE"  # no chain check: the fingerprint, checked on every connect, is the trust
