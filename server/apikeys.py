"""Issuing API keys: one way for a login, a named token and a workspace build's owner key.

Not an HTTP handler: the provisioner's job payload mints keys as the API's handlers do,
so the rule lives here, below both (as Coder's ``coderd/apikey``).
"""
from __future__ import annotations

import datetime as dt
import uuid

from .authz.querier import AuthzQuerier
from .security import generate_api_key

NO_ADDRESS = "0.0.0.0"  # Coder's for a key minted with no client (coderd/apikey.Generate)


def issue_key(s: AuthzQuerier, user_id: uuid.UUID, *, login_type: str, lifetime: int,
              remote_addr: str | None = None, scope: str = "all",
              token_name: str = "") -> tuple[str, dict]:
    """Create a key; return the token (shown once) and the stored row. ``remote_addr``: the
    client the key is made for, when a request made it."""
    key_id, token, hashed = generate_api_key()
    now = dt.datetime.now(dt.timezone.utc)
    row = s.insert_api_key(id=key_id, hashed_secret=hashed, user_id=user_id,
                           expires_at=now + dt.timedelta(seconds=lifetime), login_type=login_type,
                           lifetime_seconds=lifetime, ip_address=remote_addr or NO_ADDRESS,
                           scope=scope, token_name=token_name)
    return token, row
