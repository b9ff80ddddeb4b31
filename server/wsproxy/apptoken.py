"""Signed app tokens: coderd's answer to a proxy asking whether a session may open an app.

As Coder's ``issue-signed-app-token``: the proxy, holding no database, passes the
visitor's session and the app request to coderd, which decides with its own
authorization layer (``server.relay.apps``) and answers with a token. The token is an
itsdangerous signature (HMAC) over the proxy's ID, the request it answers, the session
key's ID and the agent and target to dial, with the time it was signed. Its key is per
proxy (``grant_key``), derived from a deployment secret, and never leaves coderd: unlike
Coder's, a proxy cannot sign (or check) a token, so one holding a stolen proxy token
cannot make itself a grant coderd would not give. The proxy reads the token it got
from coderd (``claims``); a token is good for ``LIFETIME`` seconds, only for the request
and proxy it names, and a deleted proxy's tokens are refused.

The same token is the proxy's grant at coderd's relay listener: it names the agent and
target, and the listener opens nothing else for the proxy (``relay_key_for_stream``).

``seal`` and ``unseal`` carry a browser's sign-in from coderd to the proxy in a URL (as
Coder's encrypted API key): Fernet (AES-CBC and HMAC-SHA256, with the time it was made)
under a key derived from the proxy's own (``proxy_key``, given at registration as Coder's
``app_security_key``), so only that proxy reads it, and only for ``EXCHANGE_SECONDS``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadData, URLSafeTimedSerializer

KEY_NAME = "wsproxy_app_key"
SALT = "coder-appliance workspace proxy app token"
LIFETIME = 60.0
EXCHANGE_SECONDS = 60


class GrantRefused(ValueError):
    """A relay listener refuses a proxy's stream: no such proxy, or no grant from coderd for
    it. A ValueError, as the relay's own handshake errors are, so the listener ends the
    handshake the same way without this module importing the relay."""


def _derived(deployment_key: str, purpose: str, proxy_id: uuid.UUID) -> str:
    return hmac.new(deployment_key.encode(), f"{purpose}:{proxy_id}".encode(),
                    hashlib.sha256).hexdigest()


def proxy_key(deployment_key: str, proxy_id: uuid.UUID) -> str:
    """The proxy's own key (its ``app_security_key``): what coderd seals for it opens with it."""
    return _derived(deployment_key, "wsproxy", proxy_id)


def grant_key(deployment_key: str, proxy_id: uuid.UUID) -> str:
    """coderd's key for the proxy's grants: never given to anyone."""
    return _derived(deployment_key, "wsproxy-grant", proxy_id)


def deployment_key(store) -> str:
    """The deployment secret both keys derive from, made on first use. ``store``: a system
    querier."""
    return store.insert_deployment_value(KEY_NAME, secrets.token_urlsafe(32))


def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"seal:" + key.encode()).digest()))


def seal(key: str, payload: dict) -> str:
    """``payload`` encrypted for the proxy whose key is ``key``."""
    return _fernet(key).encrypt(json.dumps(payload).encode()).decode()


def unseal(key: str, token: str, max_age: int = EXCHANGE_SECONDS) -> dict | None:
    """What ``seal`` encrypted with ``key`` less than ``max_age`` seconds ago, or None."""
    try:
        payload = json.loads(_fernet(key).decrypt(token.encode(), ttl=max_age))
    except (InvalidToken, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=SALT)


def sign(key: str, claims: dict) -> str:
    return _serializer(key).dumps(claims)


def claims(token: str, expected: dict) -> dict | None:
    """What a token from coderd says (the proxy's reading: it holds no key to check it, and
    got it from coderd itself), if it names each ``expected`` claim."""
    _, payload = _serializer("").loads_unsafe(token)
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        return None
    return payload


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
    secret = store.get_deployment_value(KEY_NAME)
    if proxy is None or proxy["deleted"] or not secret:
        raise GrantRefused(f"no workspace proxy {proxy_id}")
    expected = {"proxy_id": str(proxy_id), "agent_id": str(header["agent_id"]),
                "target": str(header["target"])}
    if verify(grant_key(secret, proxy_id), str(header.get("grant", "")), expected) is None:
        raise GrantRefused("no valid grant from coderd for this stream")
    return relay_key(relay_secret, proxy_id)
