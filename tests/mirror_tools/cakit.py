"""What the CA tests share: real ``openssl verify``, a leaf the intermediate's key signs by
hand (what ``ca.issue`` refuses to make), and ``appliance ca`` in its own process."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mirror_tools.ca import CertificateAuthority
from tests.kit.tools import tool

REPO = Path(__file__).resolve().parents[2]


def openssl_verify(root: Path, untrusted: Path, leaf: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("openssl"), "verify", "-CAfile", str(root), "-untrusted",
                           str(untrusted), *extra, str(leaf)], capture_output=True, text=True)


def forged_leaf(ca: CertificateAuthority, folder: Path, dns: str, ip: str = "127.0.0.1"):
    """A server certificate signed by the intermediate's key for ``dns`` and
    ``ip``, built by hand so that it can be what ``ca.issue`` refuses to make.
    Returns an object with ``cert_path``, ``chain_path`` and ``key_path``."""
    inter = ca.intermediate_cert
    inter_key = serialization.load_pem_private_key(ca.intermediate_key_path.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    sans = [x509.DNSName(dns), x509.IPAddress(ipaddress.ip_address(ip))]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
            .issuer_name(inter.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(inter_key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    forged = SimpleNamespace(cert_path=folder / f"{dns}.crt", chain_path=folder / f"{dns}.chain.crt",
                             key_path=folder / f"{dns}.key")
    forged.cert_path.write_bytes(pem)
    forged.chain_path.write_bytes(pem + ca.intermediate_cert_path.read_bytes())
    forged.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return forged


def appliance(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``appliance ca ARGS`` without a terminal (it is never asked a passphrase)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    return subprocess.run([sys.executable, "-m", "appliance.admin.main", "ca", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60,
                          stdin=subprocess.DEVNULL, env={**environ, **(env or {})})
