"""Registry auth against a real docker-registry: Docker token auth and htpasswd (Basic)."""
from __future__ import annotations

import hashlib

import bcrypt
import pytest

from mirror_tools.images.push import push_layout
from mirror_tools.images.registry import RegistryError
from mirror_tools.images.sync import sync_images
from mirror_tools.manifest import ImageSpec, RegistryAccess
from tests.kit import imagekit
from tests.mirror_tools.mirrorkit import spec


def granted(requests: list[dict]) -> set[tuple[str | None, str]]:
    """(user, scope) of each single-scope token request, the scope's actions sorted."""
    out = set()
    for r in requests:
        if len(r["scope"]) == 1:
            resource, _, actions = r["scope"][0].rpartition(":")
            out.add((r["user"], f"{resource}:{','.join(sorted(actions.split(',')))}"))
    return out


@pytest.fixture(scope="module")
def small_bundle(upstream_images, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    sync_images([spec(upstream_images, "small")], out)
    return out / "images"


def test_token_auth_push_and_pull(upstream_images, small_bundle, start_registry, tmp_path):
    up = upstream_images
    with imagekit.token_server(tmp_path / "tokens", {"admin": "s3cret"},
                               anonymous_pull=True) as tokens:
        secured = start_registry("secured", auth=tokens.registry_auth())
        with pytest.raises(RegistryError, match=rf"{up.refs['small']} -> .*HTTP 401"):
            push_layout(small_bundle, secured.host, plain_http=True, state_dir=tmp_path)
        with pytest.raises(RegistryError, match=r"token endpoint .* refused"):
            push_layout(small_bundle, secured.host, plain_http=True, state_dir=tmp_path,
                        username="admin", password="wrong")
        result = push_layout(small_bundle, secured.host, plain_http=True, state_dir=tmp_path,
                             username="admin", password="s3cret")
        assert result.uploaded == 3
        # docker-registry's challenge lists the actions in either order (a Go map's).
        assert ("admin", "repository:test/small:pull,push") in granted(tokens.requests)

        # Anonymous pull: the token service grants pull without credentials.
        ref = f"{secured.host}/test/small:1.0"
        sync_images([ImageSpec(ref, [], RegistryAccess(secured.host, url=secured.url,
                                                       insecure=True))],
                    tmp_path / "pulled")
        out = imagekit.skopeo("inspect", "--raw", f"oci:{tmp_path}/pulled/images:{ref}").stdout
        assert "sha256:" + hashlib.sha256(out.encode()).hexdigest() == up.digests["small"]
        assert (None, "repository:test/small:pull") in granted(tokens.requests)


def test_htpasswd_basic_auth(upstream_images, small_bundle, start_registry, tmp_path, monkeypatch):
    up = upstream_images
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(b"admin:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)) + b"\n")
    secured = start_registry("secured", auth={"htpasswd": {"realm": "test", "path": str(htpasswd)}})
    with pytest.raises(RegistryError, match=rf"registry {secured.host}: .*HTTP 401"):
        push_layout(small_bundle, secured.host, plain_http=True, state_dir=tmp_path)
    push_layout(small_bundle, secured.host, plain_http=True, state_dir=tmp_path,
                username="admin", password="s3cret")
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", "s3cret")
    access = RegistryAccess(secured.host, url=secured.url, insecure=True, username="admin",
                            password_env="TEST_REGISTRY_PASSWORD")
    ref = f"{secured.host}/test/small:1.0"
    result = sync_images([ImageSpec(ref, [], access)], tmp_path / "pulled")
    assert result.images[0]["digest"] == up.digests["small"]
