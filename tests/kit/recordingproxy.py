"""A reverse proxy in front of a real coderd that records every request head it
passes on: plain requests (however many share a keep-alive connection),
``Upgrade: tcp`` streams and websockets. For tests of what a client sends (the
``coder --header`` flags); it changes nothing on the way.

It reads the client's side request by request (a head, then a Content-Length
body; an upgrade makes the rest of the connection opaque) and copies coderd's
side as it comes. Clients that send chunked bodies are not for it.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from tests.kit.rawhttp import address, read_head
from tests.kit.tcpproxy import TCPProxy, end, pipe


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased


class RecordingProxy(TCPProxy):
    def __init__(self, upstream_url: str):
        self.upstream = address(upstream_url)
        self.seen: list[Seen] = []
        super().__init__()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        threading.Thread(target=pipe, args=(server, client), daemon=True).start()
        buffered = b""
        try:
            while True:
                head, buffered = read_head(client, buffered)
                if not head:
                    return
                seen = _parse(head)
                self.seen.append(seen)
                length = int(seen.headers.get("content-length", "0"))
                while len(buffered) < length:
                    buffered += client.recv(65536)
                server.sendall(head + b"\r\n\r\n" + buffered[:length])
                buffered = buffered[length:]
                if "upgrade" in seen.headers:
                    server.sendall(buffered)
                    pipe(client, server)
                    return
        except OSError:
            pass
        finally:
            end(server)


def _parse(head: bytes) -> Seen:
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(method, target, headers)
