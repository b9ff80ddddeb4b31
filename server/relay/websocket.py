"""Relay websockets after the upgrade: the agent's mux session's, and clients' streams.

gevent-websocket makes the connection; from then on ``appliance.wsframes``
reads and writes its frames (gevent-websocket's Python frame parsing was most
of coderd's cost per relayed byte). The app proxy's websockets, which carry
browsers' traffic to workspace apps, stay on gevent-websocket (as adapted by
``server.adapters.gevent_websocket``).
"""
from __future__ import annotations

import contextlib
import json

from flask import Flask, request

from appliance import streams, wsframes

from ..adapters.gevent_websocket import take_frames


def server_stream(ws) -> wsframes.FrameStream:
    """A client's websocket (an agent's relay, a stream's) as coderd's MessageStream."""
    return wsframes.FrameStream(take_frames(ws))


def bridge(ws, conn: streams.Stream) -> None:
    """Carry bytes between a client's websocket (one binary message per chunk) and a
    stream until either side ends; then close both, freeing everything on every hop."""
    streams.pump(server_stream(ws), conn)


def refuse(ws, status: int, message: str) -> None:
    """gevent-websocket answers 101 before the handler runs, so a refusal (401, 403, 404,
    502) travels as the close code 4000+status with the message as reason."""
    with contextlib.suppress(OSError):
        take_frames(ws).close(wsframes.REFUSAL_BASE + status, message.encode())


def refuse_unanswered(response):
    """An error answer to a websocket nobody has taken yet, as its close code: whatever
    refused it (the session's check before any view, the authorization layer, a view),
    the client can read only a close frame once gevent-websocket has sent 101."""
    ws = request.environ.get("wsgi.websocket")
    if ws is not None and not ws.closed and response.status_code >= 400:
        refuse(ws, response.status_code, close_reason(response))
    return response


def close_reason(response) -> str:
    """Coder's error body's message and detail, a plain-text page's text, or the status
    (never an HTML page's markup)."""
    text = response.get_data().decode(errors="replace")
    if response.mimetype == "text/plain":
        return text.strip() or response.status
    try:
        body = json.loads(text)
        return f"{body.get('message', '')} {body.get('detail', '')}".strip()
    except (ValueError, AttributeError):
        return response.status


def init_app(app: Flask) -> None:
    app.after_request(refuse_unanswered)
