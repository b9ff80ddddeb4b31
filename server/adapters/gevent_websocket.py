"""gevent-websocket, adapted: unmasking and UTF-8 checks in C, RFC 6455's rules, a
limit on what one message may hold, and its connections' frames handed to ``wsframes``.

coderd answers websocket upgrades with gevent-websocket (0.10.1). Its
``WebSocket.read_message`` joins a message's frames without any limit, and
``read_frame`` reads a frame's payload whole, whatever length its header
claims (up to 2**63): a browser or a script, anonymous on a public app, could
make coderd hold as much memory as it sends. ``limit_messages`` turns a
connection's ``WebSocket`` into ``LimitedWebSocket``, which refuses a frame or a
message over MAX_MESSAGE before reading its payload and closes with 1009
(message too big). Its ``close`` also sends the close code, which
gevent-websocket's leaves out. It also refuses what RFC 6455 forbids and
gevent-websocket lets through (a client's unmasked frame, a 64-bit length
with its top bit set; 1002, as for an oversized control frame, which
gevent-websocket called too big), checks close frames as ``wsframes`` does,
and checks text with Python's C codec rather than gevent-websocket's
pure-Python validator, which holds the event loop, every connection of the
process, for a large text message (docs/benchmarks.md, "Issue 18"). The
relay's own websockets read frames with ``appliance.wsframes``, which has the
same rules and limit (``take_frames``). gevent-websocket unmasks what clients
send one byte at a time in Python (docs/benchmarks.md, "Issue 18");
``LimitedWebSocket`` does it in C with ``wsframes.mask``.
"""
from __future__ import annotations

import codecs
import struct

from geventwebsocket.exceptions import FrameTooLargeException, ProtocolError, WebSocketError
from geventwebsocket.websocket import MSG_CLOSED, Header, WebSocket

from appliance import streams, wsframes

MAX_MESSAGE = wsframes.MAX_MESSAGE
MESSAGE_TOO_BIG = 1009


# What this module relies on of gevent-websocket 0.10.1 (see server/adapters/__init__.py).
RELIES_ON = {
    "geventwebsocket.websocket:Header.decode_header": "c4197b5c1bab821b",
    "geventwebsocket.websocket:Stream.__init__": "6632d1e344067915",  # take_frames: handler, write
    "geventwebsocket.websocket:WebSocket.__init__": "db15065066548b15",
    "geventwebsocket.websocket:WebSocket.close": "528338fe180af5f4",
    "geventwebsocket.websocket:WebSocket.handle_close": "d9084e8c8efe47c1",
    "geventwebsocket.websocket:WebSocket.read_frame": "ab47353ea877d381",
    "geventwebsocket.websocket:WebSocket.read_message": "4f7e79b76a8e8fca",
    "geventwebsocket.websocket:WebSocket.receive": "77a160f1e59d90c0",
}


class LimitedWebSocket(WebSocket):
    """gevent-websocket's WebSocket, whose frames and messages hold at most MAX_MESSAGE."""
    __slots__ = ()

    def read_frame(self):
        try:
            header = Header.decode_header(self.stream)
        except FrameTooLargeException as exc:  # a control frame over 125 bytes
            raise ProtocolError(str(exc)) from None
        if header.flags:
            raise ProtocolError("reserved bits set without an extension")
        if not header.mask:
            raise ProtocolError("a client's frames must be masked")
        if header.length >> 63:
            raise ProtocolError("64-bit length with its top bit set")
        if header.length > MAX_MESSAGE:
            raise FrameTooLargeException(f"frame of {header.length} bytes is over {MAX_MESSAGE}")
        if not header.length:
            return header, b""
        try:
            payload = self.raw_read(header.length)
        except OSError:
            payload = b""
        if len(payload) != header.length:
            raise WebSocketError("Unexpected EOF reading frame payload")
        return header, wsframes.mask(header.mask, payload)

    def read_message(self):
        opcode = None
        message = bytearray()
        text: list[str] = []  # a text message's pieces, checked and decoded as they come
        size = 0
        while True:
            header, payload = self.read_frame()
            if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY):
                if opcode:
                    raise ProtocolError(f"a new message (opcode {header.opcode}) inside another")
                opcode = header.opcode
                decoder = codecs.getincrementaldecoder("utf-8")()
            elif header.opcode == self.OPCODE_CONTINUATION:
                if not opcode:
                    raise ProtocolError("continuation frame out of place")
            elif header.opcode == self.OPCODE_PING:
                self.handle_ping(header, payload)
                continue
            elif header.opcode == self.OPCODE_PONG:
                self.handle_pong(header, payload)
                continue
            elif header.opcode == self.OPCODE_CLOSE:
                self.handle_close(header, payload)
                return None
            else:
                raise ProtocolError(f"unexpected opcode {header.opcode!r}")
            size += len(payload)
            if size > MAX_MESSAGE:
                raise FrameTooLargeException(f"message over {MAX_MESSAGE} bytes")
            if opcode == self.OPCODE_TEXT:  # a bad byte ends it at once: UnicodeError, 1007
                text.append(decoder.decode(payload, header.fin))
            else:
                message += payload
            if header.fin:
                break
        return "".join(text) if opcode == self.OPCODE_TEXT else message

    def receive(self):
        """gevent-websocket's ``receive``, closing with the code that says what was wrong
        (1009 for a message too big)."""
        if self.closed:
            return super().receive()  # raises, as gevent-websocket does
        try:
            return self.read_message()
        except FrameTooLargeException:
            self.close(MESSAGE_TOO_BIG, b"message too big")
        except UnicodeError:
            self.close(1007)
        except ProtocolError:
            self.close(1002)
        except wsframes.ProtocolError as exc:
            self.close(exc.code, str(exc))
        except OSError:
            self.close()
            self.current_app.on_close(MSG_CLOSED)
        return None

    def handle_close(self, header, payload):
        """Echo a peer's close code once ``wsframes`` found its frame right (gevent-websocket's
        own check let a reason ending mid-character through, and echoed it)."""
        self.close(wsframes.check_close(payload))

    def close(self, code: int = 1000, message: bytes | str = b"") -> None:
        """Close with ``code`` and ``message`` as RFC 6455 says: gevent-websocket's own
        ``close`` sends the message alone (``str()`` of it when it is bytes), no code."""
        if self.closed:
            return super().close(code, message)
        reason = message.encode() if isinstance(message, str) else bytes(message)
        try:
            self.send_frame(struct.pack("!H", code) + reason[:123], opcode=self.OPCODE_CLOSE)
        except WebSocketError:
            pass  # the socket is gone; it is closed anyway
        finally:
            self.closed = True
            self.stream = self.raw_write = self.raw_read = self.environ = None


def limit_messages(ws: WebSocket) -> None:
    """Make ``ws`` (just made by gevent-websocket's handler) a LimitedWebSocket."""
    ws.__class__ = LimitedWebSocket


class WebSocketStream(streams.MessageStream):
    """A LimitedWebSocket as an ``appliance.streams.MessageStream`` (a browser's, on an app)."""

    def __init__(self, ws: LimitedWebSocket):
        self.ws = ws

    def recv(self, n: int) -> bytes:
        try:
            message = self.ws.receive()  # a protocol error: closed with its code, None
        except WebSocketError:
            return b""
        if message is None:
            return b""
        if isinstance(message, str):
            return streams.TextMessage(message.encode())
        return message or streams.Message()

    def sendall(self, data: bytes) -> None:
        text = isinstance(data, streams.TextMessage)
        try:
            self.ws.send(data.decode() if text else data, binary=not text)
        except WebSocketError as exc:
            raise ConnectionResetError(str(exc)) from None

    def abort(self, error: OSError | None) -> None:
        self.ws.close(*streams.close_reason(error))


def take_frames(ws: WebSocket) -> wsframes.FrameConnection:
    """The connection's frames, read and written by ``wsframes`` from now on; the
    handler's buffered reader may hold the first."""
    ws.closed = True  # ours now: gevent-websocket must not send a close frame of its own
    return wsframes.FrameConnection(wsframes.from_buffered(ws.stream.handler.rfile),
                                     ws.stream.write, mask=False)
