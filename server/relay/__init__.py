"""The relay: clients' streams reach workspace agents through coderd.

``registry`` holds the agents connected to this process and forwards streams
for agents held by other processes; ``websocket`` bridges a client's
websocket to a stream; ``apps`` proxies workspace apps (HTTP and websockets)
over streams. The agent's half is ``agent.relay``; the framing is
``appliance.mux``.
"""
from __future__ import annotations

from flask import Flask, current_app

from . import websocket
from .registry import AgentUnavailable, Relay, RelayTLS

__all__ = ["AgentUnavailable", "Relay", "RelayTLS", "init_app", "relay"]


def init_app(app: Flask) -> None:
    coderd = app.extensions["coderd"]
    settings = coderd.settings
    tls = None
    if settings.relay_tls_cert_file:  # settings.load checked that all three files are set
        tls = RelayTLS(settings.relay_tls_cert_file, settings.relay_tls_key_file,
                       settings.relay_tls_ca_file)
    app.extensions["relay"] = Relay(coderd.pool, bind_host=settings.relay_address or "127.0.0.1",
                                    agent_heartbeat=settings.agent_stats_refresh_interval,
                                    tls=tls)
    from . import apps  # here: apps' routes use server.api, whose relay routes use this package

    apps.init_app(app)
    websocket.init_app(app)


def relay() -> Relay:
    return current_app.extensions["relay"]
