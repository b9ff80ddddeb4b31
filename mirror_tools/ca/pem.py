"""Reading and writing the CA's PEM files: certificates 0644, keys 0600.

Writes go through :func:`appliance.fileio.atomic_write`, so a key is never
readable by others even while it is being written, and a crash leaves the old
file or the new one. Read errors become :class:`CAError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.fileio import atomic_write


class CAError(Exception):
    """Bad input or state for the CA; the message names the file or name at fault."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> None:
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    with atomic_write(path, perms=0o600) as f:
        f.write(data)


def write_pem(path: Path, *certs: x509.Certificate) -> None:
    with atomic_write(path) as f:
        f.write(b"".join(pem(c) for c in certs))


def read_certs(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file; CAError if it is missing or holds none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAError(f"{path}: no such file") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CAError(f"{path}: not a PEM certificate file ({exc})") from None
    return certs


def read_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAError(f"{path}: no such file") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase:
            raise CAError(f"{path}: the key is not encrypted but a passphrase was given") from None
        raise CAError(f"{path}: the key is encrypted and needs its passphrase",
                      "pass --root-passphrase-file FILE or --root-passphrase-env VAR") from None
    except ValueError:
        raise CAError(f"{path}: cannot load the key (wrong passphrase or not a PEM key)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"{path}: not an ECDSA key")
    return key


def key_is_encrypted(path: Path) -> bool:
    """Whether the PEM key at ``path`` is passphrase-encrypted (PKCS#8); False if absent."""
    try:
        with open(path, "rb") as f:
            return f.read(64).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    except FileNotFoundError:
        return False


def same_public_key(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    """Whether ``cert`` is the certificate of ``key``."""
    raw = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*raw) == cert.public_key().public_bytes(*raw)
