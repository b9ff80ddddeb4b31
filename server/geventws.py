"""gevent-websocket, adapted: unmasking in C, and a limit on what one message may hold.

coderd answers websocket upgrades with gevent-websocket (0.10.1). Its
``WebSocket.read_message`` joins a message's frames without any limit, and
``read_frame`` reads a frame's payload whole, whatever length its header
claims (up to 2**63): a browser or a script, anonymous on a public app, could
make coderd hold as much memory as it sends. ``limit_messages`` turns a
connection's ``WebSocket`` into ``LimitedWebSocket``, which refuses a frame or a
message over MAX_MESSAGE before reading its payload and closes with 1009
(message too big). Its ``close`` also sends the close code, which
gevent-websocket's leaves out. The relay's own websockets read frames with
``appliance.wsframes``, which has the same limit.

``tests/relay/test_limits.py`` fails if gevent-websocket's internals change
under these two overrides.
"""
from __future__ import annotations

import struct

from geventwebsocket.exceptions import FrameTooLargeException, ProtocolError, WebSocketError
from geventwebsocket.websocket import MSG_CLOSED, Header, WebSocket

from appliance import wsframes

MAX_MESSAGE = wsframes.MAX_MESSAGE
MESSAGE_TOO_BIG = 1009


def fast_unmasking() -> None:
    """gevent-websocket unmasks what clients send one byte at a time in Python (a few MB/s);
    ``wsframes.mask`` does it in C."""
    Header.mask_payload = Header.unmask_payload = lambda header, payload: wsframes.mask(header.mask, payload)


class LimitedWebSocket(WebSocket):
    """gevent-websocket's WebSocket, whose frames and messages hold at most MAX_MESSAGE."""
    __slots__ = ()

    def read_frame(self):
        header = Header.decode_header(self.stream)
        if header.flags:
            raise ProtocolError("reserved bits set without an extension")
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
        if header.mask:
            payload = header.unmask_payload(payload)
        return header, payload

    def read_message(self):
        opcode = None
        message = bytearray()
        while True:
            header, payload = self.read_frame()
            if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY):
                if opcode:
                    raise ProtocolError(f"a new message (opcode {header.opcode}) inside another")
                self.utf8validator.reset()
                self.utf8validate_last = (True, True, 0, 0)
                opcode = header.opcode
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
            if len(message) + len(payload) > MAX_MESSAGE:
                raise FrameTooLargeException(f"message over {MAX_MESSAGE} bytes")
            if opcode == self.OPCODE_TEXT:
                self.validate_utf8(payload)
            message += payload
            if header.fin:
                break
        if opcode == self.OPCODE_TEXT:
            self.validate_utf8(message)
            return self._decode_bytes(message)
        return message

    def receive(self):
        """gevent-websocket's ``receive``, closing with 1009 for a message too big."""
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
        except OSError:
            self.close()
            self.current_app.on_close(MSG_CLOSED)
        return None


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
