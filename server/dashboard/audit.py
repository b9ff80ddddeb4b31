"""The audit log: Coder's /audit page, with its ``q`` filters (``action:``,
``resource_type:``, ``resource_id:``, ``username:``, ``email:``, ``status_code:``,
``date_from:``, ``date_to:``), paged; each entry opens (``<details>``, no script) to its diff.

The entries are the API's own (``server.api.audit.search_audit_logs``): whoever may not
read the log (``GET /api/v2/audit`` answers them 404) gets the 404 page.
"""
from __future__ import annotations

from flask import request

from ..api.audit import FILTERS, search_audit_logs
from ..httpapi import APIError, query_int
from .forms import field_errors
from .pages import blueprint, page, require_nav, signed_in

PAGE_SIZE = 25  # Coder's audit page


@blueprint.get("/audit")
@signed_in
def audit():
    require_nav("dashboard.audit")
    q = request.args.get("q", "")
    number = query_int("page", 1, 1)
    status, error = 200, ""
    try:
        found = search_audit_logs(q, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        entries, count = found.audit_logs, found.count
    except APIError as exc:
        errors, message = field_errors(exc)
        entries, count, status, error = [], 0, exc.status, errors.get("q", message)
    return page("audit.html", status, q=q, entries=entries, count=count, error=error,
                page_number=number, page_size=PAGE_SIZE, filters=FILTERS)
