"""A websocket stand-in of whole messages over a socketpair, for the mux and relay tests'
in-process ends."""
from __future__ import annotations

import socket
import struct

from appliance import streams


class PairStream(streams.MessageStream):
    """Length-prefixed messages over one end of a socketpair."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def recv(self, n: int) -> bytes:
        head = self.reader.read(4)
        if len(head) < 4:
            return b""
        (size,) = struct.unpack("!I", head)
        return streams.Message(self.reader.read(size))

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(struct.pack("!I", len(data)) + data)

    def abort(self, error: OSError | None) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
