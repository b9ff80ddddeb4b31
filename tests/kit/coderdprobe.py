"""coderd with a view into its process, for tests of what a client cannot see from
outside: ``python -m tests.kit.coderdprobe server`` runs coderd exactly as ``server.cli``
does and answers, on ``CODERD_PROBE_ADDRESS`` (a second loopback port, not coderd's),
``GET /?channel=NAME`` with how many callbacks that pubsub channel holds and how many
greenlets are alive. coderd itself gains no endpoint: the view wraps its app factory.
"""
from __future__ import annotations

import gc
import json
import os
import sys
from urllib.parse import parse_qs

PROBE_ENV = "CODERD_PROBE_ADDRESS"


def _serve_probe(app) -> None:
    import gevent.pywsgi
    import greenlet

    def probe(environ, start_response):
        channel = parse_qs(environ.get("QUERY_STRING", "")).get("channel", [""])[0]
        body = json.dumps({
            "listeners": app.extensions["coderd"].pubsub.listeners(channel),
            "greenlets": sum(1 for o in gc.get_objects()
                             if isinstance(o, greenlet.greenlet) and not o.dead)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    host, _, port = os.environ[PROBE_ENV].rpartition(":")
    gevent.pywsgi.WSGIServer((host, int(port)), probe, log=None).start()


def main() -> int:
    from server import app as app_module, cli

    create_app = app_module.create_app

    def create_and_probe(*args, **kwargs):
        app = create_app(*args, **kwargs)
        _serve_probe(app)
        return app

    app_module.create_app = create_and_probe
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
