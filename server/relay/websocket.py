"""Relay websockets after the upgrade: the agent's mux transport, and clients' streams.

gevent-websocket makes the connection; from then on ``appliance.wsframes``
reads and writes its frames (gevent-websocket's Python frame parsing was most
of coderd's cost per relayed byte). The app proxy's websockets, which carry
browsers' traffic to workspace apps, stay on gevent-websocket (as adapted by
``server.geventws``).
"""
from __future__ import annotations

import contextlib
import threading

from appliance import wsframes
from appliance.mux import MAX_PAYLOAD


def server_frames(ws) -> wsframes.FrameConnection:
    """The frames of a gevent-websocket connection; its buffered reader may hold the first."""
    ws.closed = True  # ours now: gevent-websocket must not send a close frame of its own
    return wsframes.FrameConnection(wsframes.from_buffered(ws.stream.handler.rfile),
                                     ws.stream.write, mask=False)


class ServerTransport:
    """A client's (here: the agent's) websocket as seen by coderd."""

    def __init__(self, ws):
        self.frames = server_frames(ws)

    def recv(self) -> bytes | None:
        try:
            return self.frames.recv()
        except OSError:
            return None

    def send(self, data: bytes) -> None:
        self.frames.send(data)

    def close(self) -> None:
        self.frames.close()


def bridge(ws, conn) -> None:
    """Carry bytes between a client's websocket (one binary message per chunk) and a
    stream until either side ends; then close both, freeing everything on every hop."""
    client = ServerTransport(ws)

    def to_client() -> None:
        try:
            while data := conn.recv(MAX_PAYLOAD):
                client.send(data)
        except OSError:
            pass
        finally:
            client.close()

    sender = threading.Thread(target=to_client, daemon=True)
    sender.start()
    try:
        while (message := client.recv()) is not None:
            if message:
                conn.sendall(message)
    except OSError:
        pass
    finally:
        conn.close()
        sender.join(5)


def refuse(ws, status: int, message: str) -> None:
    """gevent-websocket answers 101 before the handler runs, so a refusal (401, 403, 404,
    502) travels as the close code 4000+status with the message as reason."""
    with contextlib.suppress(OSError):
        server_frames(ws).close(4000 + status, message.encode())
