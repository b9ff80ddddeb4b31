"""A small HTTP server a test starts: on 127.0.0.1, in its own thread, stopped by the test.

For the servers whose whole job is to answer a GET with a body made from the request
(an attacker's page, an app "inside the workspace"): the test gives ``answer`` and
nothing else. Servers with a protocol of their own (the Terraform registry, the echo
app) keep their own handler classes.
"""
from __future__ import annotations

import http.server
import ssl
import threading
from typing import Callable

# (status, Content-Type, body) for the request the handler holds (``.path``, ``.headers``).
Answer = Callable[[http.server.BaseHTTPRequestHandler], tuple[int, str, bytes]]


class GetServer(http.server.ThreadingHTTPServer):
    """Answers every GET with ``answer(request)``; serving from construction until
    ``stop`` (or the end of a ``with`` block)."""

    daemon_threads = True

    def __init__(self, answer: Answer, port: int = 0, tls: tuple[str, str] | None = None):
        """``port`` 0 picks a free one; ``tls``: a certificate chain and key file to
        serve HTTPS with."""
        super().__init__(("127.0.0.1", port), _handler(answer))
        self.port = self.server_address[1]
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def __exit__(self, *exc) -> None:
        self.stop()


def _handler(answer: Answer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, content_type, body = answer(self)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler
