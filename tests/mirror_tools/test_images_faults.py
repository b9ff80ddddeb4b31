"""Bad upstreams and interrupted runs: clear errors, previous layout unchanged."""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mirror_tools import fetch
from mirror_tools.images.oci_layout import LayoutError
from mirror_tools.images.push import push_layout
from mirror_tools.images.registry import RegistryError
from mirror_tools.images.sync import sync_images
from mirror_tools.manifest import ImageSpec, RegistryAccess
from tests.kit import imagekit
from tests.mirror_tools.mirrorkit import spec, tree

fast_session = functools.partial(fetch.session, retries=1, backoff=0)


def via(proxy, ref):
    host = ref.split("/", 1)[0]
    return ImageSpec(ref, [], RegistryAccess(host, url=proxy.url, insecure=True))


@pytest.fixture
def mirror(upstream_images, tmp_path):
    """A mirror holding the small image, and its files' hashes."""
    out = tmp_path / "mirror"
    sync_images([spec(upstream_images, "small")], out)
    return out, tree(out)


def assert_unchanged(out, before, up):
    after = tree(out)
    assert {k: after.get(k) for k in before} == before, "existing files changed"
    out_json = imagekit.skopeo("inspect", f"oci:{out}/images:{up.refs['small']}").stdout
    assert json.loads(out_json)["Digest"] == up.digests["small"]


@pytest.mark.parametrize("fault,message", [
    ("500", r"answered 500"),
    ("truncate", r"download from .* failed"),
    ("garbage", r"checksum mismatch"),
])
def test_bad_blob_download_names_the_image(upstream_images, mirror, fault, message):
    up = upstream_images
    out, before = mirror
    with imagekit.fault_proxy(up.registry.host) as proxy:
        proxy.fault = lambda m, p: fault if "/test/big/blobs/" in p else None
        with pytest.raises(RegistryError, match=rf"{up.refs['big']}: blob sha256:.*{message}"):
            sync_images([via(proxy, up.refs["small"]), via(proxy, up.refs["big"])], out,
                        session_factory=fast_session)
    assert_unchanged(out, before, up)
    # The next run completes, reusing what the failed one fetched.
    result = sync_images([spec(up, "small"), spec(up, "big")], out)
    assert result.reused >= 3


@pytest.mark.parametrize("name,fault,message", [
    ("big", "garbage", "manifest digest mismatch"),
    ("small", "500", "GET .* answered HTTP 500"),
])
def test_bad_manifest_answer_names_the_image(upstream_images, mirror, name, fault, message):
    up = upstream_images
    out, before = mirror
    with imagekit.fault_proxy(up.registry.host) as proxy:
        proxy.fault = lambda m, p: fault if "/manifests/" in p else None
        with pytest.raises(RegistryError, match=rf"{up.refs[name]}: {message}"):
            sync_images([via(proxy, up.refs[name])], out, session_factory=fast_session)
    assert tree(out) == before


def test_missing_tag_names_the_image(upstream_images, mirror):
    up = upstream_images
    out, before = mirror
    missing = f"{up.registry.host}/test/small:no-such-tag"
    with pytest.raises(RegistryError, match=rf"{missing}: manifest unknown"):
        sync_images([spec(up, "small"), ImageSpec(missing, [], spec(up, "small").registry)], out)
    assert tree(out) == before


def test_an_image_listed_twice(upstream_images, tmp_path):
    up = upstream_images
    with pytest.raises(RegistryError, match=r"library/alpine:3.19: listed twice"):
        sync_images([spec(up, "alpine"), spec(up, "alpine")], tmp_path)
    assert not (tmp_path / "images").exists()


def test_unreadable_index_json(upstream_images, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "index.json").write_text("{not json")
    with pytest.raises(LayoutError, match=r"images/index.json: not an OCI image index"):
        sync_images([spec(upstream_images, "small")], tmp_path)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["index.json"]


def test_killed_sync_leaves_the_layout_valid_and_the_next_run_completes(upstream_images, mirror):
    up = upstream_images
    out, before = mirror
    with imagekit.fault_proxy(up.registry.host) as proxy:
        proxy.fault = lambda m, p: "slow" if "/test/big/blobs/" in p else None
        code = ("import sys; from mirror_tools.images.sync import sync_images;"
                "from mirror_tools.manifest import ImageSpec, RegistryAccess;"
                f"a = RegistryAccess({up.registry.host!r}, url={proxy.url!r}, insecure=True);"
                f"sync_images([ImageSpec(r, [], a) for r in {list(up.refs.values())!r}], {str(out)!r})")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd(),
                                env={**os.environ, "PYTHONPATH": os.getcwd()})
        deadline = time.monotonic() + 30
        while not any("/test/big/blobs/" in p for _, p in proxy.seen):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert_unchanged(out, before, up)
    result = sync_images([spec(up, n) for n in up.refs], out)
    assert result.reused > 0
    assert imagekit.skopeo("inspect", f"oci:{out}/images:{up.refs['big']}")


def test_push_fault_names_the_image_and_a_retry_completes(upstream_images, mirror, start_registry,
                                                          tmp_path):
    up = upstream_images
    out, _ = mirror
    offline = start_registry("offline")
    with imagekit.fault_proxy(offline.host) as proxy:
        proxy.fault = lambda m, p: "500" if m == "PUT" and "/manifests/" in p else None
        with pytest.raises(RegistryError, match=rf"{up.refs['small']} -> .*answered HTTP 500"):
            push_layout(out / "images", proxy.host, plain_http=True, state_dir=tmp_path)
        proxy.fault = lambda m, p: None
        result = push_layout(out / "images", proxy.host, plain_http=True, state_dir=tmp_path)
    assert result.uploaded == 0 and result.present == 3  # blobs went through the first time
    assert offline.digest("test/small", "1.0") == up.digests["small"]
