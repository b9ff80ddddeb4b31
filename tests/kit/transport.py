"""A transport of whole messages over a socketpair, for the mux and relay tests' in-process ends."""
from __future__ import annotations

import socket
import struct


class PairTransport:
    """Length-prefixed messages over one end of a socketpair."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def recv(self):
        head = self.reader.read(4)
        if len(head) < 4:
            return None
        (n,) = struct.unpack("!I", head)
        return self.reader.read(n)

    def send(self, data: bytes) -> None:
        self.sock.sendall(struct.pack("!I", len(data)) + data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
