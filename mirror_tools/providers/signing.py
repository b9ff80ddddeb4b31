"""GnuPG verification of a detached SHA256SUMS signature, in a throwaway keyring.

The keys a registry publishes (or the manifest names, for terraform releases)
are imported into a fresh GNUPGHOME that is deleted afterwards, so the
machine's own keyring is neither trusted nor changed, and a key the registry
did not publish can never make a signature valid.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gnupg
import requests

from mirror_tools.fetch import FetchError, get_bytes


class SignatureError(FetchError):
    """SHA256SUMS is not signed by one of the keys it should be; names the artefact."""


def verify_detached(data: bytes, signature: bytes, armored_keys: list[str], *, what: str,
                    url: str = "") -> str:
    """Check ``signature`` over ``data`` against ``armored_keys``; return the signer's fingerprint.

    Raises SignatureError naming ``what`` (and the signature's ``url``) when
    the keys do not import, the signature was made by another key, or it does
    not match the data.
    """
    at = f" in {url}" if url else ""
    if not armored_keys:
        raise SignatureError(f"{what}: no GnuPG public key to check the signature with")
    # gpg-agent sockets live in GNUPGHOME, whose path must stay short.
    home = tempfile.mkdtemp(prefix="gpg-", dir="/tmp")
    try:
        gpg = gnupg.GPG(gnupghome=home)
        imported = gpg.import_keys("\n".join(armored_keys))
        if not imported.fingerprints:
            detail = (imported.stderr or "").strip().splitlines()
            raise SignatureError(f"{what}: the published signing key could not be imported "
                                 f"({detail[-1] if detail else 'no key data'})")
        sig_path = Path(home, "data.sig")
        sig_path.write_bytes(signature)
        result = gpg.verify_data(str(sig_path), data)
        # The keyring holds nothing but the published keys, so a valid
        # signature is one made by them (or by one of their subkeys).
        if result.valid:
            return result.fingerprint
        if result.status == "no public key" or "NO_PUBKEY" in (result.stderr or ""):
            raise SignatureError(f"{what}: signed by unknown key {result.key_id or '?'}{at}, "
                                 "not by the key the registry publishes")
        raise SignatureError(f"{what}: bad GnuPG signature "
                             f"({result.status or 'no valid signature'}){at}")
    finally:
        shutil.rmtree(home, ignore_errors=True)



@dataclass(frozen=True)
class SignedSums:
    """A SHA256SUMS file whose signature checked out, parsed."""
    content: bytes
    signature: bytes
    sums: dict[str, str]
    url: str = ""   # where SHA256SUMS came from

    @staticmethod
    def parse(content: bytes) -> dict[str, str]:
        """File name -> sha256 from a SHA256SUMS file (``sha256sum`` format)."""
        sums = {}
        for line in content.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and len(parts[0]) == 64:
                sums[parts[1].lstrip("*")] = parts[0].lower()
        return sums


def fetch_signed_sums(session: requests.Session, sums_url: str, sig_url: str,
                      armored_keys: list[str], *, what: str) -> SignedSums:
    """Download SHA256SUMS and its detached signature, verify, and parse it."""
    content = get_bytes(session, sums_url, what=f"{what} SHA256SUMS")
    signature = get_bytes(session, sig_url, what=f"{what} SHA256SUMS signature")
    verify_detached(content, signature, armored_keys, what=f"{what} SHA256SUMS", url=sig_url)
    return SignedSums(content, signature, SignedSums.parse(content), sums_url)


def expected_sha256(signed: SignedSums, filename: str, *, what: str,
                    claimed: str | None = None) -> str:
    """The signed sha256 of ``filename``; it must agree with what the registry claimed."""
    sha = signed.sums.get(filename)
    if sha is None:
        raise SignatureError(f"{what}: {filename} is not listed in the signed SHA256SUMS "
                             f"({signed.url})")
    if claimed and claimed.lower() != sha:
        raise SignatureError(f"{what}: checksum mismatch: the registry says sha256 {claimed} "
                             f"but the signed SHA256SUMS ({signed.url}) says {sha}")
    return sha
