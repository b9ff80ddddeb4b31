"""appliance.wsframes against websocket-client's own frame code, the other implementation
on the relay's ends, in both directions, with every frame shape a peer may send."""
from __future__ import annotations

import os
import random
import socket
import threading

import pytest
import websocket

from appliance import wsframes

SIZES = (0, 1, 125, 126, 65535, 65536, 131_073, 300_000)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def library_end(sock: socket.socket) -> websocket.WebSocket:
    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.sock, ws.connected = sock, True
    return ws


def ours(sock: socket.socket, *, mask: bool, **kwargs) -> wsframes.FrameConnection:
    return wsframes.FrameConnection(sock.recv_into, sock.sendall, mask=mask, **kwargs)


def in_background(fn, *args) -> threading.Thread:
    """Socket pairs buffer less than the larger messages: the writer runs beside the reader."""
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


def frame(opcode: int, data: bytes, *, fin: int = 1, mask: int = 1, rsv1: int = 0) -> bytes:
    return websocket.ABNF(fin, rsv1, 0, 0, opcode, mask, data).format()


@pytest.mark.parametrize("mask", [True, False], ids=["client", "server"])
def test_what_we_write_the_library_reads(pair, mask):
    a, b = pair
    sender, reader = ours(a, mask=mask), library_end(b)
    for size in SIZES:
        data = os.urandom(size)
        writer = in_background(sender.send, data)
        got = reader.recv_frame()
        writer.join()  # websocket-client unmasks a masked frame, as a server would
        assert (got.opcode, got.fin, got.data) == (websocket.ABNF.OPCODE_BINARY, 1, data)
        if mask:
            assert got.mask_value, "a client's frames are masked"
    sender.send("é".encode(), wsframes.OP_TEXT)
    got = reader.recv_frame()
    assert (got.opcode, got.data) == (websocket.ABNF.OPCODE_TEXT, "é".encode())


@pytest.mark.parametrize("mask", [1, 0], ids=["masked", "unmasked"])
def test_what_the_library_writes_we_read(pair, mask):
    """A client's frames (masked) as a server reads them, a server's as a client does."""
    a, b = pair
    reader = ours(a, mask=not mask)
    messages = [os.urandom(size) for size in SIZES]
    in_background(b.sendall, b"".join(frame(websocket.ABNF.OPCODE_BINARY, m, mask=mask)
                                      for m in messages))
    for expected in messages:
        assert reader.recv() == expected


def test_fragments_and_pings_between_them(pair):
    a, b = pair
    reader, peer = ours(a, mask=False), library_end(b)
    parts = [os.urandom(n) for n in (10, 200_000, 0, 70_000)]
    in_background(b.sendall, frame(websocket.ABNF.OPCODE_BINARY, parts[0], fin=0)
                  + frame(websocket.ABNF.OPCODE_PING, b"are you there", fin=1)
                  + frame(websocket.ABNF.OPCODE_CONT, parts[1], fin=0)
                  + frame(websocket.ABNF.OPCODE_PONG, b"", fin=1)
                  + frame(websocket.ABNF.OPCODE_CONT, parts[2], fin=0)
                  + frame(websocket.ABNF.OPCODE_CONT, parts[3], fin=1)
                  + frame(websocket.ABNF.OPCODE_TEXT, b"next", fin=1))
    assert reader.recv() == b"".join(parts)
    pong = peer.recv_frame()
    assert (pong.opcode, pong.data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    assert reader.recv() == b"next"


@pytest.mark.parametrize("buffer_size", [64 * 1024, 256 * 1024])
def test_any_split_of_the_byte_stream_reads_the_same(buffer_size):
    rng = random.Random(7)
    messages = [os.urandom(n) for n in rng.sample(SIZES * 2, 16)]
    wire = b"".join(frame(websocket.ABNF.OPCODE_BINARY, m) for m in messages)
    for max_read in (5, 4096, 100_000, 1_000_000):
        position = 0

        def read_into(view, max_read=max_read):
            nonlocal position
            n = min(len(view), rng.randint(1, max_read), len(wire) - position)
            view[:n] = wire[position:position + n]
            position += n
            return n

        reader = wsframes.FrameConnection(read_into, lambda data: None, mask=False,
                                          buffer_size=buffer_size)
        assert [reader.recv() for _ in messages] == messages
        assert reader.recv() is None, "end of file reads as closed"


def test_close_is_answered_once_and_keeps_the_reason(pair):
    a, b = pair
    reader, peer = ours(a, mask=False), library_end(b)
    b.sendall(frame(websocket.ABNF.OPCODE_CLOSE, (4403).to_bytes(2, "big") + b"not yours"))
    assert reader.recv() is None
    assert reader.close_payload == (4403).to_bytes(2, "big") + b"not yours"
    reply = peer.recv_frame()
    assert reply.opcode == websocket.ABNF.OPCODE_CLOSE and reply.data[:2] == (4403).to_bytes(2, "big")
    reader.close()  # a second close sends nothing more
    with pytest.raises(ConnectionResetError):
        reader.send(b"after close")
    b.settimeout(0.2)
    with pytest.raises(socket.timeout):
        b.recv(1)


def test_end_of_file_mid_frame_reads_as_closed(pair):
    a, b = pair
    reader = ours(a, mask=False)
    b.sendall(frame(websocket.ABNF.OPCODE_BINARY, os.urandom(1000))[:500])
    b.shutdown(socket.SHUT_WR)
    assert reader.recv() is None


@pytest.mark.parametrize("wire, problem", [
    (frame(websocket.ABNF.OPCODE_BINARY, b"x", rsv1=1), "reserved bits"),
    (frame(websocket.ABNF.OPCODE_CONT, b"x"), "continuation"),
    (frame(websocket.ABNF.OPCODE_BINARY, b"x", fin=0) + frame(websocket.ABNF.OPCODE_TEXT, b"y"),
     "continuation"),
    (frame(websocket.ABNF.OPCODE_PING, b"x" * 126), "control frame"),
    (frame(websocket.ABNF.OPCODE_PING, b"x", fin=0), "control frame"),
    (wsframes.frame_header(3, 1, b"\0" * 4) + b"x", "opcode"),
    (wsframes.frame_header(11, 1, b"\0" * 4) + b"x", "opcode"),
    (frame(websocket.ABNF.OPCODE_BINARY, b"x" * 2000), "over 1024"),
    (frame(websocket.ABNF.OPCODE_BINARY, b"x" * 1000, fin=0)
     + frame(websocket.ABNF.OPCODE_CONT, b"x" * 1000), "over 1024"),
], ids=["rsv", "lone-continuation", "interrupted-message", "long-ping", "fragmented-ping",
        "opcode-3", "opcode-11", "large-frame", "large-message"])
def test_protocol_errors_are_named(pair, wire, problem):
    a, b = pair
    reader = ours(a, mask=False, max_message=1024)
    b.sendall(wire)
    with pytest.raises(wsframes.ProtocolError, match=problem):
        reader.recv()


def _masked(opcode: int, payload: bytes, fin: int = 1) -> bytes:
    return frame(opcode, payload, fin=fin)


@pytest.mark.parametrize("client, wire, code", [
    (False, frame(websocket.ABNF.OPCODE_BINARY, b"x", mask=0), 1002),
    (True, frame(websocket.ABNF.OPCODE_BINARY, b"x", mask=1), 1002),
    (False, _masked(websocket.ABNF.OPCODE_CLOSE, b"\x03"), 1002),
    (False, _masked(websocket.ABNF.OPCODE_CLOSE, (1005).to_bytes(2, "big")), 1002),
    (False, _masked(websocket.ABNF.OPCODE_CLOSE, (999).to_bytes(2, "big")), 1002),
    (False, _masked(websocket.ABNF.OPCODE_CLOSE, (5000).to_bytes(2, "big")), 1002),
    (False, _masked(websocket.ABNF.OPCODE_CLOSE, (1000).to_bytes(2, "big") + b"\xc3"), 1007),
    (False, _masked(websocket.ABNF.OPCODE_TEXT, b"a\x80b"), 1007),
    (False, _masked(websocket.ABNF.OPCODE_TEXT, "é".encode()[:1], fin=0)
     + _masked(websocket.ABNF.OPCODE_CONT, b""), 1007),
    (False, bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big") + b"\0" * 4, 1002),
    (False, bytes((0x89, 0xFF)) + (1 << 40).to_bytes(8, "big") + b"\0" * 4, 1002),
    (False, bytes((0x82, 0xFF)) + (1 << 40).to_bytes(8, "big") + b"\0" * 4, 1009),
], ids=["unmasked-to-server", "masked-to-client", "close-of-one-byte", "close-1005", "close-999",
        "close-5000", "close-reason-cut-mid-character", "text-not-utf8", "text-ends-mid-character",
        "length-top-bit", "huge-ping", "huge-frame"])
def test_a_peer_breaking_the_protocol_is_told_why(pair, client, wire, code):
    """Found by the fuzzing (tests/relay/test_frame_fuzz.py): each was read as right, or
    refused with the connection dropped and no close code."""
    a, b = pair
    reader = ours(a, mask=client)
    b.sendall(wire)
    with pytest.raises(wsframes.ProtocolError):
        reader.recv()
    b.settimeout(5)
    first, second = b.recv(2)
    assert first == 0x80 | websocket.ABNF.OPCODE_CLOSE and second & 0x7F >= 2
    assert bool(second & 0x80) == client, "a client masks its close frame, a server does not"
    data = b.recv(second & 0x7F + (4 if client else 0))
    key, payload = (data[:4], data[4:]) if client else (b"\0" * 4, data)
    assert int.from_bytes(wsframes.mask(key, payload[:2]), "big") == code


def test_an_idle_connection_keeps_a_small_buffer_and_bulk_grows_it(pair):
    """coderd holds thousands of idle agents' connections: each must not cost a bulk buffer."""
    a, b = pair
    reader = ours(a, mask=False)
    for _ in range(50):
        b.sendall(frame(websocket.ABNF.OPCODE_BINARY, b"keepalive"))
        assert reader.recv() == b"keepalive"
    assert len(reader._buf) <= 4096
    messages = [os.urandom(30_000) for _ in range(40)]
    in_background(b.sendall, b"".join(frame(websocket.ABNF.OPCODE_BINARY, m) for m in messages))
    assert [reader.recv() for _ in messages] == messages
    assert len(reader._buf) == 256 * 1024


def test_a_buffered_reader_gives_each_frame_without_waiting_for_the_next(pair):
    """coderd reads agents' frames through the server's buffered reader: a frame a little
    over the first 4 KiB buffer (4 KiB of echoed bytes) must come out whole at once, not
    when the agent's next frame (its keepalive, 15 s on) pushes it through."""
    a, b = pair
    a.settimeout(5)  # a read that waits for bytes the peer does not send fails the test
    reader = wsframes.FrameConnection(wsframes.from_buffered(a.makefile("rb")), a.sendall,
                                      mask=False)
    for size in (10, 4105, 4105, 20_000, 3, 70_000, 9000):
        message = os.urandom(size)
        in_background(b.sendall, frame(websocket.ABNF.OPCODE_BINARY, message))
        assert reader.recv() == message, size


def test_masking_matches_rfc6455():
    data = os.urandom(70_000)
    for key in (b"\x5a" * 4, os.urandom(4), b"\0" * 4):
        assert wsframes.mask(key, websocket.ABNF.mask(key, data)) == data
        assert wsframes.mask(key, bytearray(websocket.ABNF.mask(key, data))) == data


def test_a_refusal_is_read_back_from_its_close_frame(pair):
    """coderd's refusal after the upgrade (close code 4000 + status) reaches the client as
    the status and message; any other close is not one."""
    a, b = pair
    server = wsframes.FrameConnection(b.recv_into, b.sendall, mask=False)
    client = wsframes.FrameConnection(a.recv_into, a.sendall, mask=True)
    server.close(wsframes.REFUSAL_BASE + 403, "Not yours.".encode())
    assert client.recv() is None
    assert wsframes.refusal(client.close_payload) == (403, "Not yours.")
    for other in (None, b"", b"\x03", (1000).to_bytes(2, "big") + b"bye",
                  (3999).to_bytes(2, "big"), (5000).to_bytes(2, "big")):
        assert wsframes.refusal(other) is None, other


def test_a_long_close_reason_is_cut_at_a_character_boundary(pair):
    """A reason longer than a control frame holds is cut to 123 bytes without splitting a
    character: the peer reads valid UTF-8 (RFC 6455 makes it fail the connection otherwise)."""
    a, b = pair
    server = wsframes.FrameConnection(b.recv_into, b.sendall, mask=False)
    client = wsframes.FrameConnection(a.recv_into, a.sendall, mask=True)
    reason = "xx" + "é" * 80  # 162 bytes; byte 123 is the second of an "é"
    server.close(wsframes.REFUSAL_BASE + 404, reason.encode())
    assert client.recv() is None
    assert len(client.close_payload) == 2 + 122
    assert wsframes.refusal(client.close_payload) == (404, "xx" + "é" * 60)
