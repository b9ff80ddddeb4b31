"""``appliance images push`` into a real docker-registry (the offline one)."""
from __future__ import annotations

import json

import pytest

from appliance.admin.main import main as appliance
from mirror_tools import fetch
from mirror_tools.images.oci_layout import Layout, LayoutError
from mirror_tools.images.push import UploadJournal, push_layout
from mirror_tools.images.sync import sync_images
from mirror_tools.manifest import ImageSpec, RegistryAccess
from tests.kit import imagekit
from tests.mirror_tools.mirrorkit import spec


@pytest.fixture(scope="module")
def bundle(upstream_images, tmp_path_factory):
    """A mirror folder with every upstream image, synced once for the module."""
    out = tmp_path_factory.mktemp("bundle")
    sync_images([spec(upstream_images, n) for n in upstream_images.refs], out)
    return out


def repo_tag(ref: str) -> tuple[str, str]:
    repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
    return repo, tag


def test_push_keeps_digests_and_second_push_uploads_nothing(upstream_images, bundle,
                                                            start_registry, tmp_path, capsys):
    up = upstream_images
    offline = start_registry("offline")
    assert appliance(["images", "push", str(bundle), offline.host, "--insecure-http",
                      "--state-dir", str(tmp_path / "state"), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["blobs_uploaded"] == 9 and report["blobs_mounted"] > 0
    for name, ref in up.refs.items():
        repo, tag = repo_tag(ref)
        out = imagekit.skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{offline.host}/{repo}:{tag}").stdout
        assert fetch.hashlib.sha256(out.encode()).hexdigest() == up.digests[name].split(":")[1]
        assert offline.digest(repo, tag) == up.digests[name]
    # skopeo pulls the pushed Docker schema2 image and the multi-arch index.
    imagekit.skopeo("copy", "--src-tls-verify=false",
                    f"docker://{offline.host}/test/docker:2", f"dir:{tmp_path / 'docker'}")
    imagekit.skopeo("copy", "--all", "--src-tls-verify=false",
                    f"docker://{offline.host}/test/multi:1.0", f"dir:{tmp_path / 'multi'}")

    with imagekit.fault_proxy(offline.host) as proxy:
        result = push_layout(bundle / "images", proxy.host, plain_http=True,
                             state_dir=tmp_path / "state")
    assert (result.uploaded, result.mounted, result.bytes) == (0, 0, 0)
    assert {r["status"] for r in result.images} == {"present"}
    assert not [(m, p) for m, p in proxy.seen if m in ("POST", "PATCH", "PUT")]


def test_push_skips_blobs_the_registry_has(upstream_images, bundle, start_registry, tmp_path):
    offline = start_registry("offline")
    push_layout(bundle / "images", offline.host, plain_http=True, only=[upstream_images.refs["small"]],
                state_dir=tmp_path)
    result = push_layout(bundle / "images", offline.host, plain_http=True,
                         only=[upstream_images.refs["multi"]], state_dir=tmp_path)
    # multi's base layer is small's: present in the registry, so mounted, not uploaded
    assert result.mounted == 1 and result.uploaded == 4


def test_interrupted_push_resumes_from_the_registry_offset(upstream_images, bundle,
                                                           start_registry, tmp_path):
    up = upstream_images
    offline = start_registry("offline")
    big = up.refs["big"]
    chunk = 256 * 1024
    sent = []

    def stop_midway(n):
        sent.append(n)
        if sum(sent) >= 3 * chunk:
            raise KeyboardInterrupt("test: stop after three chunks")

    with pytest.raises(KeyboardInterrupt):
        push_layout(bundle / "images", offline.host, plain_http=True, only=[big],
                    state_dir=tmp_path, chunk_size=chunk, jobs=1, on_bytes=stop_midway)
    journal = UploadJournal(tmp_path / f"{offline.host.replace(':', '_')}.json")
    assert len(journal.entries) == 1, "the upload location is recorded for resuming"
    size = Layout(bundle / "images").blob_path(
        json.loads(imagekit.skopeo("inspect", "--raw", "--tls-verify=false",
                                   f"docker://{big}").stdout)["layers"][0]["digest"]).stat().st_size

    result = push_layout(bundle / "images", offline.host, plain_http=True, only=[big],
                         state_dir=tmp_path, chunk_size=chunk)
    assert result.bytes < size - 2 * chunk, "resumed, not restarted"
    assert result.bytes + 3 * chunk >= size
    assert offline.digest(*repo_tag(big)) == up.digests["big"]
    assert UploadJournal(journal.path).entries == {}


def test_push_restarts_cleanly_when_the_registry_forgot_the_upload(upstream_images, bundle,
                                                                  start_registry, tmp_path):
    up = upstream_images
    offline = start_registry("offline")
    big = up.refs["big"]
    layer = json.loads(imagekit.skopeo("inspect", "--raw", "--tls-verify=false",
                                       f"docker://{big}").stdout)["layers"][0]
    journal = UploadJournal(tmp_path / f"{offline.host.replace(':', '_')}.json")
    journal.set(f"test/big@{layer['digest']}",
                f"{offline.url}/v2/test/big/blobs/uploads/00000000-0000-0000-0000-000000000000"
                f"?_state=stale")
    result = push_layout(bundle / "images", offline.host, plain_http=True, only=[big],
                         state_dir=tmp_path, chunk_size=256 * 1024)
    assert result.bytes >= layer["size"]
    assert offline.digest(*repo_tag(big)) == up.digests["big"]


def test_push_over_tls_with_the_appliance_ca(upstream_images, bundle, start_registry, tmp_path,
                                             test_ca, https_cert):
    offline = start_registry("offline", tls=(str(https_cert.chain_path), str(https_cert.key_path)))
    small = upstream_images.refs["small"]
    assert appliance(["images", "push", str(bundle), offline.host, "--image", small,
                      "--ca-bundle", str(test_ca.bundle_path),
                      "--state-dir", str(tmp_path)]) == 0
    session = fetch.session(ca_bundle=str(test_ca.bundle_path))
    assert offline.digest(*repo_tag(small), session=session) == upstream_images.digests["small"]


def test_push_to_an_untrusted_registry_fails_clearly(bundle, start_registry, tmp_path, https_cert,
                                                     capsys):
    offline = start_registry("offline", tls=(str(https_cert.chain_path), str(https_cert.key_path)))
    assert appliance(["images", "push", str(bundle), offline.host,
                      "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"registry {offline.host}" in err and "CERTIFICATE_VERIFY_FAILED" in err


def test_images_list(upstream_images, bundle, capsys):
    assert appliance(["images", "list", str(bundle), "-o", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[upstream_images.refs["multi"]]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert rows[upstream_images.refs["small"]]["digest"] == upstream_images.digests["small"]
    assert rows[upstream_images.refs["big"]]["size"] > 1_500_000
    assert appliance(["images", "list", str(bundle)]) == 0
    assert "linux/amd64,linux/arm64" in capsys.readouterr().out


def test_push_of_a_folder_that_is_no_bundle(tmp_path, capsys):
    assert appliance(["images", "push", str(tmp_path), "127.0.0.1:1", "--insecure-http"]) == 1
    assert f"{tmp_path}: not an image bundle" in capsys.readouterr().err


def test_two_images_with_one_target_name_are_refused(upstream_images, start_registry, tmp_path):
    up = upstream_images
    hub = RegistryAccess("docker.io", url=up.registry.url, insecure=True)
    sync_images([ImageSpec("docker.io/test/multi:1.0", ["linux/arm64"], hub),
                 spec(up, "multi")], tmp_path)
    offline = start_registry("offline")
    with pytest.raises(LayoutError, match=r"would both be pushed as test/multi:1.0"):
        push_layout(tmp_path / "images", offline.host, plain_http=True, state_dir=tmp_path)


def test_mirror_sync_then_push_end_to_end(upstream_images, start_registry, tmp_path):
    """The administrator's path: manifest -> ``appliance mirror-sync`` -> ``images push``."""
    up = upstream_images
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(f"""
registries:
  "{up.registry.host}":
    url: {up.registry.url}
    insecure: true
images:
  - ref: {up.refs['small']}
  - ref: {up.refs['multi']}
    platforms: [linux/amd64, linux/arm64]
""")
    assert appliance(["mirror-sync", "--manifest", str(manifest), "--out", str(tmp_path / "m"),
                      "--progress", "never"]) == 0
    offline = start_registry("offline")
    assert appliance(["images", "push", str(tmp_path / "m"), offline.host, "--insecure-http",
                      "--state-dir", str(tmp_path / "state")]) == 0
    for name in ("small", "multi"):
        assert offline.digest(*repo_tag(up.refs[name])) == up.digests[name]
