"""What the test's TCP proxies share: a listener on 127.0.0.1 that serves each connection
in its own thread, and the copying of bytes between two sockets with each side's end
passed on to the other (``appliance.streams.copy``)."""
from __future__ import annotations

import socket
import threading

from appliance import streams


class TCPProxy:
    """Serving from construction until ``stop``: ``_serve(connection)`` per connection."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


def pipe(src: socket.socket, dst: socket.socket) -> None:
    """Bytes from ``src`` to ``dst`` until ``src`` ends; then ``dst`` is told the end (the
    relay's own copying)."""
    streams.copy(src, dst)


def end(sock: socket.socket) -> None:
    """Pass the end of one side on to the other (it may be gone already)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def echo_once(server: socket.socket) -> None:
    """Accept one connection on ``server`` and send back the first bytes it sends."""
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.recv(100))
