"""Following something as it changes, as Coder's event senders do: server-sent events
(``httpapi.ServerSentEventSender``) and one-way websockets
(``OneWayWebSocketEventSender``: each message a ``ServerSentEvent`` as JSON).

``follow`` yields Coder's events: a ``ping`` first (the stream is ready), the current
value as ``data``, then ``data`` after each notification on the channel that changed
it, and a ``ping`` when nothing happened for a while. No database connection is held
while waiting, and the subscription ends with the stream: when the client goes away,
a watch of its connection (SSE, ``httpapi.hang_up_watch``) or the reader (websocket)
sees it at once and ends the stream, or else the next write fails (behind TLS).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import gevent
import orjson
from flask import Response, current_app, stream_with_context
from geventwebsocket.exceptions import WebSocketError

from appliance.sdk import model

from ..httpapi import hang_up_watch
from ..httpmw import release_connection
from ..upgradecheck import websocket

PING_SECONDS = 15.0
Event = tuple[str, Any]  # (type, data already encoded as JSON text, or None)


def subscribe(channel: str, woken: threading.Event) -> Callable[[], None]:
    pubsub = current_app.extensions["coderd"].pubsub
    if pubsub is None:
        return lambda: None
    return pubsub.subscribe(channel, lambda _: woken.set())


def follow(channel: str, render: Callable[[], Any], woken: threading.Event | None = None,
           stopped: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Events for ``render()``'s value (a model) now and whenever it changes, until
    ``stopped()`` (checked whenever ``woken`` is set)."""
    woken = woken or threading.Event()  # cooperative under gevent's patching
    unsubscribe = subscribe(channel, woken)
    try:
        yield "ping", None
        last = None
        while not stopped():
            woken.clear()
            body = model.dumps(render()).decode()
            release_connection()
            if body != last:
                yield "data", body
                last = body
            if not woken.wait(PING_SECONDS) and not stopped():
                yield "ping", None
    finally:
        unsubscribe()


def sse_response(channel: str, render: Callable[[], Any]) -> Response:
    woken = threading.Event()
    hung_up = hang_up_watch(woken)

    def lines():
        for kind, body in follow(channel, render, woken, hung_up.ready):
            yield f"event: {kind}\n" + (f"data: {body}\n" if body is not None else "") + "\n"

    resp = current_app.response_class(stream_with_context(lines()), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    resp.call_on_close(lambda: hung_up.kill(block=False))
    return resp


def websocket_events(channel: str, render: Callable[[], Any]) -> Response:
    """Send each event as a JSON text message until the client closes the socket."""
    ws = websocket()
    woken = threading.Event()
    closed = gevent.spawn(read_until_closed, ws, woken)
    events = follow(channel, render, woken, closed.ready)
    try:
        for kind, body in events:
            ws.send(f'{{"type":{orjson.dumps(kind).decode()},"data":{body or "null"}}}')
    except WebSocketError:  # the client went away
        pass
    finally:
        events.close()
        closed.kill(block=False)
        if not ws.closed:
            ws.close()
    return current_app.response_class(status=200)


def read_until_closed(ws, woken: threading.Event) -> None:
    """Read (and drop) what the client sends until it closes, then wake the sender."""
    try:
        while ws.receive() is not None:
            pass
    except WebSocketError:
        pass
    woken.set()
