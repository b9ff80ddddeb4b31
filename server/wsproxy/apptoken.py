"""Signed app tokens: coderd's answer to a proxy asking whether a session may open an app.

As Coder's ``issue-signed-app-token``: the proxy, holding no database, passes the
visitor's session and the app request to coderd, which decides with its own
authorization layer (``server.relay.apps``) and answers with a token the proxy checks
offline. The token is an itsdangerous signature (HMAC) over the proxy's ID, the
request it answers, the session key's ID and the agent and target to dial, with the
time it was signed. The key is per proxy, derived from a deployment secret that never
leaves coderd: a proxy's key (given at registration) verifies only its own tokens, and a
deleted proxy's key signs nothing new. A token is good for ``LIFETIME`` seconds and only
for the request it names, so replaying one for another app or user is refused.

The same token is the proxy's grant at coderd's relay listener: it names the agent and
target, and the listener opens nothing else for the proxy (``relay_key_for_stream``).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from itsdangerous import BadData, URLSafeTimedSerializer

KEY_NAME = "wsproxy_app_key"
SALT = "coder-appliance workspace proxy app token"
LIFETIME = 60.0


class GrantRefused(ValueError):
    """A relay listener refuses a proxy's stream: no such proxy, or no grant from coderd for
    it. A ValueError, as the relay's own handshake errors are, so the listener ends the
    handshake the same way without this module importing the relay."""


def proxy_key(deployment_key: str, proxy_id: uuid.UUID) -> str:
    """The proxy's own signing key: its tokens verify with it and no other proxy's."""
    return hmac.new(deployment_key.encode(), f"wsproxy:{proxy_id}".encode(),
                    hashlib.sha256).hexdigest()


def new_deployment_key() -> str:
    return secrets.token_urlsafe(32)


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=SALT)


def sign(key: str, claims: dict) -> str:
    return _serializer(key).dumps(claims)


def verify(key: str, token: str, expected: dict, max_age: float = LIFETIME) -> dict | None:
    """The token's claims if ``key`` signed it within ``max_age`` with each ``expected``
    claim (the app request it answers; the agent and target of a stream)."""
    try:
        claims = _serializer(key).loads(token, max_age=max_age)
    except BadData:
        return None
    if not isinstance(claims, dict) or any(claims.get(k) != v for k, v in expected.items()):
        return None
    return claims


def relay_key(relay_secret: str, proxy_id: uuid.UUID) -> str:
    """The proxy's key for coderd's relay listeners (given at registration): its proof in
    the relay handshake, in place of the deployment's relay secret, which it never gets."""
    return hmac.new(relay_secret.encode(), f"wsproxy-relay:{proxy_id}".encode(),
                    hashlib.sha256).hexdigest()


def relay_key_for_stream(store, relay_secret: str, header: dict) -> str:
    """What a relay listener asks of a proxy dialing it: a live proxy, and coderd's signed
    grant (a fresh app token) for this very agent and target; then the proxy's relay key,
    which its proof must show. GrantRefused otherwise. ``store``: a system querier."""
    try:
        proxy_id = uuid.UUID(str(header["proxy_id"]))
    except ValueError:
        raise GrantRefused("not a workspace proxy ID") from None
    proxy = store.get_workspace_proxy_by_id(proxy_id)
    deployment_key = store.get_deployment_value(KEY_NAME)
    if proxy is None or proxy["deleted"] or not deployment_key:
        raise GrantRefused(f"no workspace proxy {proxy_id}")
    expected = {"proxy_id": str(proxy_id), "agent_id": str(header["agent_id"]),
                "target": str(header["target"])}
    if verify(proxy_key(deployment_key, proxy_id), str(header.get("grant", "")), expected) is None:
        raise GrantRefused("no valid grant from coderd for this stream")
    return relay_key(relay_secret, proxy_id)
