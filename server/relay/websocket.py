"""gevent-websocket connections as mux transports, and websockets bridged to streams."""
from __future__ import annotations

import contextlib
import struct
import threading

from geventwebsocket.exceptions import WebSocketError

from appliance import mux


def fast_unmasking() -> None:
    """gevent-websocket unmasks what clients send one byte at a time in Python (a few MB/s,
    the relay's bottleneck: agents and CLIs are websocket clients, so all their bytes are
    masked); ``mux.unmask`` does it in C."""
    from geventwebsocket.websocket import Header

    Header.mask_payload = Header.unmask_payload = lambda header, payload: mux.unmask(header.mask, payload)


class ServerTransport:
    """A client's (here: the agent's) websocket as seen by coderd."""

    def __init__(self, ws):
        self.ws = ws

    def recv(self) -> bytes | None:
        try:
            message = self.ws.receive()
        except WebSocketError:
            return None
        if isinstance(message, str):
            return message.encode()
        return message

    def send(self, data: bytes) -> None:
        try:
            self.ws.send(data, binary=True)
        except WebSocketError as exc:
            raise OSError(str(exc)) from exc

    def close(self) -> None:
        try:
            self.ws.close()
        except (WebSocketError, OSError):
            pass


def bridge(ws, conn) -> None:
    """Carry bytes between a client's websocket (one binary message per chunk) and a
    stream until either side ends; then close both, freeing everything on every hop."""
    def to_client() -> None:
        try:
            while data := conn.recv(4 * mux.MAX_PAYLOAD):
                ws.send(data, binary=True)
        except (OSError, WebSocketError):
            pass
        finally:
            ServerTransport(ws).close()

    sender = threading.Thread(target=to_client, daemon=True)
    sender.start()
    try:
        while (message := ServerTransport(ws).recv()) is not None:
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
    # gevent-websocket's close() drops its code argument: send the close frame ourselves.
    with contextlib.suppress(WebSocketError, OSError):
        ws.send_frame(struct.pack("!H", 4000 + status) + message.encode()[:120], ws.OPCODE_CLOSE)
    ws.closed = True
