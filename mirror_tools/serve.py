"""Serve a mirror folder over HTTPS: the provider network-mirror protocol and the rest.

The network-mirror protocol is static files (``index.json``, ``VERSION.json``,
zips with relative URLs), so this is a small read-only file server: GET and
HEAD (terraform sends HEAD before GET for each zip), the right content types,
404 for anything that is not a regular file under the root, and nothing
served from hidden paths (``.partial/``, the lock). TLS is mandatory because
terraform only accepts network mirrors over HTTPS.

Each connection gets its own thread and its TLS handshake runs there, so a
slow client cannot hold up the others; and none may hold its thread for
ever: each read or write waits at most ``read_timeout`` (the handshake, the
next request on a kept-alive connection, a client that stops reading a zip),
a request's line and headers must all arrive within ``header_timeout`` of
its first byte however they are spaced, and past ``max_connections`` open
connections a new one is closed at once.
"""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = {".json": "application/json", ".zip": "application/zip",
                 ".hcl": "text/plain; charset=utf-8", ".sig": "application/pgp-signature"}


def content_type(name: str) -> str:
    if name.endswith("_SHA256SUMS"):
        return "text/plain; charset=utf-8"
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


def resolve(root: Path, url_path: str, prefix: str = "/") -> Path | None:
    """The file a request path names, or None (outside the root, hidden, not a file)."""
    path = unquote(urlsplit(url_path).path)
    if not path.startswith(prefix):
        return None
    parts = [p for p in path[len(prefix):].split("/") if p]
    if not parts or any(p.startswith(".") for p in parts):
        return None
    target = root.joinpath(*parts)
    try:
        real = target.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError):
        return None
    if root not in real.parents or not real.is_file():
        return None
    return real


class _HeadReader:
    """A request's input while its head is read: each line must arrive by ``deadline``,
    one read of the socket at a time, so a client sending a byte now and then is cut off."""

    def __init__(self, rfile, sock: socket.socket, deadline: float):
        self.rfile, self.sock, self.deadline = rfile, sock, deadline

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request head not received in time")
            self.sock.settimeout(left)
            buffered = self.rfile.peek(1)  # at most one read of the socket
            if not buffered:
                break
            end = buffered.find(b"\n")
            take = len(buffered) if end < 0 else end + 1
            if limit >= 0:
                take = min(take, limit - len(line))
            line += self.rfile.read(take)
        return bytes(line)


class _Handler(BaseHTTPRequestHandler):
    server: "MirrorServer"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # StreamRequestHandler applies it to the socket
        super().setup()

    def handle_one_request(self) -> None:
        rfile = self.rfile
        try:
            if not rfile.peek(1):  # the next request's first byte, within the read timeout
                self.close_connection = True
                return
        except OSError:
            self.close_connection = True
            return
        self.rfile = _HeadReader(rfile, self.connection, time.monotonic() + self.server.header_timeout)
        try:
            super().handle_one_request()
        finally:
            self.rfile = rfile
            self.connection.settimeout(self.server.read_timeout)

    def parse_request(self) -> bool:
        try:
            return super().parse_request()  # reads the headers through _HeadReader
        finally:
            self.rfile = getattr(self.rfile, "rfile", self.rfile)
            self.connection.settimeout(self.server.read_timeout)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = resolve(self.server.root, self.path, self.server.prefix)
        if path is None:
            message = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if body:
                self.wfile.write(message)
            return
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type(path.name))
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                shutil.copyfileobj(f, self.wfile, 1024 * 1024)

    def log_message(self, fmt: str, *args) -> None:
        if self.server.access_log:
            super().log_message(fmt, *args)


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: str | os.PathLike, address: tuple[str, int], cert: str, key: str,
                 prefix: str = "/", access_log: bool = False, *, header_timeout: float = 10.0,
                 read_timeout: float = 30.0, max_connections: int = 256):
        self.root = Path(root).resolve()
        self.prefix = "/" + prefix.strip("/") + ("/" if prefix.strip("/") else "")
        self.access_log = access_log
        self.header_timeout, self.read_timeout = header_timeout, read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # as many connections as it takes are open
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host}:{port}{self.prefix}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="mirror-serve", daemon=True)
        thread.start()
        return thread


def parse_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
