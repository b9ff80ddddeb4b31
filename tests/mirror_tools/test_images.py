"""Image sync into an OCI layout, read back by skopeo (the reference client)."""
from __future__ import annotations

import json

import pytest

from mirror_tools.images.oci_layout import REF_NAME, SOURCE_DIGEST, Layout
from mirror_tools.images.registry import RegistryError, parse_reference
from mirror_tools.images.sync import sync_images
from mirror_tools.manifest import ImageSpec, RegistryAccess
from tests.kit import imagekit
from tests.mirror_tools.mirrorkit import spec, tree


@pytest.mark.parametrize("text,expected", [
    ("alpine", "docker.io/library/alpine:latest"),
    ("alpine:3.19", "docker.io/library/alpine:3.19"),
    ("coder/coder:v2", "docker.io/coder/coder:v2"),
    ("ghcr.io/coder/coder:v2.1", "ghcr.io/coder/coder:v2.1"),
    ("127.0.0.1:5000/a/b/c:1", "127.0.0.1:5000/a/b/c:1"),
    ("localhost/x@sha256:" + "a" * 64, "localhost/x@sha256:" + "a" * 64),
])
def test_parse_reference(text, expected):
    assert str(parse_reference(text)) == expected


def test_parse_reference_rejects_bad_digest():
    with pytest.raises(RegistryError, match="invalid digest"):
        parse_reference("alpine@sha256:xyz")


def test_sync_writes_layout_that_skopeo_reads(upstream_images, tmp_path):
    up = upstream_images
    result = sync_images([spec(up, n) for n in up.refs], tmp_path)
    layout = Layout(tmp_path / "images")
    named = {img.name: img.digest for img in layout.images()}
    assert named == {up.refs[n]: up.digests[n] for n in up.refs}
    # Every blob is stored once although several images share layers.
    blobs = list((tmp_path / "images" / "blobs" / "sha256").iterdir())
    assert len(blobs) == len({b.name for b in blobs}) == result.downloaded + len(
        {img.digest for img in layout.images()}) + 2  # + the two children of the index
    # skopeo reads OCI-typed entries; the Docker schema2 one is kept verbatim
    # (its digest survives) and is proven through a push in test_images_push.
    for name in ("small", "multi", "big"):
        out = imagekit.skopeo("inspect", f"oci:{tmp_path}/images:{up.refs[name]}").stdout
        assert json.loads(out)["Digest"] == up.digests[name]
    copied = tmp_path / "copied"
    imagekit.skopeo("copy", f"oci:{tmp_path}/images:{up.refs['multi']}", f"dir:{copied}")
    manifest = json.loads((copied / "manifest.json").read_text())
    for layer in manifest["layers"]:
        assert (copied / layer["digest"].split(":")[1]).exists()
    # skopeo picked linux/amd64 out of the stored index
    config = json.loads((copied / manifest["config"]["digest"].split(":")[1]).read_text())
    assert config["architecture"] == "amd64"


def test_second_sync_downloads_nothing_and_changes_nothing(upstream_images, tmp_path):
    up = upstream_images
    specs = [spec(up, n) for n in ("small", "multi")]
    sync_images(specs, tmp_path)
    before = tree(tmp_path)
    with imagekit.fault_proxy(up.registry.host) as proxy:
        via = [ImageSpec(s.ref, s.platforms,
                         RegistryAccess(up.registry.host, url=proxy.url, insecure=True))
               for s in specs]
        result = sync_images(via, tmp_path)
    assert result.downloaded == 0 and result.reused == 7  # the base layer is shared
    assert not [p for m, p in proxy.seen if "/blobs/" in p]
    assert tree(tmp_path) == before


def test_platform_selection(upstream_images, tmp_path):
    up = upstream_images
    index = json.loads(imagekit.skopeo("inspect", "--raw", "--tls-verify=false",
                                       f"docker://{up.refs['multi']}").stdout)
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")

    sync_images([spec(up, "multi", ["linux/arm64"])], tmp_path / "one")
    [img] = Layout(tmp_path / "one" / "images").images()
    assert img.digest == arm["digest"]
    assert img.descriptor["annotations"][SOURCE_DIGEST] == up.digests["multi"]
    out = imagekit.skopeo("inspect", "--override-arch", "arm64",
                          f"oci:{tmp_path}/one/images:{up.refs['multi']}").stdout
    assert json.loads(out)["Architecture"] == "arm64"

    sync_images([spec(up, "multi", ["linux/amd64", "linux/arm64"])], tmp_path / "both")
    [img] = Layout(tmp_path / "both" / "images").images()
    assert img.digest == up.digests["multi"]

    with pytest.raises(RegistryError, match=r"test/multi:1.0: no manifest for platform "
                                            r"linux/s390x \(the index has: linux/amd64, linux/arm64\)"):
        sync_images([spec(up, "multi", ["linux/s390x"])], tmp_path / "none")


def test_docker_hub_names_survive_a_redirected_registry(upstream_images, tmp_path):
    """``docker.io`` pointed at a local registry keeps ``docker.io/...`` names."""
    up = upstream_images
    access = RegistryAccess(host="docker.io", url=up.registry.url, insecure=True)
    sync_images([ImageSpec("alpine:3.19", [], access)], tmp_path)
    [img] = Layout(tmp_path / "images").images()
    assert img.descriptor["annotations"][REF_NAME] == "docker.io/library/alpine:3.19"
    assert img.digest == up.digests["alpine"]


def test_dropped_image_is_removed_and_its_blobs_pruned(upstream_images, tmp_path):
    up = upstream_images
    sync_images([spec(up, "small"), spec(up, "big")], tmp_path)
    sync_images([spec(up, "small")], tmp_path)
    layout = Layout(tmp_path / "images")
    assert [i.name for i in layout.images()] == [up.refs["small"]]
    assert len(list((tmp_path / "images" / "blobs" / "sha256").iterdir())) == 4


def test_blobs_redirected_to_another_host(upstream_images, tmp_path):
    up = upstream_images
    with imagekit.fault_proxy(up.registry.host) as proxy:
        proxy.fault = lambda m, p: "redirect" if "/blobs/" in p else None
        result = sync_images([ImageSpec(up.refs["multi"], [], RegistryAccess(
            up.registry.host, url=proxy.url, insecure=True))], tmp_path)
    assert result.downloaded == 5 and sum("/blobs/" in p for _, p in proxy.seen) == 5
    assert Layout(tmp_path / "images").images()[0].digest == up.digests["multi"]


@pytest.mark.parametrize("method,url,scope", [
    ("GET", "https://r/v2/library/alpine/manifests/3.19", "repository:library/alpine:pull"),
    ("HEAD", "https://r/v2/a/b/c/blobs/sha256:00", "repository:a/b/c:pull"),
    ("PATCH", "https://r/v2/team/app/blobs/uploads/uuid?_state=x", "repository:team/app:pull,push"),
    ("POST", "https://r/v2/team/app/blobs/uploads/?mount=sha256%3A00&from=team%2Fbase",
     "repository:team/app:pull,push repository:team/base:pull"),
    ("GET", "https://r/v2/", None),
])
def test_token_scope_of_a_request(method, url, scope):
    from mirror_tools.images.registry import _scope_for
    assert _scope_for(method, url) == scope


def test_parse_challenge():
    from mirror_tools.images.registry import _parse_challenge
    assert _parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                            'scope="repository:library/alpine:pull"') == ("bearer", {
                                "realm": "https://auth.docker.io/token",
                                "service": "registry.docker.io",
                                "scope": "repository:library/alpine:pull"})
    assert _parse_challenge('Basic realm="registry"') == ("basic", {"realm": "registry"})
