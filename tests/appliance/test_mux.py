"""The stream multiplexer on its own: flow control, half-close, resets, bad frames."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from appliance import mux

from tests.kit.transport import PairStream


def echo(stream: mux.Stream) -> None:
    if stream.target == "refuse":
        stream.reject("no such target")
        return
    stream.accept()
    if stream.target == "hold":  # the test reads this side itself
        return
    if stream.target == "slow":
        time.sleep(0.5)
    while data := stream.recv():
        stream.sendall(data)
    stream.shutdown_write()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    client = mux.Session(PairStream(a), name="client", keepalive=0)
    server = mux.Session(PairStream(b), accept=echo, name="server", keepalive=0)
    for s in (client, server):
        threading.Thread(target=s.serve, daemon=True).start()
    yield client, server
    client.close()
    server.close()


def read_all(stream: mux.Stream) -> bytes:
    out = bytearray()
    while chunk := stream.recv():
        out += chunk
    return bytes(out)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_echo_more_than_the_window_with_half_close(pair):
    client, server = pair
    stream = client.open("echo")
    payload = bytes(range(256)) * (3 * mux.WINDOW // 256 + 7)
    writer = threading.Thread(target=lambda: (stream.sendall(payload), stream.shutdown_write()))
    writer.start()
    assert read_all(stream) == payload
    writer.join()
    wait_for(lambda: client.streams == 0 and server.streams == 0)


def test_recv_joins_buffered_chunks_up_to_the_size_asked(pair):
    client, server = pair
    stream = client.open("hold")
    wait_for(lambda: server.streams == 1)
    accepted = next(iter(server._streams.values()))
    for part in (b"a" * 10, b"b" * 10, b"c" * 10):
        stream.sendall(part)
    wait_for(lambda: accepted._buffered == 30)
    assert accepted.recv(25) == b"a" * 10 + b"b" * 10  # whole chunks while they fit
    assert accepted.recv(5) == b"c" * 5  # a chunk larger than asked is split
    assert accepted.recv(100) == b"c" * 5
    # Read in parts (as paramiko reads a packet: its header, then the rest), the rest of a
    # chunk still joins the next.
    for part in (b"0123456789", b"abc"):
        stream.sendall(part)
    wait_for(lambda: accepted._buffered == 13)
    assert [accepted.recv(n) for n in (3, 3, 100)] == [b"012", b"345", b"6789abc"]
    assert accepted._buffered == 0
    stream.close()


def test_refused_target_and_reset(pair):
    client, server = pair
    with pytest.raises(mux.StreamError, match="no such target"):
        client.open("refuse")
    stream = client.open("echo")
    stream.close()
    wait_for(lambda: client.streams == 0 and server.streams == 0)


def test_slow_stream_does_not_stall_others(pair):
    client, _ = pair
    slow = client.open("slow")
    ended = []

    def fill() -> None:
        try:
            slow.sendall(b"x" * (4 * mux.WINDOW))
        except mux.StreamError as exc:  # reset below while still blocked: how the writer ends
            ended.append(exc)

    # Fill the slow stream's window: the sender blocks, the connection does not.
    filler = threading.Thread(target=fill, daemon=True)
    filler.start()
    wait_for(lambda: slow._credit == 0)
    fast = client.open("echo")
    fast.sendall(b"ping")
    assert fast.recv() == b"ping"
    fast.close()
    slow.close()
    filler.join(5)
    assert not filler.is_alive() and ended, "the blocked writer ends when its stream is reset"


def test_oversized_and_excess_frames_reset_only_that_stream(pair):
    client, server = pair
    victim = client.open("echo")
    other = client.open("echo")
    wait_for(lambda: server.streams == 2)
    client._send(mux.DATA, victim.id, b"x" * (mux.MAX_PAYLOAD + 1))
    with pytest.raises(mux.StreamError):
        victim.recv()
    other.sendall(b"still here")
    assert other.recv() == b"still here"
    # Sending past the credit window (bypassing the sender's accounting) resets too.
    third = client.open("slow")  # reads nothing for a while
    for _ in range(mux.WINDOW // mux.MAX_PAYLOAD + 2):
        client._send(mux.DATA, third.id, b"y" * mux.MAX_PAYLOAD)
    wait_for(lambda: third.closed)
    other.sendall(b"again")
    assert other.recv() == b"again"


def test_malformed_frame_closes_the_connection(pair):
    client, server = pair
    stream = client.open("echo")
    client.transport.sendall(b"\x03")  # shorter than a header
    assert server.wait_closed(5)
    with pytest.raises(mux.StreamError):
        stream.recv()


def test_keepalive_closes_a_silent_peer():
    a, b = socket.socketpair()
    session = mux.Session(PairStream(a), name="lonely", keepalive=0.1)
    threading.Thread(target=session.serve, daemon=True).start()
    # Nobody answers on b: after three intervals the session gives up.
    assert session.wait_closed(3)
    b.close()


def test_corked_sends_go_out_together_and_keep_their_order(pair):
    client, server = pair
    stream = client.open("hold")
    wait_for(lambda: server.streams == 1)
    accepted = next(iter(server._streams.values()))
    with stream.corked():
        for i in range(4):  # as paramiko writes four SSH packets of one read
            assert stream.send(bytes([i]) * 40_000) == 40_000
        assert accepted._buffered == 0  # held back
    wait_for(lambda: accepted._buffered == 160_000)
    assert [len(c) for c in accepted._buf] == [160_000]  # one frame (over CHUNK)
    assert accepted.recv(200_000) == b"".join(bytes([i]) * 40_000 for i in range(4))
    # Another thread's send while corked (a rekey from paramiko's transport thread) first
    # sends what is held, so the bytes keep their order.
    with stream.corked():
        stream.send(b"first")
        other = threading.Thread(target=stream.send, args=(b"second",))
        other.start()
        other.join()
        stream.send(b"third")
    wait_for(lambda: accepted._buffered == 16)
    assert accepted.recv(100) == b"firstsecondthird"
    stream.close()
