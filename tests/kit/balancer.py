"""A TCP balancer in front of coderd replicas, for tests of a replica's failure: on
127.0.0.1, each connection goes to the first backend that accepts it, in the order
given (HAProxy's backup servers, in miniature), so a test knows which replica its
clients reach until that one dies. A backend's end of a connection (a killed replica's
sockets closed by the kernel) is passed on to the client, as HAProxy does.
"""
from __future__ import annotations

import socket
import threading

from tests.kit.tcpproxy import TCPProxy, pipe


class Balancer(TCPProxy):
    def __init__(self, backends: list[tuple[str, int]]):
        self.backends = backends
        super().__init__()

    def _serve(self, client: socket.socket) -> None:
        for backend in self.backends:
            try:
                server = socket.create_connection(backend, timeout=2)
            except OSError:
                continue
            server.settimeout(None)
            threading.Thread(target=pipe, args=(server, client), daemon=True).start()
            pipe(client, server)
            return
        client.close()  # no backend alive: the client sees its connection end
