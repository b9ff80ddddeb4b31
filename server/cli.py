"""``coderd``: run the control plane.

``coderd server`` starts PostgreSQL when none is configured, migrates, and
serves the API: with gevent's pywsgi for one process, or with gunicorn and
gevent-websocket workers for several. Nothing heavy is imported before gevent
has patched the standard library.
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from typing import Sequence

from appliance import settings as settings_mod

log = logging.getLogger("coderd")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coderd", description="The coder-appliance control plane.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    server = sub.add_parser(
        "server", help="Start coderd.",
        description="Start coderd: the API, the dashboard and the built-in provisioners. "
                    "Every flag can also be set with the environment variable in brackets. "
                    "Update checks and telemetry are off and nothing contacts the internet.")
    settings_mod.add_arguments(server)
    migrate = sub.add_parser("migrate", help="Apply or roll back database migrations.")
    migrate.add_argument("direction", choices=("up", "down"))
    migrate.add_argument("--to", type=int, default=0, help="Version to roll back to (down only).")
    settings_mod.add_arguments(migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    try:
        settings = settings_mod.load(settings_mod.overrides_from_args(args))
    except settings_mod.SettingsError as exc:
        print(f"coderd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if settings.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.verbose:  # per-request access lines only when asked for
        logging.getLogger("geventwebsocket.handler").setLevel(logging.WARNING)
    if args.command == "migrate":
        return _migrate(settings, args)
    return serve(settings)


def _database(settings: settings_mod.Settings):
    """A connection URL, starting the embedded PostgreSQL when none is configured."""
    if settings.pg_connection_url:
        return settings.pg_connection_url, None
    from .db.embedded import EmbeddedPostgres

    settings.config_path.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedPostgres(settings.config_path)
    return embedded.start(), embedded


def _migrate(settings: settings_mod.Settings, args: argparse.Namespace) -> int:
    from .db import migrate

    dsn, embedded = _database(settings)
    try:
        version = migrate.up(dsn) if args.direction == "up" else migrate.down(dsn, args.to)
        print(f"database schema at version {version}")
    finally:
        if embedded:
            embedded.stop()
    return 0


def _listen(address: str):
    """A listening socket with TCP_NODELAY, which accepted sockets inherit.

    Without it, a response written as headers then body waits out the
    client's delayed ACK: 40 ms on every small request.
    """
    from gevent import socket

    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, int(port)))
    sock.listen(1024)
    return sock


def serve(settings: settings_mod.Settings) -> int:
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    from .app import prepare_database

    dsn, embedded = _database(settings)
    try:
        prepare_database(dsn)
        log.info("access URL %s", settings.effective_access_url)
        if settings.workers > 1:
            _serve_gunicorn(settings, dsn)
        else:
            _serve_pywsgi(settings, dsn)
    finally:
        if embedded:
            embedded.stop()
    return 0


def _make_app(settings: settings_mod.Settings, dsn: str):
    """Per process: the pool (connected now, so start fails rather than a request) and pubsub."""
    from .app import create_app
    from .db.pool import Pool
    from .pubsub import PubSub

    pool = Pool(dsn, size=settings.pg_pool_size)
    pool.put(pool.get())
    pubsub = PubSub(dsn)
    app = create_app(settings, pool, pubsub)
    pubsub.start()
    # What is loaded now lives as long as the process: keep the collector off
    # it, and collect young objects less often, which shortens latency tails.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    return app, pool


def _serve_pywsgi(settings: settings_mod.Settings, dsn: str) -> None:
    import gevent
    from gevent.pywsgi import WSGIServer
    from geventwebsocket.handler import WebSocketHandler

    app, pool = _make_app(settings, dsn)
    servers = []
    if settings.http_address:
        servers.append(WSGIServer(_listen(settings.http_address), app, handler_class=WebSocketHandler,
                                  log=None, error_log=logging.getLogger("coderd.http")))
    if settings.tls_enable:
        servers.append(WSGIServer(_listen(settings.tls_address), app, handler_class=WebSocketHandler,
                                  log=None, error_log=logging.getLogger("coderd.https"),
                                  certfile=settings.tls_cert_file, keyfile=settings.tls_key_file))
    for s in servers:
        s.start()
        log.info("listening on %s://%s:%d", "https" if s.ssl_enabled else "http", *s.address[:2])
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    print(f"coderd is ready at {settings.effective_access_url}", flush=True)
    stop.wait()
    log.info("shutting down")
    for s in servers:
        s.stop(timeout=5)
    pool.close()


def _serve_gunicorn(settings: settings_mod.Settings, dsn: str) -> None:
    from gunicorn.app.base import BaseApplication

    if settings.tls_enable and settings.http_address:
        log.warning("with several workers and TLS, only the TLS address %s is served",
                    settings.tls_address)
    bind = [settings.tls_address] if settings.tls_enable else [settings.http_address]
    options = {
        "bind": bind,
        "workers": settings.workers,
        "worker_class": "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
        "worker_connections": 10000,
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 75,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "debug" if settings.verbose else "info",
        "control_socket_disable": True,
        "proc_name": "coderd",
    }
    if settings.tls_enable:
        options.update(certfile=settings.tls_cert_file, keyfile=settings.tls_key_file)

    class Application(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            # Runs in each worker after fork: one pool per process, built before serving.
            from psycogreen.gevent import patch_psycopg

            patch_psycopg()
            return _make_app(settings, dsn)[0]

    def ready(server):
        print(f"coderd is ready at {settings.effective_access_url}", flush=True)

    options["when_ready"] = ready
    os.environ.setdefault("SERVER_SOFTWARE", "coderd")
    Application().run()


if __name__ == "__main__":
    raise SystemExit(main())
