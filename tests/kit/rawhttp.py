"""HTTP/1.1 on a bare socket, for tests that send what no client library would: two
Transfer-Encoding headers, a bare CR, half a request, one byte a second.

Every connection goes to 127.0.0.1 and has a timeout; ``answers`` reads what the
server sends back until it closes the connection (or the timeout), so a test
sees each response, and whether anything came after the first.
"""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n")


def address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].split("/")[0].rsplit(":", 1)
    assert host in ("127.0.0.1", "localhost"), host
    return "127.0.0.1", int(port)


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(address(url), timeout=timeout)


@dataclass
class Answers:
    """What came back on one connection: each response's status, and whether the server
    closed the connection (rather than the read timing out)."""
    statuses: list[int] = field(default_factory=list)
    closed: bool = False
    data: bytes = b""

    @property
    def first(self) -> int | None:
        return self.statuses[0] if self.statuses else None


def answers(sock: socket.socket, timeout: float = 10.0) -> Answers:
    """Read until the server closes the connection or ``timeout`` passes."""
    data = bytearray()
    closed = False
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return Answers([int(m.group(1)) for m in _STATUS.finditer(bytes(data))], closed, bytes(data))


def read_head(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes]:
    """A message's head (without its blank line) and the bytes read past it; the head is
    b"" if the connection ends first."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        if not chunk:
            return b"", buffered
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    return head, rest


def exchange(url: str, request: bytes, timeout: float = 10.0) -> Answers:
    """Send ``request`` on a new connection, then read until it closes (or ``timeout``)."""
    with connect(url, timeout) as sock:
        sock.sendall(request)
        return answers(sock, timeout)


def is_closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` (what it sends is dropped)."""
    return answers(sock, timeout).closed


def request(method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes = b"",
            *, host: str = "127.0.0.1") -> bytes:
    """A request's bytes: its line, ``Host``, ``headers`` as given (none added but Host),
    the blank line and ``body``."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
