"""The provider-mirror building blocks: constraints, hashes, signatures, registry client."""
from __future__ import annotations

import base64
import hashlib
import zipfile

import pytest
import requests

from mirror_tools import fetch
from mirror_tools.manifest import RegistryAccess
from mirror_tools.providers import hashes
from mirror_tools.providers.layout import derived_files
from mirror_tools.providers.registry import RegistryClient
from mirror_tools.providers.signing import SignatureError, verify_detached
from mirror_tools.providers.versions import ConstraintError, matching

AVAILABLE = ["1.0.0", "2.0.0", "2.1.0", "2.1.2", "2.2.0", "2.3.0-beta1", "3.0.0"]


@pytest.mark.parametrize("constraint, newest_first", [
    (">= 2.1, < 3.0", ["2.2.0", "2.1.2", "2.1.0"]),
    ("~> 2.1", ["2.2.0", "2.1.2", "2.1.0"]),
    ("~> 2.1.0", ["2.1.2", "2.1.0"]),
    ("~> 2", ["2.2.0", "2.1.2", "2.1.0", "2.0.0"]),
    ("= 2.1.2", ["2.1.2"]),
    ("2.1.2", ["2.1.2"]),
    ("!= 2.2.0, > 2.0", ["3.0.0", "2.1.2", "2.1.0"]),
    ("<= 1.0.0", ["1.0.0"]),
    ("= 2.3.0-beta1", ["2.3.0-beta1"]),     # a pre-release only when named exactly
    ("> 4", []),
])
def test_constraints_follow_terraform(constraint, newest_first):
    assert matching(constraint, AVAILABLE) == newest_first


@pytest.mark.parametrize("bad", ["", "about 2", ">= 2.x", "=> 2.1", "~> 2.1,"])
def test_bad_constraints_are_refused(bad):
    with pytest.raises(ConstraintError):
        matching(bad, AVAILABLE)


def test_h1_is_go_dirhash_over_the_zip_entries(tmp_path):
    """Hash1: sha256 of the sorted "HEX  NAME\\n" lines, base64. (That it equals
    terraform's own h1: is proven by test_mirror_sync_terraform.)"""
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("b", b"bee")
        z.writestr("a", b"ay")
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in (("a", b"ay"), ("b", b"bee")))
    expected = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    assert hashes.h1_zip(path) == expected
    assert hashes.zh("ab" * 32) == "zh:" + "ab" * 32


def test_signature_checks(_tf_registry_session):
    key, rogue = _tf_registry_session.key, _tf_registry_session.rogue
    data = b"0" * 64 + b"  terraform-provider-x_1.0.0_linux_amd64.zip\n"
    assert verify_detached(data, key.sign(data), [key.public_key], what="x 1.0.0") == key.fingerprint
    with pytest.raises(SignatureError, match=r"x 1.0.0: bad GnuPG signature"):
        verify_detached(data + b"more", key.sign(data), [key.public_key], what="x 1.0.0")
    with pytest.raises(SignatureError, match=rf"x 1.0.0: signed by unknown key {rogue.key_id}"):
        verify_detached(data, rogue.sign(data), [key.public_key], what="x 1.0.0")
    with pytest.raises(SignatureError, match=r"x 1.0.0: the published signing key could not be"):
        verify_detached(data, key.sign(data), ["not a key"], what="x 1.0.0")


def _client(registry) -> RegistryClient:
    return RegistryClient(fetch.session(retries=1, backoff=0),
                          RegistryAccess("registry.terraform.io", url=registry.url, insecure=True))


def test_registry_client_reads_the_protocol(tf_registry_server):
    client = _client(tf_registry_server)
    versions = client.versions("hashicorp", "null")
    assert versions == {"2.1.2": {"linux_amd64", "darwin_arm64"},
                        "3.0.0": {"linux_amd64", "darwin_arm64"}}
    info = client.download_info("hashicorp", "null", "2.1.2", "linux_amd64")
    assert info.filename == "terraform-provider-null_2.1.2_linux_amd64.zip"
    assert info.download_url.startswith(tf_registry_server.url + "/files/")
    assert info.gpg_public_keys == (tf_registry_server.key.public_key,)


@pytest.mark.parametrize("fault, error", [
    ("garbage", r"provider registry.terraform.io/hashicorp/null: .* did not answer JSON"),
    ("status500", r"provider registry.terraform.io/hashicorp/null: .* answered 500"),
])
def test_registry_client_names_the_provider_on_bad_answers(tf_registry_server, fault, error):
    tf_registry_server.faults[fault] = "/null/versions"
    with pytest.raises(fetch.FetchError, match=error):
        _client(tf_registry_server).versions("hashicorp", "null")


def test_unknown_provider_is_not_found(tf_registry_server):
    with pytest.raises(fetch.FetchError, match=r"provider registry.terraform.io/hashicorp/nope: "
                       r"not found"):
        _client(tf_registry_server).versions("hashicorp", "nope")


def test_unreachable_registry_is_named():
    client = RegistryClient(fetch.session(retries=0),
                            RegistryAccess("registry.terraform.io", url="http://127.0.0.1:9",
                                           insecure=True))
    with pytest.raises(fetch.FetchError, match=r"registry registry.terraform.io service discovery: "
                       r"cannot reach"):
        client.versions("hashicorp", "null")


def test_lock_file_has_every_platform_h1_and_zh():
    files = {
        f"providers/registry.terraform.io/hashicorp/null/z_{v}_{p}.zip": {
            "kind": "provider", "source": "registry.terraform.io/hashicorp/null", "version": v,
            "platform": p, "sha256": f"{v}{p}", "size": 1, "h1": f"h1:{v}-{p}", "origin": "registry"}
        for v in ("2.1.2", "2.10.0") for p in ("linux_amd64", "darwin_arm64")}
    out = derived_files(files)
    assert sorted(out) == [".terraform.lock.hcl",
                           "providers/registry.terraform.io/hashicorp/null/2.1.2.json",
                           "providers/registry.terraform.io/hashicorp/null/2.10.0.json",
                           "providers/registry.terraform.io/hashicorp/null/index.json"]
    lock = out[".terraform.lock.hcl"].decode()
    assert 'version = "2.10.0"' in lock      # newest by version order, not string order
    assert lock.count('"h1:2.10.0-') == 2 and lock.count('"zh:2.10.0') == 2
    assert "2.1.2" not in lock


def test_get_bytes_reports_404_as_not_found(tf_registry_server):
    with pytest.raises(fetch.FetchError, match=r"thing: not found"):
        fetch.get_bytes(requests.Session(), tf_registry_server.url + "/nothing", what="thing")


def test_serve_resolves_only_regular_visible_files_under_the_prefix(tmp_path):
    from mirror_tools.serve import content_type, resolve
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "index.json").write_text("{}")
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "x").write_text("x")
    (tmp_path / "link").symlink_to("/etc/passwd")
    root = tmp_path.resolve()
    assert resolve(root, "/mirror/providers/index.json?x=1", "/mirror/") == \
        root / "providers" / "index.json"
    for path in ("/providers/index.json", "/mirror/.partial/x", "/mirror/link",
                 "/mirror/providers", "/mirror/../mirror/providers/index.json"):
        assert resolve(root, path, "/mirror/") is None, path
    assert content_type("terraform_1.11.4_SHA256SUMS").startswith("text/plain")
    assert content_type("a.zip") == "application/zip"
