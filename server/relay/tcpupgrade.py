"""Relayed streams as plain TCP: HTTP/1.1 ``Upgrade: tcp``.

A client that sends ``Connection: Upgrade`` and ``Upgrade: tcp`` gets, once
coderd has authorized it and the agent has accepted the stream, ``101
Switching Protocols``; from then on the connection carries the stream's bytes
as they are, both ways, and either side may half-close it (Docker's attach
API works the same way). Against a websocket this spares every relayed chunk
its framing and masking on both ends, and a client can hand the socket itself
to OpenSSH (``ProxyUseFdpass``). Refusals come before the 101, as ordinary
HTTP responses with Coder's error body. The connection is taken from the WSGI
server by ``server.adapters.gevent_pywsgi``.
"""
from __future__ import annotations

from appliance import streams

from ..adapters import gevent_pywsgi

UPGRADE = "tcp"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


def requested(environ: dict) -> bool:
    return (environ.get("HTTP_UPGRADE", "").lower() == UPGRADE
            and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())


def bridge(environ: dict, conn: streams.Stream) -> None:
    """Answer 101, then carry the stream's bytes between the client's connection and
    ``conn`` until both directions end (half-closes passed on), and close both."""
    streams.pump(gevent_pywsgi.take_over(environ, SWITCHING), conn)
