"""gunicorn's gevent worker, adapted: coderd's request handler and server, and coderd's stop.

gunicorn (``coderd server`` with several workers) runs ``Worker``; with one
process coderd runs gevent's pywsgi itself (``server.cli``), with the same
handler (``server.upgradecheck.Handler``) and ``gevent_pywsgi.Server``.
"""
from __future__ import annotations

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker

from .. import upgradecheck
from . import gevent_pywsgi

# What this module relies on of gunicorn 27 and gevent-websocket 0.10.1 (see
# server/adapters/__init__.py): ``run`` builds the servers from these attributes.
RELIES_ON = {
    "geventwebsocket.gunicorn.workers:GeventWebSocketWorker.wsgi_handler": "5e504393cdb672b3",
    "gunicorn.workers.base:Worker.handle_exit": "e2f7159c426d379c",
    "gunicorn.workers.base_async:AsyncWorker.__init__": "a3c8f332bcc51b1b",
    "gunicorn.workers.ggevent:GeventPyWSGIWorker.server_class": "9ecdcc55e2f8350e",
    "gunicorn.workers.ggevent:GeventWorker.run": "50119854ef8be38c",
}


class Worker(GeventWebSocketWorker):
    """gunicorn's gevent worker with coderd's handler and server, which stops as coderd's
    single process does: at SIGTERM it stops accepting, then ends its long polls and lets
    its agents go (``shutting_down``), and only then waits for the requests left.
    gunicorn would do the first only after a second, and the rest only after its
    graceful timeout, which the agents' connections would always fill."""
    wsgi_handler = upgradecheck.Handler

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.servers: list[gevent_pywsgi.Server] = []

    def server_class(self, *args, **kwargs) -> gevent_pywsgi.Server:
        server = gevent_pywsgi.Server(*args, **kwargs)
        self.servers.append(server)
        return server

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        gevent.spawn(self._stop_serving)  # out of the signal handler

    def _stop_serving(self) -> None:
        for server in self.servers:
            server.close()  # gunicorn closes them again: a no-op
        self.wsgi.shutting_down()
