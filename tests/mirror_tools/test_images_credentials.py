"""Registry credentials go to the registry itself and nowhere else.

Each test plays a hostile registry, token endpoint (``realm``) or redirect
target with a real HTTP(S) server on 127.0.0.1 (``imagekit.recording_server``;
``localhost`` is another host name for the same machine, and the session CA's
certificate covers both) and checks which ``Authorization`` headers reached it.
"""
from __future__ import annotations

import base64
import json

import pytest

from mirror_tools import fetch
from mirror_tools.images.registry import RegistryClient, RegistryError
from tests.kit.imagekit import recording_server

USER, PASSWORD = "admin", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "issued-token"
BLOB = "sha256:" + "0" * 64


@pytest.fixture
def tls(https_cert):
    return str(https_cert.chain_path), str(https_cert.key_path)


@pytest.fixture
def session(test_ca):
    return fetch.session(ca_bundle=str(test_ca.bundle_path), retries=0)


def client(session, registry, **kw) -> RegistryClient:
    return RegistryClient(registry.url.split("://", 1)[1], session, base_url=registry.url,
                          username=USER, password=PASSWORD, **kw)


def token_endpoint(rec, req):
    return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()


def bearer_registry(realm: str):
    """A registry that asks for a token from ``realm`` and accepts it."""
    def route(rec, req):
        if req["authorization"] == f"Bearer {TOKEN}":
            return 200, {"Content-Type": "application/json"}, b"{}"
        return 401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}, b""
    return route


def basic_registry(answer):
    """A registry that wants Basic credentials, then answers ``answer(req)``."""
    def route(rec, req):
        if req["authorization"] != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""
        return answer(req)
    return route


@pytest.mark.parametrize("realm_name, realm_https", [("localhost", True), ("127.0.0.1", False)],
                         ids=["another-host", "plain-http"])
def test_credentials_never_go_to_a_foreign_or_plain_http_realm(session, tls, realm_name,
                                                               realm_https):
    """The registry names a token endpoint on another host, or one over plain
    HTTP: the token request would carry the login, so it is not made."""
    with recording_server(token_endpoint, name=realm_name, tls=tls if realm_https else None) as realm, \
            recording_server(bearer_registry(f"{realm.url}/token"), tls=tls) as registry:
        with pytest.raises(RegistryError, match=r"token endpoint .* credentials are not sent"):
            client(session, registry).ping()
    assert realm.credentials() == []


@pytest.mark.parametrize("challenge", ["basic", "bearer"])
def test_credentials_not_replayed_after_a_redirect_to_another_host(session, tls, tmp_path,
                                                                   challenge):
    """A blob redirected to another host that challenges for credentials
    (Basic, or Bearer with a realm of its own) gets none."""
    def elsewhere(rec, req):
        if req["path"].startswith("/token"):
            return token_endpoint(rec, req)
        if challenge == "basic":
            return 401, {"WWW-Authenticate": 'Basic realm="cdn"'}, b""
        return 401, {"WWW-Authenticate": f'Bearer realm="{rec.url}/token"'}, b""

    with recording_server(elsewhere, name="localhost", tls=tls) as cdn, \
            recording_server(basic_registry(lambda req: (307, {"Location": f"{cdn.url}/blob"}, b"")),
                             tls=tls) as registry:
        with pytest.raises(RegistryError, match=r"answered 401"):
            client(session, registry).download_blob("team/app", BLOB, tmp_path / "blob", "blob")
    assert BASIC in registry.credentials()       # the registry itself got them
    assert [r["path"] for r in cdn.seen][:1] == ["/blob"]
    assert cdn.credentials() == []


def test_upload_location_on_another_host_gets_no_credentials(session, tls, tmp_path):
    """An upload session the registry places on another host is sent there
    without the registry's credentials."""
    def elsewhere(rec, req):
        return 201, {}, b""

    def uploads(req):
        if req["method"] == "POST":
            return 202, {"Location": f"{other.url}/upload/1"}, b""
        return 200, {}, b"{}"

    with recording_server(elsewhere, name="localhost", tls=tls) as other, \
            recording_server(basic_registry(uploads), tls=tls) as registry:
        data = tmp_path / "blob"
        data.write_bytes(b"layer")
        c = client(session, registry)
        c.ping()
        c.upload_blob("team/app", BLOB, data, "blob")
    assert [r["method"] for r in other.seen] == ["PUT"]
    assert other.credentials() == []


def test_plain_http_registry_gets_no_credentials_unless_marked_insecure(session):
    """Credentials over plain HTTP only to a registry explicitly marked insecure."""
    with recording_server(basic_registry(lambda req: (200, {}, b"{}"))) as registry:
        with pytest.raises(RegistryError, match=r"plain HTTP"):
            client(session, registry).ping()
        assert registry.credentials() == []
        client(session, registry, insecure=True).ping()
        assert registry.credentials() == [BASIC]


def test_insecure_registry_sends_credentials_over_http_only_to_its_own_host(session):
    with recording_server(token_endpoint, name="localhost") as realm, \
            recording_server(bearer_registry(f"{realm.url}/token")) as registry:
        with pytest.raises(RegistryError, match=r"credentials are not sent .*not HTTPS"):
            client(session, registry, insecure=True, auth_hosts=["localhost"]).ping()
    assert realm.credentials() == []
    with recording_server(token_endpoint) as realm, \
            recording_server(bearer_registry(f"{realm.url}/token")) as registry:
        client(session, registry, insecure=True).ping()
    assert realm.credentials() == [BASIC]


def test_allowed_realm_gets_credentials_and_anonymous_tokens_come_from_anywhere(session, tls):
    with recording_server(token_endpoint, name="localhost", tls=tls) as realm, \
            recording_server(bearer_registry(f"{realm.url}/token"), tls=tls) as registry:
        client(session, registry, auth_hosts=["localhost"]).ping()
        assert realm.credentials() == [BASIC]
        assert registry.credentials() == [f"Bearer {TOKEN}"]
        # Without a login nothing secret is sent: any realm may issue anonymous tokens.
        RegistryClient("r", fetch.session(ca_bundle=session.verify, retries=0),
                       base_url=registry.url).ping()
        assert realm.credentials() == [BASIC]
    # Docker Hub's token service is on its own host, allowed out of the box.
    assert "auth.docker.io" in RegistryClient("docker.io").session.auth.auth_hosts
    assert RegistryClient("docker.io", base_url="https://proxy.example.internal"
                          ).session.auth.auth_hosts == set()


def test_token_endpoint_redirect_drops_credentials(session, tls):
    """requests' own rule, which the token request relies on: ``auth=``'s
    header is dropped when a redirect leaves the host. Guards that rule in the
    pinned requests version."""
    with recording_server(token_endpoint, name="localhost", tls=tls) as elsewhere, \
            recording_server(lambda rec, req: (302, {"Location": f"{elsewhere.url}/token"}, b""),
                             tls=tls) as realm, \
            recording_server(bearer_registry(f"{realm.url}/token"), tls=tls) as registry:
        client(session, registry).ping()
    assert realm.credentials() == [BASIC]
    assert elsewhere.seen and elsewhere.credentials() == []
