"""The workspaces list: Coder's /workspaces page, with its ``q`` filter and live status.

The rows come from the API's own query, filter parser and JSON conversion
(``server.api.workspaces``), so the page shows what ``GET /api/v2/workspaces`` answers the
same viewer: a member sees their own. The table's body asks for itself again every few
seconds (htmx, ``hx-trigger="every 5s"``) and gets only its rows back.
"""
from __future__ import annotations

import datetime as dt

from flask import g, request

from ..api.workspaces import parse_workspace_query, workspaces as workspace_json
from ..httpapi import APIError, query_int
from ..httpmw import store
from .pages import blueprint, page, signed_in

PAGE_SIZE = 25  # Coder's dashboard's page of workspaces
DEFAULT_QUERY = "owner:me"  # what Coder's page filters by until the viewer says otherwise
POLL_SECONDS = 5


@blueprint.get("/workspaces")
@signed_in
def workspaces():
    q = request.args.get("q", DEFAULT_QUERY)
    number = query_int("page", 1, 1)
    try:
        rows = store().get_workspaces(**parse_workspace_query(q), requester_id=g.subject.id,
                                      offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    except APIError as exc:
        rows, error = [], exc.validations[0].detail if exc.validations else exc.message
    else:
        error = ""
    listed = workspace_json(rows) if rows else []
    values = dict(q=q, page_number=number, error=error, rows=listed,
                  count=rows[0]["count"] if rows else 0, page_size=PAGE_SIZE,
                  poll_seconds=POLL_SECONDS, now=dt.datetime.now(dt.timezone.utc))
    template = "workspace_rows.html" if request.headers.get("HX-Request") else "workspaces.html"
    return page(template, 400 if error else 200, **values)
