"""Websocket (RFC 6455) frames read and written straight on a connection's socket.

Every byte of a relayed session travels as websocket messages on two hops
(agent to coderd, coderd to the CLI), and the libraries on the ends parse
frames in Python with several reads per frame: websocket-client reads a
header's two bytes, its length and its payload with separate calls, in
16 KiB pieces, and gevent-websocket likewise. At one frame per 32 KiB SSH
packet, that cost more than the bytes themselves. ``FrameConnection`` reads
into one buffer, takes as many frames as a read brings, and reads a large
payload straight into its own buffer; it writes a frame with one call. The
libraries still make the connection (handshake, TLS, authentication); this
only takes over once it is upgraded, and it is the only reader from then on.

It speaks the whole protocol a peer may use after the handshake: fragmented
messages, ping (answered) and pong, close (answered once), masking in either
direction. No extension is negotiated on these connections, so reserved bits
are an error. Text messages come back as their UTF-8 bytes, checked to be
UTF-8 (with Python's C codec) but never decoded. A peer that breaks the
protocol gets a close frame whose code says how (RFC 6455: 1002, 1007 for
text that is not UTF-8, 1009 for a message over the limit) before
``ProtocolError`` reaches the caller, so it learns why instead of seeing the
connection drop.
"""
from __future__ import annotations

import codecs
import contextlib
import functools
import os
import socket
import struct
import threading
from typing import Callable

from websockets.speedups import apply_mask

from . import streams

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_MESSAGE = 4 * 1024 * 1024
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


def mask(key: bytes, payload) -> bytes:
    """``payload`` XORed with the 4-byte ``key``: masks and unmasks alike. Clients mask
    every frame (RFC 6455), so each byte an agent or CLI sends is XORed twice: in C, by
    the ``websockets`` library's ``apply_mask``, never byte by byte in Python."""
    return apply_mask(payload, key)


PROTOCOL_ERROR, INVALID_TEXT, MESSAGE_TOO_BIG = 1002, 1007, 1009


class ProtocolError(OSError):
    """The peer broke RFC 6455; the connection cannot go on. ``code``: the close code
    that tells the peer why."""
    code = PROTOCOL_ERROR


class InvalidText(ProtocolError):
    code = INVALID_TEXT


class MessageTooBig(ProtocolError):
    code = MESSAGE_TOO_BIG


def valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame: the codes RFC 6455 and IANA's
    registry define for the wire (1004-1006 and 1015 never travel), and 3000-4999."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_close(payload: bytes) -> int:
    """The code of a peer's close frame (1000 when it gave none), or ProtocolError for a
    payload RFC 6455 forbids: one byte, a code no peer may send, a reason not UTF-8."""
    if not payload:
        return 1000
    code = int.from_bytes(payload[:2], "big")
    if len(payload) == 1 or not valid_close_code(code):
        raise ProtocolError(f"invalid close frame {bytes(payload[:8])!r}")
    try:
        codecs.utf_8_decode(payload[2:], "strict", True)
    except UnicodeDecodeError:
        raise InvalidText("close reason is not UTF-8") from None
    return code


# coderd refuses a stream after gevent-websocket's 101 with close code 4000 + the HTTP
# status it would have answered (``server.relay.websocket.refuse``); clients read it back.
REFUSAL_BASE = 4000


def refusal(close_payload: bytes | None) -> tuple[int, str] | None:
    """The HTTP status and message of a refusal's close frame; None for any other close."""
    if close_payload is None or len(close_payload) < 2:
        return None
    code = int.from_bytes(close_payload[:2], "big")
    if not REFUSAL_BASE <= code < REFUSAL_BASE + 1000:
        return None
    return code - REFUSAL_BASE, bytes(close_payload[2:]).decode(errors="replace")


def _cut(reason: bytes, limit: int) -> bytes:
    """``reason`` cut to at most ``limit`` bytes at a character's boundary (a close
    frame's reason must stay UTF-8, and a control frame's payload fits in 125 bytes)."""
    if len(reason) <= limit:
        return reason
    end = limit
    while end > 0 and reason[end] & 0xC0 == 0x80:  # a continuation byte: back to its start
        end -= 1
    return reason[:end]


def frame_header(opcode: int, length: int, mask_key: bytes = b"", fin: bool = True) -> bytes:
    """A frame's header: FIN and opcode, the payload length, and the masking key if any."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask_key else 0
    if length < 126:
        head = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        head = bytes((first, mask_bit | 126)) + _U16.pack(length)
    else:
        head = bytes((first, mask_bit | 127)) + _U64.pack(length)
    return head + mask_key


class FrameConnection:
    """One upgraded websocket connection, either side.

    ``read_into(buffer)`` fills some of a writable buffer and returns the count
    (0 at end of file), without waiting once it has some: ``socket.recv_into``,
    or ``from_buffered(reader)`` for a buffered reader that may already hold
    bytes read past the handshake. ``mask`` is
    true on the client's side, whose frames RFC 6455 wants masked with a
    random key.
    """

    def __init__(self, read_into: Callable[[memoryview], int], sendall: Callable[[bytes], None], *,
                 mask: bool, max_message: int = MAX_MESSAGE, buffer_size: int = 256 * 1024):
        self._read_into = read_into
        self._sendall = sendall
        self._mask = mask
        self.max_message = max_message
        # Small while the connection idles (coderd holds thousands of agents' connections),
        # grown when a read fills it: bulk transfers then take many frames per read.
        self._buffer_size = buffer_size
        self._buf = bytearray(min(4096, buffer_size))
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._send_lock = threading.Lock()
        self._keys = b""
        self._key_at = 0
        self.close_sent = False
        self.close_payload: bytes | None = None  # what the peer's close frame said
        self.opcode: int | None = None  # of the message being read
        self.message_opcode = OP_BINARY  # of the last message recv returned

    # -- reading ---------------------------------------------------------------
    def recv(self) -> bytes | None:
        """The next data message (binary, or text as UTF-8 bytes; ``opcode`` says which);
        None once the peer closed or the connection ended. A peer breaking the protocol
        is sent a close frame saying how, then ProtocolError is raised."""
        try:
            return self._message()
        except ProtocolError as exc:
            self.close(exc.code, str(exc).encode())
            raise

    def _message(self) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        text = None  # the UTF-8 check of a text message, fed frame by frame
        while True:
            frame = self._frame()
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode >= OP_CLOSE:
                if opcode == OP_CLOSE:
                    self.close_payload = payload
                    self.close(check_close(payload))
                    return None
                if opcode == OP_PING and not self.close_sent:
                    self._send(OP_PONG, payload)
                elif opcode != OP_PONG:
                    raise ProtocolError(f"unknown control opcode {opcode}")
                continue
            if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY):
                raise ProtocolError(f"unknown opcode {opcode}")
            if (opcode == OP_CONTINUATION) != (self.opcode is not None):
                raise ProtocolError("continuation frame out of place")
            if opcode != OP_CONTINUATION:
                self.opcode = opcode
                text = codecs.getincrementaldecoder("utf-8")() if opcode == OP_TEXT else None
            size += len(payload)
            if size > self.max_message:
                raise MessageTooBig(f"message over {self.max_message} bytes")
            if text is not None:
                try:
                    text.decode(payload, fin)
                except UnicodeDecodeError:
                    raise InvalidText("text message is not UTF-8") from None
            if fin and not parts:
                return self._done(payload)
            parts.append(payload)
            if fin:
                return self._done(b"".join(parts))

    def _done(self, message: bytes) -> bytes:
        self.message_opcode, self.opcode = self.opcode, None
        return message

    def _frame(self) -> tuple[bool, int, bytes] | None:
        if not self._fill(2):
            return None
        first, second = self._buf[self._start], self._buf[self._start + 1]
        if first & 0x70:
            raise ProtocolError("reserved bits set without an extension")
        length = second & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        masked = second & 0x80
        if not self._fill(size + (4 if masked else 0)):
            return None
        if bool(masked) == self._mask:
            raise ProtocolError("a client's frames must be masked, a server's not")
        if first & 0x08 and (length > 125 or not first & 0x80):
            raise ProtocolError("control frame fragmented or over 125 bytes")
        if length == 126:
            length = _U16.unpack_from(self._buf, self._start + 2)[0]
        elif length == 127:
            length = _U64.unpack_from(self._buf, self._start + 2)[0]
            if length >> 63:
                raise ProtocolError("64-bit length with its top bit set")
        if length > self.max_message:
            raise MessageTooBig(f"frame of {length} bytes is over {self.max_message}")
        key = bytes(self._buf[self._start + size:self._start + size + 4]) if masked else b""
        self._start += size + len(key)
        payload = self._payload(length)
        if payload is None:
            return None
        if key:
            payload = mask(key, payload)
        return bool(first & 0x80), first & 0x0F, bytes(payload)

    def _payload(self, length: int) -> bytes | bytearray | memoryview | None:
        if length <= len(self._buf) // 2:
            if not self._fill(length):
                return None
            start, self._start = self._start, self._start + length
            return self._view[start:self._start]  # valid until the next read: used at once
        # A large payload goes straight into a buffer of its own.
        payload = bytearray(length)
        have = min(self._end - self._start, length)
        payload[:have] = self._view[self._start:self._start + have]
        self._start += have
        view = memoryview(payload)
        while have < length:
            n = self._read_into(view[have:])
            if not n:
                return None
            have += n
        return payload

    def _fill(self, n: int) -> bool:
        """At least ``n`` unread bytes in the buffer (n <= its size); False at end of file."""
        if self._end - self._start >= n:
            return True
        if self._start:
            pending = self._end - self._start
            self._view[:pending] = self._view[self._start:self._end]
            self._start, self._end = 0, pending
        while self._end < n:
            got = self._read_into(self._view[self._end:])
            if not got:
                return False
            self._end += got
            if self._end == len(self._buf) < self._buffer_size:
                self._grow()
        return True

    def _grow(self) -> None:
        buf = bytearray(min(4 * len(self._buf), self._buffer_size))
        buf[:self._end - self._start] = self._view[self._start:self._end]
        self._buf, self._view = buf, memoryview(buf)
        self._start, self._end = 0, self._end - self._start

    # -- writing ---------------------------------------------------------------
    def send(self, data: bytes | bytearray | memoryview, opcode: int = OP_BINARY) -> None:
        """One message in one frame (OSError once the connection is gone)."""
        self._send(opcode, data)

    def close(self, code: int = 1000, reason: bytes = b"") -> None:
        """Send the close frame, once; the caller closes the socket."""
        with self._send_lock:
            if self.close_sent:
                return
            self.close_sent = True
        try:
            self._send(OP_CLOSE, _U16.pack(code) + _cut(reason, 123), closing=True)
        except OSError:
            pass

    def _send(self, opcode: int, data, closing: bool = False) -> None:
        with self._send_lock:
            if self.close_sent and not closing:
                raise ConnectionResetError("the websocket is closed")
            if self._mask:
                # Keys from the system's random source, fetched a thousand at a time.
                if self._key_at == len(self._keys):
                    self._keys, self._key_at = os.urandom(4096), 0
                key = self._keys[self._key_at:self._key_at + 4]
                self._key_at += 4
                frame = frame_header(opcode, len(data), key) + mask(key, data)
            else:
                frame = frame_header(opcode, len(data)) + data
            self._sendall(frame)


def from_buffered(reader) -> Callable[[memoryview], int]:
    """``read_into`` from a buffered reader: what it holds, else one read of the socket.

    Not its ``readinto1``: CPython's copies what the reader holds and then, when
    the rest of the buffer is larger than the reader's own, reads the socket
    again, waiting for bytes the peer may not send (a frame completed by the
    bytes held waited for the peer's next frame, a keepalive 15 s later).
    ``read1`` returns what is held, or what one read brings.
    """
    def read_into(view: memoryview) -> int:
        data = reader.read1(len(view))
        view[:len(data)] = data
        return len(data)
    return read_into


def client_frames(ws) -> FrameConnection:
    """The frames of a ``websocket-client`` connection (which reads its handshake a byte
    at a time, so nothing past it is buffered there)."""
    return FrameConnection(ws.sock.recv_into, ws.sock.sendall, mask=True)


def client_stream(ws) -> "FrameStream":
    """A ``websocket-client`` connection as a MessageStream, closed as a client closes."""
    frames = client_frames(ws)
    return FrameStream(frames, functools.partial(close_client, ws, frames))


def close_client(ws, frames: FrameConnection, code: int = 1000, reason: bytes = b"") -> None:
    """Send the close frame, then close the socket, shut down first so that a thread
    blocked reading it wakes up."""
    frames.close(code, reason)
    if ws.sock is not None:
        with contextlib.suppress(OSError):
            ws.sock.shutdown(socket.SHUT_RDWR)
    ws.shutdown()


class FrameStream(streams.MessageStream):
    """A FrameConnection as an ``appliance.streams.MessageStream``. ``end(code, reason)``
    closes it: by default its close frame (the server's side, whose socket the WSGI
    server closes); a client's also closes the socket (``close_client``)."""

    def __init__(self, frames: FrameConnection, end: Callable[[int, bytes], None] | None = None):
        self.frames = frames
        self._end = end or frames.close

    def recv(self, n: int) -> bytes:
        message = self.frames.recv()
        if message is None:
            return b""
        if self.frames.message_opcode == OP_TEXT:
            return streams.TextMessage(message)
        return message or streams.Message()

    def sendall(self, data: bytes) -> None:
        self.frames.send(data, OP_TEXT if isinstance(data, streams.TextMessage) else OP_BINARY)

    def abort(self, error: OSError | None) -> None:
        self._end(*streams.close_reason(error))
