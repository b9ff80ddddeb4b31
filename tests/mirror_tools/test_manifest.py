"""The mirror manifest: the documented example loads; mistakes name file, line and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from mirror_tools import manifest
from mirror_tools.manifest import ManifestError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "mirror-manifest.yaml"


def test_documented_example_loads():
    m = manifest.load(EXAMPLE)
    assert [p.source for p in m.providers] == [
        "registry.terraform.io/hashicorp/null", "registry.terraform.io/hashicorp/random",
        "registry.terraform.io/kreuzwerker/docker"]
    assert m.providers[1].versions == (">= 3.5, < 4.0", "= 3.4.3")
    assert m.providers[2].select == "all"
    assert m.terraform.version == "1.11.4" and m.terraform.platforms == ("linux_amd64",)
    assert m.terraform.signing_keys == str(EXAMPLE.parent / "hashicorp-release-key.asc")
    assert m.registry("registry.terraform.io").base_url == \
        "https://terraform-registry.example.internal"
    assert m.registry("registry.terraform.io").signers == {
        "kreuzwerker": ("AAAABBBBCCCCDDDDEEEEFFFF0000111122223333",)}
    assert [i.ref for i in m.images][0] == "docker.io/library/debian:12-slim"
    assert m.images[0].platforms == ["linux/amd64"]
    # The image's registry settings travel with it, for mirror_tools.images.
    assert m.images[1].registry.username == "mirror-bot"
    assert m.images[1].registry.auth_hosts == ("auth.example.internal",)
    assert m.images[2].registry is None
    # Its key and CA files live on the connected machine: checked before a sync.
    with pytest.raises(ManifestError, match=r"mirror-manifest.yaml:\d+: registries.registry."
                       r"terraform.io.ca_bundle: file .*corporate-ca.pem does not exist"):
        m.check_files()


def _load(tmp_path, text: str):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return manifest.load(path)


@pytest.mark.parametrize("text, error", [
    ("providers:\n  - source: hashicorp/null\n    versions: '~> 2.1'\n    platform: [linux_amd64]\n",
     r"m.yaml:4: providers\[0\]: unknown field 'platform'"),
    ("providers:\n  - source: hashicorp/null\n    versions: '~> 2.1'\n",
     r"m.yaml:2: providers\[0\]: missing required field 'platforms'"),
    ("providers:\n  - source: hashicorp/null\n    versions: 'about 2'\n    platforms: [linux_amd64]\n",
     r"m.yaml:3: providers\[0\].versions: 'about 2' in 'about 2' is not a version constraint"),
    ("providers:\n  - source: a/b/c/d\n    versions: '2.1.2'\n    platforms: [linux_amd64]\n",
     r"m.yaml:2: providers\[0\].source: 'a/b/c/d' is not a provider source address"),
    ("providers:\n  - source: hashicorp/null\n    versions: '2.1.2'\n    platforms: [linux-amd64]\n",
     r"m.yaml:4: providers\[0\].platforms: 'linux-amd64' is not a platform \(OS_ARCH"),
    ("providers:\n  - {source: hashicorp/null, versions: '2', platforms: [linux_amd64]}\n"
     "  - {source: registry.terraform.io/hashicorp/null, versions: '3', platforms: [linux_amd64]}\n",
     r"providers\[1\]: registry.terraform.io/hashicorp/null is already listed as providers\[0\]"),
    ("terraform:\n  version: latest\n  platforms: [linux_amd64]\n  signing_keys: k.asc\n",
     r"m.yaml:2: terraform.version: 'latest' is not an exact version"),
    ("images:\n  - ref: docker.io/library/debian\n",
     r"m.yaml:2: images\[0\].ref: 'docker.io/library/debian' must be pinned by tag"),
    ("images:\n  - ref: debian:12\n    platforms: [amd64]\n",
     r"m.yaml:3: images\[0\].platforms: 'amd64' is not a platform \(OS/ARCH"),
    ("registries:\n  docker.io:\n    password_env: PW\nimages: [debian:12]\n",
     r"m.yaml:3: registries.docker.io: password_env needs username"),
    ("providers:\n  - {source: null, versions: '2', platforms: [linux_amd64]}\n",
     r"m.yaml:2: providers\[0\].source: expected a string \(quote values like null"),
    ("providers: [\n", r"m.yaml:2: not valid YAML"),
    ("", r"m.yaml: the manifest is empty"),
    ("registries: {}\n", r"m.yaml:1: manifest: declares nothing to mirror"),
])
def test_mistakes_name_line_and_field(tmp_path, text, error):
    with pytest.raises(ManifestError, match=error):
        _load(tmp_path, text)


def test_short_sources_get_terraform_defaults(tmp_path):
    m = _load(tmp_path, "providers:\n  - source: random\n    versions: '>= 2.1, < 3.0'\n"
                        "    platforms: linux_amd64\n")
    assert m.providers[0].source == "registry.terraform.io/hashicorp/random"
    assert m.providers[0].platforms == ("linux_amd64",)


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ManifestError, match=r"nope.yaml: cannot read manifest"):
        manifest.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("settings, error", [
    ("url: http://registry.example.internal",
     r"m.yaml:3: registries.r.example.url: 'http://registry.example.internal' is plain HTTP: "
     r"add 'insecure: true'"),
    ("url: https://registry.example.internal\n    insecure: true",
     r"m.yaml:4: registries.r.example.insecure: only applies to an http:// url"),
    ("url: http://registry.example.internal\n    insecure: yes please",
     r"m.yaml:4: registries.r.example.insecure: 'yes please' is not true or false"),
    ("auth_hosts: [https://auth.example.internal]",
     r"m.yaml:3: registries.r.example.auth_hosts: 'https://auth.example.internal' is not a host"),
    ("signers: {hashicorp: [72D7468F]}",
     r"m.yaml:3: registries.r.example.signers.hashicorp: '72D7468F' is not a GnuPG key "
     r"fingerprint \(40 hex digits"),
    ("signers: [C874011F0AB405110D02105534365D9472D7468F]",
     r"m.yaml:3: registries.r.example.signers: expected a mapping of namespace"),
    ("signers: {hashicorp: []}", r"m.yaml:3: registries.r.example.signers.hashicorp: no fingerprint"),
])
def test_registry_transport_mistakes(tmp_path, settings, error):
    with pytest.raises(ManifestError, match=error):
        _load(tmp_path, f"registries:\n  r.example:\n    {settings}\nimages: [r.example/a:1]\n")


def test_plain_http_registry_when_marked_insecure(tmp_path):
    m = _load(tmp_path, "registries:\n  r.example:\n    url: http://127.0.0.1:5000\n"
                        "    insecure: true\n    auth_hosts: [Auth.Example]\nimages: [r.example/a:1]\n")
    access = m.images[0].registry
    assert (access.insecure, access.auth_hosts, access.base_url) == (
        True, ("auth.example",), "http://127.0.0.1:5000")
