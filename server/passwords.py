"""Coder's answer to a weak password, for every handler that sets one."""
from __future__ import annotations

from appliance import passwords
from appliance.sdk import types

from .httpapi import APIError


def require_strong(password: str, message: str = "Password not strong enough!") -> None:
    """A 400 with ``message`` and the reason on ``password`` when Coder's rules refuse it
    (``appliance.passwords``); the change-password endpoint says "Invalid password." as Coder."""
    reason = passwords.problem(password)
    if reason:
        raise APIError(400, message, validations=[types.ValidationError("password", reason)])
