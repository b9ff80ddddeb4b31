"""TLS over a connected socket, an ``appliance.streams.Stream``, with half-closes.

Forwarded relay streams need one direction to end while the other goes on
(SSH's end of input, an HTTP request body before the response). The standard
library's ``ssl.SSLSocket`` cannot carry that: its ``shutdown`` drops the TLS
session, so what the peer still sends can no longer be read, and a bare TCP
FIN instead (no close_notify) makes OpenSSL 3 fail the peer's later writes
("EOF occurred in violation of protocol"). ``ssl.SSLObject`` over memory BIOs
can: ``shutdown(SHUT_WR)`` sends close_notify (TLS 1.3 half-close), reads go
on until the peer's, and the peer's ``recv`` returns b"" on it. Bytes go
through the socket's own calls, so gevent's patched sockets keep it
cooperative. One lock guards the SSL object (OpenSSL's is not safe to use
from two threads at once); another keeps outgoing records in order.
"""
from __future__ import annotations

import socket
import ssl
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
CHUNK = 65536


class TLSStream:
    def __init__(self, sock: socket.socket, context: ssl.SSLContext, *, server_side: bool,
                 server_hostname: str | None = None):
        self.sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                     server_hostname=server_hostname)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._run(self._tls.do_handshake)  # raises ssl.SSLError (an OSError) if refused

    def _flush(self) -> None:
        with self._send_lock:
            with self._lock:
                data = self._outgoing.read()
            if data:
                self.sock.sendall(data)

    def _run(self, op: Callable[..., T], *args) -> T:
        while True:
            try:
                with self._lock:
                    result = op(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(CHUNK)
                with self._lock:
                    if data:
                        self._incoming.write(data)
                    elif self._incoming.eof:
                        raise ConnectionResetError("TLS connection ended mid-record")
                    else:
                        self._incoming.write_eof()
                continue
            self._flush()
            return result

    def recv(self, n: int) -> bytes:
        try:
            return self._run(self._tls.read, n)
        except ssl.SSLZeroReturnError:  # the peer's close_notify: its direction has ended
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = self._run(self._tls.write, view[:CHUNK])
            view = view[sent:]

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_RD:
            self.sock.shutdown(how)
            return
        try:
            try:
                with self._lock:
                    self._tls.unwrap()  # sends close_notify, then wants the peer's
            except ssl.SSLWantReadError:
                pass
            self._flush()
        finally:
            if how == socket.SHUT_RDWR:  # an abort: wake this socket's reader whatever happened
                self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()
