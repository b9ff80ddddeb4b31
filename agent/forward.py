"""TCP for the relay: dialing ports inside the workspace, listing listeners."""
from __future__ import annotations

import socket

from appliance.mux import Stream
from appliance.streams import pump


def serve_tcp(stream: Stream, host: str, port: int) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError as exc:
        stream.reject(f"dial {host}:{port}: {exc.strerror or exc}")
        return
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream.accept()
    pump(stream, sock)


def listening_ports() -> list[dict]:
    """TCP ports listening in this network namespace, as Coder's listening-ports API lists them."""
    ports: dict[int, dict] = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            ports.setdefault(port, {"process_name": "", "network": "tcp", "port": port})
    return [ports[p] for p in sorted(ports)]
