"""Which provider signatures mirror-sync trusts, and over what.

A registry's answer names both the zip's signing key and the signature, so a
compromised registry is consistent with itself: the signing key must be
pinned for the provider's namespace (the manifest's ``signers``, or
HashiCorp's key for ``hashicorp/*``). Registries are HTTPS unless the
manifest marks them insecure. Real GnuPG signatures, from the 127.0.0.1 test
registry (``tf_registry``).
"""
from __future__ import annotations

import re

import pytest

from mirror_tools import fetch
from mirror_tools.manifest import RegistryAccess
from mirror_tools.providers.registry import RegistryClient, RegistryError
from mirror_tools.providers.signing import (HASHICORP_RELEASE_KEY, Pins, SignatureError,
                                            verify_detached)
from tests.kit import tf_registry
from tests.mirror_tools.mirrorkit import NULL, TINY, cli, visible_tree, write_manifest

NULL_212 = "  - {source: hashicorp/null, versions: '2.1.2', platforms: [linux_amd64]}\n"
TINY_100 = "  - {source: example/tiny, versions: '1.0.0', platforms: [linux_amd64]}\n"
PINNED_HASHICORP = "registries.registry.terraform.io.signers.hashicorp"


def sync(capsys, manifest, out):
    return cli(capsys, "mirror-sync", "--manifest", str(manifest), "--out", str(out))


def spaced(fingerprint: str) -> str:
    """A fingerprint as ``gpg --fingerprint`` prints it (groups of four)."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


def test_a_registry_signing_with_a_key_of_its_own_is_refused(tmp_path, tf_registry_server,
                                                             capsys):
    """The registry publishes another key and signs with it: a valid signature
    by the key of the same answer, refused because that key is not pinned."""
    reg = tf_registry_server
    manifest = write_manifest(tmp_path / "m.yaml", reg, TINY_100)
    out = tmp_path / "out"
    assert sync(capsys, manifest, out)[0] == 0
    before = visible_tree(out)
    write_manifest(manifest, reg, TINY_100 + NULL_212)
    reg.faults["rogue_registry"] = "/null/2.1.2/"
    code, _, err = sync(capsys, manifest, out)
    assert code == 1, err
    assert re.search(
        rf"provider {NULL} 2.1.2 SHA256SUMS: signed by key {reg.rogue.fingerprint} "
        rf"\(Rogue Signer <[^>]+>\) in http://127.0.0.1:\d+/files/hashicorp/null/2.1.2/\S+\.sig, "
        rf"not by a key pinned in {re.escape(PINNED_HASHICORP)} \({reg.key.fingerprint}\)", err), err
    assert visible_tree(out) == before


def test_a_pinned_key_is_trusted(tmp_path, tf_registry_server, capsys):
    """The same answer, with its key pinned (as `gpg --fingerprint` prints it)."""
    reg = tf_registry_server
    reg.faults["rogue_registry"] = "/null/2.1.2/"
    manifest = write_manifest(tmp_path / "m.yaml", reg, NULL_212,
                              signers={"hashicorp": spaced(reg.rogue.fingerprint).lower()})
    out = tmp_path / "out"
    code, _, err = sync(capsys, manifest, out)
    assert code == 0, err
    assert (out / "providers" / NULL / "terraform-provider-null_2.1.2_linux_amd64.zip").is_file()
    assert cli(capsys, "mirror", "verify", str(out))[0] == 0


def test_hashicorp_needs_hashicorps_key_and_other_namespaces_a_pin(tmp_path, tf_registry_server,
                                                                   capsys):
    reg = tf_registry_server
    manifest = write_manifest(tmp_path / "m.yaml", reg, NULL_212 + TINY_100, signers={})
    code, _, err = sync(capsys, manifest, tmp_path / "out")
    assert code == 1
    assert re.search(rf"provider {NULL} 2.1.2 SHA256SUMS: signed by key {reg.key.fingerprint} "
                     rf"\(Test Registry <[^>]+>\) in \S+, not by a key pinned in "
                     rf"{re.escape(PINNED_HASHICORP)} \({HASHICORP_RELEASE_KEY}\)", err), err
    assert re.search(rf"provider {TINY} 1.0.0 SHA256SUMS: no signing key is pinned for it "
                     rf"\(registries.registry.terraform.io.signers.example\); the registry's "
                     rf"signature is by key {reg.key.fingerprint} .*: check that fingerprint", err)
    assert not (tmp_path / "out" / "providers").exists()


def test_pins_match_the_primary_key_of_a_signing_subkey(tmp_path):
    """HashiCorp signs with a subkey of the key whose fingerprint is published."""
    key = tf_registry.SigningKey(tmp_path / "gpg", "Subkey Signer", subkey=True)
    try:
        assert key.signing_fingerprint != key.fingerprint
        data = b"0" * 64 + b"  terraform-provider-x_1.0.0_linux_amd64.zip\n"
        sig = key.sign(data)
        assert verify_detached(data, sig, [key.public_key], what="x",
                               pins=Pins((key.fingerprint,), "f")) == key.signing_fingerprint
        with pytest.raises(SignatureError, match=rf"x: signed by key {key.fingerprint} "
                           rf"\(Subkey Signer .*\), not by a key pinned in f \(0+\)"):
            verify_detached(data, sig, [key.public_key], what="x", pins=Pins(("0" * 40,), "f"))
    finally:
        key.close()


@pytest.fixture(scope="module")
def https_registry(_tf_registry_session, https_cert, tmp_path_factory):
    """A Terraform registry over HTTPS (the session CA's certificate for 127.0.0.1)."""
    reg = tf_registry.Registry(tmp_path_factory.mktemp("https-registry"), _tf_registry_session.key,
                               _tf_registry_session.rogue,
                               tls=(str(https_cert.chain_path), str(https_cert.key_path)))
    reg.add_provider("example", "tiny", "1.0.0", ["linux_amd64"],
                     tf_registry.tiny_provider("tiny", "1.0.0"))
    with reg.running():
        yield reg


def test_plain_http_only_when_the_manifest_says_so(tmp_path, tf_registry_server, capsys):
    reg = tf_registry_server
    manifest = write_manifest(tmp_path / "m.yaml", reg, TINY_100)
    manifest.write_text(manifest.read_text().replace("    insecure: true\n", ""))
    reg.requests.clear()
    code, _, err = sync(capsys, manifest, tmp_path / "out")
    assert code == 1 and re.search(r"m.yaml:3: registries.registry.terraform.io.url: "
                                   r"'http://127.0.0.1:\d+' is plain HTTP", err), err
    assert reg.requests == []
    with pytest.raises(RegistryError, match=r"registry registry.terraform.io: http://\S+ is not "
                       r"HTTPS; refused unless the manifest marks the registry insecure"):
        RegistryClient(fetch.session(), RegistryAccess("registry.terraform.io", url=reg.url))


def test_an_https_registry_cannot_send_downloads_over_http(tmp_path, https_registry, test_ca,
                                                           capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"registries:\n  registry.terraform.io:\n    url: {https_registry.url}\n"
        f"    ca_bundle: {test_ca.bundle_path}\n"
        f"    signers: {{example: [{https_registry.key.fingerprint}]}}\nproviders:\n{TINY_100}")
    https_registry.faults["plain_http_links"] = "/download/"
    try:
        code, _, err = sync(capsys, manifest, tmp_path / "out")
    finally:
        https_registry.faults.clear()
    assert code == 1
    assert re.search(rf"provider {TINY} 1.0.0 linux_amd64: http://127.0.0.1:\d+/files/example/"
                     r"tiny/1.0.0/terraform-provider-tiny_1.0.0_linux_amd64.zip is not HTTPS", err), err
    assert not any("/files/" in r for r in https_registry.requests)
    code, _, err = sync(capsys, manifest, tmp_path / "out")
    assert code == 0, err
