"""Reading the audit log, with Coder's ``q`` filters."""
from __future__ import annotations

from flask import request

from appliance.digits import is_number
from appliance.sdk import model, types

from ..httpapi import APIError, parse_uuid, query_int, write
from ..httpmw import store
from . import convert
from .router import QueryParam, Router

router = Router("audit", "Audit")
FILTERS = ("resource_type", "resource_id", "action", "username", "email", "date_from",
           "date_to", "status_code")


def parse_audit_query(q: str) -> dict:
    filters: dict = {}
    for term in q.split():
        key, sep, value = term.partition(":")
        if not sep or key not in FILTERS:
            raise APIError(400, f"Invalid audit filter {term!r}.", f"Filters: {', '.join(FILTERS)}.",
                           [types.ValidationError("q", f"unknown filter {term!r}")])
        if key == "resource_id":
            filters[key] = parse_uuid(value, "q.resource_id")
        elif key in ("date_from", "date_to"):
            try:
                filters[key] = model.parse_time(value if "T" in value else value + "T00:00:00Z")
            except ValueError:
                raise APIError(400, f"Invalid date {value!r}.",
                               validations=[types.ValidationError("q", f"{key} must be YYYY-MM-DD")]) from None
        elif key == "status_code":
            if not is_number(value):
                raise APIError(400, f"Invalid status code {value!r}.",
                               validations=[types.ValidationError("q", "status_code must be a number")])
            filters[key] = int(value)
        else:
            filters[key] = value
    return filters


def _audit_log(row: dict, users: dict) -> types.AuditLog:
    user_id = row["user_id"]
    if user_id is not None and user_id not in users:
        user_row = store().as_system("audit-log-user").get_user_by_id(user_id)
        users[user_id] = convert.user(user_row) if user_row else None
    return convert.from_row(
        types.AuditLog, row, ip=row["ip"] or "",
        description=f"{{user}} {row['action']} {row['resource_type']} {row['resource_target']}".strip(),
        resource_link="", is_deleted=bool(row["user_deleted"]), user=users.get(user_id))


@router.route("GET", "/audit", summary="Search the audit log", response=types.AuditLogResponse,
              query=(QueryParam("q", "Filters: " + ", ".join(f"{f}:" for f in FILTERS)),
                     QueryParam("limit", "Page size (default 50)", "integer"),
                     QueryParam("offset", "Page offset", "integer")))
def get_audit_logs():
    return write(200, search_audit_logs(request.args.get("q", ""), offset=query_int("offset", 0),
                                        limit=query_int("limit", 50, 1, 1000)))


def search_audit_logs(q: str, *, offset: int, limit: int) -> types.AuditLogResponse:
    """A page of the audit log matching Coder's ``q``: the API's and the dashboard's."""
    rows = store().get_audit_logs(**parse_audit_query(q), offset=offset, limit=limit)
    count = rows[0]["count"] if rows else 0
    users: dict = {}
    return types.AuditLogResponse(audit_logs=[_audit_log(r, users) for r in rows], count=count)
