"""The audit log."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg2.extras import Json

from .base import QueriesBase, conditions


class AuditQueries(QueriesBase):
    def insert_audit_log(self, *, user_id: uuid.UUID | None, organization_id: uuid.UUID | None,
                         ip: str | None, user_agent: str, resource_type: str,
                         resource_id: uuid.UUID | None, resource_target: str, action: str,
                         diff: dict[str, Any], status_code: int, request_id: uuid.UUID,
                         additional_fields: dict[str, Any] | None = None) -> None:
        self._exec(
            """INSERT INTO audit_logs (user_id, organization_id, ip, user_agent, resource_type,
                   resource_id, resource_target, action, diff, status_code, request_id,
                   additional_fields)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (user_id, organization_id, ip, user_agent, resource_type, resource_id,
             resource_target, action, Json(diff), status_code, request_id,
             Json(additional_fields or {})))

    def get_audit_logs(self, *, resource_type: str = "", resource_id: uuid.UUID | None = None,
                       action: str = "", username: str = "", email: str = "",
                       date_from: dt.datetime | None = None, date_to: dt.datetime | None = None,
                       status_code: int | None = None, offset: int = 0, limit: int = 50) -> list[dict]:
        where, params = conditions(
            ("a.resource_type = %s", resource_type), ("a.action = %s", action),
            ("a.resource_id = %s", resource_id), ("lower(u.username) = lower(%s)", username),
            ("lower(u.email) = lower(%s)", email), ("a.time >= %s", date_from),
            ("a.time < %s", date_to), ("a.status_code = %s", status_code or None))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        params += [offset, limit]
        return self._all(
            f"""SELECT a.*, host(a.ip) AS ip, count(*) OVER () AS count,
                       u.username AS user_username, u.email AS user_email, u.deleted AS user_deleted
                FROM audit_logs a LEFT JOIN users u ON u.id = a.user_id
                {clause} ORDER BY a.time DESC OFFSET %s LIMIT %s""", params)
