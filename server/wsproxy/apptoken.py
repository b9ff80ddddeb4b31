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


def verify(key: str, token: str, app_request: dict, max_age: float = LIFETIME) -> dict | None:
    """The token's claims if ``key`` signed it within ``max_age`` for ``app_request``."""
    try:
        claims = _serializer(key).loads(token, max_age=max_age)
    except BadData:
        return None
    if not isinstance(claims, dict) or claims.get("request") != app_request:
        return None
    return claims
