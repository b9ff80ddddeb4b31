"""What a websocket refused after its upgrade reads as its close frame's reason: the
message of coderd's error, a plain-text page's text, or the status; never an HTML page's
markup, and no exception for a body that is not UTF-8 (the hook would then refuse nothing)."""
from __future__ import annotations

from flask import Response

from server.relay.websocket import close_reason


def test_the_close_reason_is_the_errors_message_never_markup():
    api = Response('{"message": "Workspace not found.", "detail": "no such id"}', status=404,
                   mimetype="application/json")
    assert close_reason(api) == "Workspace not found. no such id"
    assert close_reason(Response("403: not yours\n", status=403, mimetype="text/plain")) == \
        "403: not yours"
    page = Response("<!doctype html><h1>Not found</h1>", status=404, mimetype="text/html")
    assert close_reason(page) == "404 NOT FOUND"
    assert close_reason(Response(b"\xff\xfe oops", status=502, mimetype="text/plain")) == \
        "\ufffd\ufffd oops"
    assert close_reason(Response(b"\xff{", status=500, mimetype="application/json")) == \
        "500 INTERNAL SERVER ERROR"
