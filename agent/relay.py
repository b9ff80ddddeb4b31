"""The agent's end of the relay: one websocket to coderd carrying every client stream.

``run(client, manifest, stop_event)`` keeps the connection up (reconnecting
with backoff when coderd restarts or the network drops) and serves the
streams coderd opens, by target:

- ``ssh``: the in-process SSH server (agent.ssh);
- ``tcp:PORT`` or ``tcp:HOST:PORT``: a TCP connection from inside the workspace;
- ``pty:ID:WIDTH:HEIGHT[:COMMAND]``: the reconnecting PTY (agent.pty);
- ``listening-ports``: the JSON list of listening TCP ports.

coderd authorized every stream before opening it; the agent trusts its coderd.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
from pathlib import Path
from typing import Any

import websocket

from appliance import mux, wsframes
from appliance.streams import MessageStream

from . import forward, pty, ssh, stats

log = logging.getLogger(__name__)

RELAY_PATH = "/api/v2/workspaceagents/me/relay"
# Connections counted in the agent's stats, by target kind, with Coder's session kind.
SESSIONS = {"ssh": "ssh", "tcp": "", "pty": "reconnecting_pty"}
SESSION_HEADER = "Coder-Session-Token"


def _field(manifest: Any, name: str, default: Any) -> Any:
    if manifest is None:
        return default
    if isinstance(manifest, dict):
        return manifest.get(name, default)
    return getattr(manifest, name, default)


def data_dir() -> Path:
    base = os.environ.get("CODER_AGENT_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "coder-agent")
    return Path(base)


class StreamServer:
    """Serves the streams of one agent, whatever connection they arrive on."""

    def __init__(self, manifest: Any = None, host_key_path: Path | None = None,
                 env: dict[str, str] | None = None):
        """``env``: what sessions get (the agent's command environment); else this
        process's and the manifest's variables."""
        env = dict(env or {**os.environ, **(_field(manifest, "environment_variables", None) or {})})
        env.pop("CODER_AGENT_TOKEN", None)
        directory = _field(manifest, "directory", "") or None
        self.ssh = ssh.SSHServer(ssh.load_host_key(host_key_path or data_dir() / "ssh_host_ed25519_key"),
                                 env, directory)
        self.ptys = pty.PtyRegistry(env, self.ssh.directory)

    def __call__(self, stream: mux.Stream) -> None:
        kind, _, rest = stream.target.partition(":")
        if kind in SESSIONS:
            stats.COUNTERS.add_connection(kind, SESSIONS[kind])
        if kind == "ssh":
            stream.accept()
            self.ssh.serve(stream)
        elif kind == "tcp":
            host, _, port = rest.rpartition(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                stream.reject(f"bad port in {stream.target!r}")
                return
            forward.serve_tcp(stream, host or "127.0.0.1", int(port))
        elif kind == "pty":
            key, width, height, *command = rest.split(":", 3)
            if not (key and width.isdigit() and height.isdigit()):
                stream.reject(f"bad terminal target {stream.target!r}")
                return
            self.ptys.serve(stream, key, int(width), int(height), command[0] if command else "")
        elif kind == "listening-ports":
            stream.accept()
            stream.sendall(json.dumps({"ports": forward.listening_ports()}).encode())
            stream.shutdown_write()
            stream.recv()  # until coderd closes its side
            stream.close()
        else:
            stream.reject(f"unknown target {stream.target!r}")

    def close(self) -> None:
        self.ptys.close()


def connect(url: str, token: str, *, ca_file: str | None = None, timeout: float = 30) -> websocket.WebSocket:
    """The relay websocket, authenticated with the agent token."""
    ws_url = url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1) + RELAY_PATH
    sslopt = {"ca_certs": ca_file} if ca_file else {}
    ws = websocket.create_connection(ws_url, header={SESSION_HEADER: token}, timeout=timeout,
                                     sslopt=sslopt, enable_multithread=True)
    ws.settimeout(None)
    return ws


def serve_session(transport: MessageStream, server: StreamServer, keepalive: float = 15.0) -> mux.Session:
    """The agent's side of one relay connection; what passes through it counts in the stats."""
    return mux.Session(transport, accept=server, name="relay", keepalive=keepalive,
                       traffic=stats.COUNTERS.add_traffic)


def run(client: Any, manifest: Any, stop_event: threading.Event, *,
        server: StreamServer | None = None, keepalive: float = 15.0,
        env: dict[str, str] | None = None) -> None:
    """Keep the relay connected until ``stop_event`` is set.

    ``client`` is the agent's SDK client (its ``url``, ``token`` and TLS
    ``http.verify`` are used); ``manifest`` gives the directory, and the
    environment unless ``env`` (the agent's command environment) is given.
    """
    server = server or StreamServer(manifest, env=env)
    verify = getattr(getattr(client, "http", None), "verify", True)
    ca_file = verify if isinstance(verify, str) else None
    delay = 0.5
    try:
        while not stop_event.is_set():
            try:
                ws = connect(client.url, client.token, ca_file=ca_file)
            except websocket.WebSocketBadStatusException as exc:
                log.error("relay: coderd refused the connection (%s)%s", exc.status_code,
                          ": is CODER_AGENT_TOKEN right?" if exc.status_code == 401 else "")
            except (OSError, websocket.WebSocketException) as exc:
                log.info("relay: cannot connect to %s: %s", client.url, exc)
            else:
                log.info("relay: connected to %s", client.url)
                delay = 0.5
                stream = wsframes.client_stream(ws)
                session = serve_session(stream, server, keepalive)
                watcher = threading.Thread(target=lambda: (stop_event.wait(), session.close()),
                                           daemon=True)
                watcher.start()
                session.serve()
                if refused := wsframes.refusal(stream.frames.close_payload):
                    log.error("relay: coderd closed the connection: %d %s", *refused)
                log.info("relay: disconnected from %s", client.url)
            stop_event.wait(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)
    finally:
        server.close()


def main() -> int:
    """Run only the relay (tests, benchmarks): ``python -m agent.relay`` with
    ``CODER_AGENT_URL`` and ``CODER_AGENT_TOKEN`` set."""
    import signal
    from types import SimpleNamespace

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = SimpleNamespace(url=os.environ["CODER_AGENT_URL"], token=os.environ["CODER_AGENT_TOKEN"],
                             http=SimpleNamespace(verify=os.environ.get("CODER_AGENT_CA_FILE") or True))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ssh_port = os.environ.get("CODER_AGENT_SSH_DIRECT_PORT")
    server = StreamServer(json.loads(os.environ.get("CODER_AGENT_TEST_MANIFEST", "{}")))
    if ssh_port:  # benchmarks compare against the SSH server reached directly
        threading.Thread(target=_serve_direct_ssh, args=(server, int(ssh_port)), daemon=True).start()
    run(client, None, stop, server=server)
    return 0


def _serve_direct_ssh(server: StreamServer, port: int) -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=server.ssh.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
