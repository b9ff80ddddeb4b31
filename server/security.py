"""Passwords and API keys.

Passwords use PBKDF2-SHA256 with 65,535 iterations in Coder's own string
format (``$pbkdf2-sha256$ITER$SALT$HASH``), so hashes move between Coder and
the appliance. The KDF runs in gevent's thread pool when serving: hashlib
releases the GIL, so a login does not stall every other request.

API keys are Coder's ``ID-SECRET``: a 10-character id to look the key up and a
22-character secret of which only a SHA-256 is stored.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

ITERATIONS = 65535
# A hash of no one's password, checked against when there is no user: as slow as a real one.
DUMMY_PASSWORD_HASH = "$pbkdf2-sha256$65535$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 86
_ALPHABET = string.ascii_letters + string.digits
_SCHEME = "pbkdf2-sha256"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _in_threadpool(fn, *args):
    try:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            import gevent

            return gevent.get_hub().threadpool.apply(fn, args)
    except ImportError:
        pass
    return fn(*args)


def _kdf(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 64)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _in_threadpool(_kdf, password, salt, ITERATIONS)
    return f"${_SCHEME}${ITERATIONS}${_b64(salt)}${_b64(digest)}"


def verify_password(hashed: str, password: str) -> bool:
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != _SCHEME:
        # No usable hash (login_type none): still spend the time, so timing
        # does not reveal which accounts exist.
        _in_threadpool(_kdf, password, b"0" * 16, ITERATIONS)
        return False
    try:
        iterations, salt, expected = int(parts[2]), _unb64(parts[3]), _unb64(parts[4])
    except ValueError:
        return False
    return hmac.compare_digest(_in_threadpool(_kdf, password, salt, iterations), expected)


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def generate_api_key() -> tuple[str, str, bytes]:
    """A new key: (key id, the full token to hand out once, the secret's hash to store)."""
    key_id, secret = _random(10), _random(22)
    return key_id, f"{key_id}-{secret}", hash_secret(secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_token(token: str) -> tuple[str, str] | None:
    key_id, sep, secret = token.partition("-")
    if not sep or len(key_id) != 10 or len(secret) != 22:
        return None
    return key_id, secret
