"""Writing the audit log: who did what to which resource, with the diff.

Entries are written by a system actor (a member's own actions are audited
even though members cannot read the log). Secrets never enter a diff: fields
named like passwords are recorded as changed, without values.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import g, request

from .httpapi import request_id
from .httpmw import system_store

SECRET_FIELDS = {"hashed_password", "password", "hashed_secret"}


def diff(old: Any, new: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """Coder's diff shape: {field: {old, new, secret}} for the fields that changed between
    two rows (dicts, or named tuples such as users'; None when there is none)."""
    out: dict[str, Any] = {}
    for name in fields:
        before = _field(old, name)
        after = _field(new, name)
        if before == after:
            continue
        secret = name in SECRET_FIELDS
        out[name] = {"old": "" if secret else _plain(before), "new": "" if secret else _plain(after),
                     "secret": secret}
    return out


def _field(row: Any, name: str) -> Any:
    if row is None:
        return None
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def _plain(value: Any) -> Any:
    if isinstance(value, (uuid.UUID,)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def record(action: str, resource_type: str, resource_id: uuid.UUID | None, target: str, *,
           status: int = 200, changes: dict[str, Any] | None = None,
           user_id: uuid.UUID | None = None, organization_id: uuid.UUID | None = None,
           additional: dict[str, Any] | None = None) -> None:
    subject = g.get("subject")
    system_store("audit").insert_audit_log(
        user_id=user_id or (subject.id if subject else None),
        organization_id=organization_id,
        ip=request.remote_addr,
        user_agent=request.user_agent.string[:512],
        resource_type=resource_type,
        resource_id=resource_id,
        resource_target=target,
        action=action,
        diff=changes or {},
        status_code=status,
        request_id=request_id(),
        additional_fields=additional,
    )
