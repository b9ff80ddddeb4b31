"""appliance.streams.pump between real sockets and real websocket frame connections."""
from __future__ import annotations

import socket
import struct
import threading

from appliance import streams, wsframes


def pair() -> tuple[socket.socket, socket.socket]:
    """A socket pair whose first end, the test's, fails a read that waits too long."""
    mine, pumped = socket.socketpair()
    mine.settimeout(5)
    return mine, pumped


def pumping(a, b) -> threading.Thread:
    thread = threading.Thread(target=streams.pump, args=(a, b), daemon=True)
    thread.start()
    return thread


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def frames(sock: socket.socket, *, mask: bool, **kwargs) -> wsframes.FrameConnection:
    return wsframes.FrameConnection(sock.recv_into, sock.sendall, mask=mask, **kwargs)


def test_sockets_half_close_each_way_and_the_pump_ends_with_both():
    client, near = pair()
    server, far = pair()
    pump = pumping(near, far)
    client.sendall(b"request " * 1000)
    client.shutdown(socket.SHUT_WR)  # the request ends; the answer still comes back
    assert read_all(server) == b"request " * 1000
    server.sendall(b"answer")
    assert client.recv(100) == b"answer"
    assert pump.is_alive()  # one direction still open
    server.shutdown(socket.SHUT_WR)
    assert read_all(client) == b""
    pump.join(5)
    assert not pump.is_alive()
    for s in (client, server):
        s.close()


def test_websocket_messages_keep_their_kind_and_a_close_code_crosses():
    """A browser's websocket pumped to an app's: text stays text, an empty message is a
    message, and the app's breaking the protocol (1009, a message too big) closes the
    browser's with the same code."""
    browser, browser_end = pair()
    app, app_end = pair()
    to_browser = frames(browser, mask=True)
    to_app = frames(app, mask=False)
    pump = pumping(wsframes.FrameStream(frames(browser_end, mask=False)),
                   wsframes.FrameStream(frames(app_end, mask=True, max_message=1024)))
    to_browser.send("é".encode(), wsframes.OP_TEXT)
    to_browser.send(b"")
    to_browser.send(b"\x00\x01")
    assert (to_app.recv(), to_app.message_opcode) == ("é".encode(), wsframes.OP_TEXT)
    assert (to_app.recv(), to_app.message_opcode) == (b"", wsframes.OP_BINARY)
    assert (to_app.recv(), to_app.message_opcode) == (b"\x00\x01", wsframes.OP_BINARY)
    to_app.send(b"ok", wsframes.OP_TEXT)
    assert (to_browser.recv(), to_browser.message_opcode) == (b"ok", wsframes.OP_TEXT)
    to_app.send(b"x" * 2048)  # over what the app's side takes
    for end in (to_browser, to_app):  # both told why
        assert end.recv() is None
        assert struct.unpack("!H", end.close_payload[:2])[0] == wsframes.MESSAGE_TOO_BIG
    to_browser.close()
    pump.join(5)
    assert not pump.is_alive()
    for s in (browser, app):
        s.close()


def test_a_websocket_closing_ends_a_socket_that_never_half_closes():
    """A websocket cannot half-close: its close ends the other side whole, or a stream whose
    far end ignores end of input would hold the pump for ever."""
    browser, browser_end = pair()
    target, near = pair()
    to_browser = frames(browser, mask=True)
    pump = pumping(wsframes.FrameStream(frames(browser_end, mask=False)), near)
    to_browser.send(b"bytes")
    assert target.recv(100) == b"bytes"
    to_browser.close()
    assert read_all(target) == b""  # while target itself never shut down
    pump.join(5)
    assert not pump.is_alive()
    for s in (browser, target):
        s.close()
