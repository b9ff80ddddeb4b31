"""``/latency-check``, as Coder's (``coderd/latencycheck.go``): an empty answer that clients
time to find the nearest region. coderd and every workspace proxy serve it, unauthenticated
and without data. The dashboard fetches each region's from coderd's origin, so it says
``Access-Control-Allow-Origin: *`` (the fetch may resolve; no credentials are sent, and
none are allowed) and ``Timing-Allow-Origin: *`` (the Resource Timing entry keeps its
detail, so the browser can leave the connection's set-up out of the figure); nothing else
of CORS, since a plain GET needs no preflight. ``no-store``: a cached answer measures nothing.
"""
from __future__ import annotations

from flask import Flask, Response

PATH = "/latency-check"
HEADERS = {"Access-Control-Allow-Origin": "*", "Timing-Allow-Origin": "*",
           "Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    app.add_url_rule(PATH, "latency_check", lambda: Response(b"", 200, HEADERS))
