"""GnuPG verification of a detached SHA256SUMS signature, in a throwaway keyring.

The keys a registry publishes (or the manifest names, for terraform releases)
are imported into a fresh GNUPGHOME that is deleted afterwards, so the
machine's own keyring is neither trusted nor changed, and a key the registry
did not publish can never make a signature valid.

A registry's own answer cannot vouch for itself, though: whoever controls
the registry (or the path to it) publishes its own key with its own
signature. So a provider's signature must also be made by a key pinned for
its namespace: by the manifest (``registries.HOST.signers.NAMESPACE``) or,
for ``registry.terraform.io/hashicorp/*``, by HashiCorp's release key built
in here. An unpinned namespace is refused, naming the key the registry
offered, so the administrator can check that fingerprint and pin it.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gnupg
import requests

from mirror_tools.fetch import FetchError, get_bytes
from mirror_tools.manifest import RegistryAccess


class SignatureError(FetchError):
    """SHA256SUMS is not signed by one of the keys it should be; names the artefact."""


# HashiCorp's release signing key ("HashiCorp Security", key ID 72D7468F,
# published at https://www.hashicorp.com/security and embedded in HashiCorp's
# own installer, hashicorp/hc-install internal/pubkey); it signs the
# SHA256SUMS of every hashicorp/* provider on registry.terraform.io and of
# every terraform release.
HASHICORP_RELEASE_KEY = "C874011F0AB405110D02105534365D9472D7468F"
BUILT_IN_SIGNERS = {("registry.terraform.io", "hashicorp"): (HASHICORP_RELEASE_KEY,)}


@dataclass(frozen=True)
class Pins:
    """The fingerprints allowed to sign, and the manifest field that sets them."""
    fingerprints: tuple[str, ...]
    field: str


def pinned_signers(access: RegistryAccess, namespace: str) -> Pins:
    """The keys allowed to sign ``namespace``'s providers on ``access.host``:
    the manifest's pins, else the built-in ones, else none."""
    field = f"registries.{access.host}.signers.{namespace}"
    return Pins(access.signers.get(namespace)
                or BUILT_IN_SIGNERS.get((access.host, namespace), ()), field)


def verify_detached(data: bytes, signature: bytes, armored_keys: list[str], *, what: str,
                    url: str = "", pins: Pins | None = None) -> str:
    """Check ``signature`` over ``data`` against ``armored_keys``; return the signer's fingerprint.

    Raises SignatureError naming ``what`` (and the signature's ``url``) when
    the keys do not import, the signature was made by another key, or it does
    not match the data; with ``pins``, also when the signing key (or its
    primary key) is not one of them.
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
            if pins is not None:
                _check_pinned(result, pins, what, at)
            return result.fingerprint
        if result.status == "no public key" or "NO_PUBKEY" in (result.stderr or ""):
            raise SignatureError(f"{what}: signed by unknown key {result.key_id or '?'}{at}, "
                                 "not by the key the registry publishes")
        raise SignatureError(f"{what}: bad GnuPG signature "
                             f"({result.status or 'no valid signature'}){at}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _check_pinned(result, pins: Pins, what: str, at: str) -> None:
    primary = (getattr(result, "pubkey_fingerprint", None) or result.fingerprint).upper()
    if {primary, result.fingerprint.upper()} & set(pins.fingerprints):
        return
    signer = f"key {primary} ({result.username or 'no user ID'})"
    if not pins.fingerprints:
        raise SignatureError(f"{what}: no signing key is pinned for it ({pins.field}); the "
                             f"registry's signature is by {signer}{at}: check that fingerprint "
                             f"with the publisher, then pin it in {pins.field}")
    raise SignatureError(f"{what}: signed by {signer}{at}, not by a key pinned in {pins.field} "
                         f"({', '.join(pins.fingerprints)})")


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
                      armored_keys: list[str], *, what: str, pins: Pins | None = None) -> SignedSums:
    """Download SHA256SUMS and its detached signature, verify, and parse it."""
    content = get_bytes(session, sums_url, what=f"{what} SHA256SUMS")
    signature = get_bytes(session, sig_url, what=f"{what} SHA256SUMS signature")
    verify_detached(content, signature, armored_keys, what=f"{what} SHA256SUMS", url=sig_url,
                    pins=pins)
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
