"""Fixtures shared by the mirror_tools tests.

CA fixtures (mirror_tools.ca): ``test_ca`` is one CA per test session,
constrained to localhost, example.internal and 127.0.0.0/8;
``https_cert`` is a server certificate from it for localhost and
127.0.0.1 (``.chain_path``, ``.key_path``; trust ``test_ca.bundle_path``,
e.g. through ``SSL_CERT_FILE``); ``https_server`` serves a folder over
HTTPS on 127.0.0.1 with any issued certificate.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import ssl
import threading
from pathlib import Path
from typing import Iterator

import pytest

from mirror_tools.ca import CertificateAuthority, IssuedCert
from tests.kit import imagekit, tf_registry


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path_factory.mktemp("ca") / "ca",
                                     permitted_dns=["localhost", "example.internal"],
                                     permitted_ips=["127.0.0.0/8"])


@pytest.fixture(scope="session")
def https_cert(test_ca) -> IssuedCert:
    return test_ca.issue(dns=["localhost"], ips=["127.0.0.1"])


@contextlib.contextmanager
def serve_https(folder: Path, cert: IssuedCert) -> Iterator[str]:
    """Serve ``folder`` over HTTPS on 127.0.0.1 with ``cert``; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.chain_path, cert.key_path)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_server():
    """``with https_server(folder, cert) as url:`` serves folder on 127.0.0.1."""
    return serve_https


# -- container images (mirror_tools.images) --------------------------------------------
# ``upstream_images`` is one real docker-registry per session on 127.0.0.1,
# seeded by skopeo with small real OCI images built by ``imagekit``;
# ``start_registry`` runs more of them (the offline side, TLS, auth).


@pytest.fixture(scope="session")
def upstream_images(tmp_path_factory):
    """A seeded upstream registry: ``.registry``, ``.refs`` (name -> upstream ref),
    ``.digests`` (name -> digest the upstream serves)."""
    root = tmp_path_factory.mktemp("upstream")
    with imagekit.docker_registry(root / "registry") as reg:
        yield imagekit.seed_upstream(reg, root / "build")


@pytest.fixture
def start_registry(tmp_path):
    """``start_registry(name, tls=..., auth=...)``: a fresh docker-registry, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda name="registry", **kw: stack.enter_context(
            imagekit.docker_registry(tmp_path / name, **kw))


# -- Terraform provider mirrors (mirror_tools.providers, mirror-sync) -----------------
# ``tf_registry`` is one Terraform registry per session on 127.0.0.1 (plain
# HTTP: mirror-sync is its only client), serving hashicorp/null 2.1.2 and
# 3.0.0 (the real null binary) and example/tiny 1.0.0 and 1.1.0, each for
# linux_amd64 and darwin_arm64, with GnuPG-signed SHA256SUMS. Its ``faults``
# are cleared after each test. ``tf_releases`` adds terraform itself
# (the terraform the tests run, zipped as HashiCorp does) to the same registry.

TF_PLATFORMS = ["linux_amd64", "darwin_arm64"]


@pytest.fixture(scope="session")
def _tf_registry_session(tmp_path_factory):
    with tf_registry.serving(tmp_path_factory.mktemp("tf-registry")) as registry:
        null = tf_registry.null_binary()
        for version in ("2.1.2", "3.0.0"):
            registry.add_provider("hashicorp", "null", version, TF_PLATFORMS, null)
        for version in ("1.0.0", "1.1.0"):
            registry.add_provider("example", "tiny", version, TF_PLATFORMS,
                                  tf_registry.tiny_provider("tiny", version))
        yield registry


@pytest.fixture
def tf_registry_server(_tf_registry_session):
    """The session's Terraform registry, with faults cleared after the test."""
    yield _tf_registry_session
    _tf_registry_session.faults.clear()
    _tf_registry_session.cuts = 0


@pytest.fixture(scope="session")
def tf_releases(_tf_registry_session):
    """The registry, also serving terraform 1.11.4 for linux_amd64 under /terraform/."""
    _tf_registry_session.add_local_terraform(["linux_amd64"])
    return _tf_registry_session
