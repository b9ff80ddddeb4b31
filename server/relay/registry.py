"""Per process: the agents connected here, and reaching the ones connected elsewhere.

Every coderd process (gunicorn worker or replica) holds the relay websockets
of the agents that happened to connect to it. A client stream for an agent
held here becomes a mux stream on its connection; for an agent held by
another process, this process dials that process's internal listener (its
address is in ``relay_processes``), the two prove to each other that they
know the deployment's relay secret, the dialer names the agent and target,
and then the two sockets carry the stream's bytes. The internal listener
starts with the first agent this process holds; the process heartbeats its
row so entries of dead processes expire.

The secret itself never crosses the connection (docs/security.md, "The relay
between coderd processes"): the listener sends a fresh nonce, the dialer
answers with its own nonce, the agent, the target and an HMAC over all four;
the listener's reply carries its own HMAC over the same values. A listener
answers nothing before a valid proof, a dialer believes nothing without one,
and a recorded proof is worthless against the next connection's nonce. With
``RelayTLS`` the connection is TLS as well: the dialer verifies the listener's
certificate against the configured CA bundle and the relay address.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

from appliance import mux, streams
from appliance.streams import MessageStream

from .. import agentconn
from ..authz.querier import AuthzQuerier
from ..authz.rbac import system
from ..db.pool import CONNECTION_DEFAULTS, CONNECTION_ERRORS, reason
from ..db.queries import Queries
from .tlsstream import TLSStream

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# A process silent this long no longer holds its agents.
EXPIRE_SECONDS = 3 * HEARTBEAT_SECONDS
MAX_HEADER = 4096
# A forwarded stream's TLS and proofs, in all: a peer that trickles its handshake a byte at
# a time is cut off then (a timeout per read would let it hold the listener for hours).
HANDSHAKE_SECONDS = 10.0
# Forwarded connections one process holds at once: the listener's share of its file
# descriptors (its unit's LimitNOFILE is 65536), so a flood of them cannot take the rest.
MAX_FORWARDED = 4096
# The keepalive timings ``tune`` gives a connection between relay ends: the database
# connection's (one source), as setsockopt's integers.
_KEEPALIVE = {k: int(v) for k, v in CONNECTION_DEFAULTS.items()}
SECRET_KEY = "relay_secret"


class AgentUnavailable(Exception):
    """The agent holds no relay connection to any live coderd process."""


class RelayAuthError(ValueError):
    """The other end of a forwarded stream did not prove it knows the relay secret."""


@dataclass(frozen=True)
class RelayTLS:
    """TLS for forwarded streams: the listener's certificate, and the CA that dialers trust."""

    cert_file: str
    key_file: str
    ca_file: str

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # its half-close: tlsstream
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return dialer_context(self.ca_file)


def dialer_context(ca_file: str) -> ssl.SSLContext:
    """TLS for dialing relay listeners (coderd processes, workspace proxies): their
    certificates verified against ``ca_file`` and the relay address."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # its half-close: tlsstream
    return ctx


class Relay:
    def __init__(self, pool, bind_host: str = "127.0.0.1", agent_heartbeat: float = 15.0,
                 keepalive: float = 15.0, tls: RelayTLS | None = None):
        self.pool = pool
        # Contexts built now, so a missing or wrong file stops coderd at start.
        self._server_tls = tls.server_context() if tls else None
        self._client_tls = tls.client_context() if tls else None
        self.bind_host = bind_host
        self.agent_heartbeat = agent_heartbeat
        self.keepalive = keepalive
        self.process_id = uuid.uuid4()
        self.agents: dict[uuid.UUID, mux.Session] = {}
        self.address = ""
        self._secret = ""
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._server = None
        self._stopped = threading.Event()
        self._forwarding: set[tuple[uuid.UUID, str]] = set()
        self.forwarded = 0  # streams currently forwarded in or out (tests watch it)

    @contextlib.contextmanager
    def store(self, reason: str) -> Iterator[AuthzQuerier]:
        with self.pool.connection() as conn:
            yield AuthzQuerier(Queries(conn), system(reason))

    @property
    def secret(self) -> str:
        if not self._secret:
            with self.store("relay-secret") as s:
                self._secret = s.insert_deployment_value(SECRET_KEY, secrets.token_urlsafe(32))
        return self._secret

    # -- agents connected here ----------------------------------------------
    def serve_agent(self, agent_id: uuid.UUID, transport: MessageStream) -> None:
        """Hold an agent's connection until it ends, recording the agent as connected
        meanwhile (Coder's status); a newer connection of the same agent replaces this one."""
        self._start()
        session = mux.Session(transport, name=f"agent {agent_id}", keepalive=self.keepalive)
        with self._lock:
            old = self.agents.get(agent_id)
            self.agents[agent_id] = session
        if old is not None:
            old.close()
        with self.store("relay-agent-connected") as s:
            s.upsert_relay_agent(agent_id, self.process_id)
            s.update_workspace_agent_connection(agent_id, 0)
        try:
            session.serve()
        finally:
            with self._lock:
                current = self.agents.get(agent_id) is session
                if current:
                    del self.agents[agent_id]
            if current:
                with self.store("relay-agent-disconnected") as s:
                    s.delete_relay_agent(agent_id, self.process_id)
                    agentconn.mark_disconnected(s, agent_id)

    def _alive_loop(self) -> None:
        """Once per heartbeat interval, record every agent held here as connected, in one
        statement however many agents this process holds."""
        while not self._stopped.wait(self.agent_heartbeat * 0.8):
            try:
                with self.store("relay-agents-alive") as s:
                    s.update_relay_agents_connected(list(self.agents))
            except CONNECTION_ERRORS as exc:  # a failover: the next one may work
                log.warning("relay: recording %d agents as connected failed: %s",
                            len(self.agents), reason(exc))
            except Exception:  # a failed write must not drop the agents; the next one may work
                log.exception("relay: recording %d agents as connected failed", len(self.agents))

    @property
    def open_streams(self) -> int:
        return sum(s.streams for s in list(self.agents.values())) + self.forwarded

    # -- opening streams ----------------------------------------------------------
    def open(self, agent_id: uuid.UUID, target: str, timeout: float = 15.0):
        """A socket-like connection to ``target`` on the agent, wherever it is connected."""
        session = self.agents.get(agent_id)
        if session is not None and not session.closed:
            return session.open(target, timeout)
        with self.store("relay-find-agent") as s:
            row = s.get_relay_address(agent_id, EXPIRE_SECONDS)
        if row is None or row["process_id"] == self.process_id:
            raise AgentUnavailable(f"agent {agent_id} is not connected")
        return self._dial(row["address"], agent_id, target, timeout)

    def _dial(self, address: str, agent_id: uuid.UUID, target: str, timeout: float):
        if (agent_id, address) not in self._forwarding:  # once: it names who holds the agent
            self._forwarding.add((agent_id, address))
            log.info("relay: streams for agent %s forwarded to the process at %s", agent_id, address)
        return _Counted(self, dial_listener(address, self.secret, agent_id, target,
                                            self._client_tls, timeout))

    # -- the internal listener ----------------------------------------------------
    def _start(self) -> None:
        """Listen and register this process, once; agents arriving meanwhile wait for the
        registration, since their rows name this process (a foreign key)."""
        with self._start_lock:
            if self._server is not None:
                return
            from gevent.pool import Pool
            from gevent.server import StreamServer

            self._server = StreamServer((self.bind_host, 0), self._handle_forwarded,
                                        spawn=Pool(MAX_FORWARDED))
            self._server.start()
            self.address = f"{self.bind_host}:{self._server.server_port}"
            with self.store("relay-register") as s:
                s.upsert_relay_process(self.process_id, self.address)
        threading.Thread(target=self._heartbeat, daemon=True).start()
        threading.Thread(target=self._alive_loop, daemon=True).start()
        log.info("relay: process %s takes forwarded streams at %s", self.process_id, self.address)

    def _heartbeat(self) -> None:
        while not self._stopped.is_set():
            try:
                with self.store("relay-heartbeat") as s:
                    if not s.heartbeat_relay_process(self.process_id, EXPIRE_SECONDS):
                        # Expired while the database was away: register again with our agents.
                        s.upsert_relay_process(self.process_id, self.address)
                        for agent_id in list(self.agents):
                            s.upsert_relay_agent(agent_id, self.process_id)
            except CONNECTION_ERRORS as exc:  # a failover: registered again once it is over
                log.warning("relay: heartbeat failed: %s", reason(exc))
            except Exception:
                log.exception("relay: heartbeat failed")
            self._stopped.wait(HEARTBEAT_SECONDS)

    def _handle_forwarded(self, sock: socket.socket, address) -> None:
        """A stream forwarded by another process: check its proof, open the stream, pipe it."""
        tune(sock)
        sock = timed = _Deadline(sock, HANDSHAKE_SECONDS)
        try:
            if self._server_tls is not None:
                sock = TLSStream(sock, self._server_tls, server_side=True)
            proof = ListenerHandshake(sock, self._dialer_secret)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("relay: forwarded stream from %s refused: %s", address[0], exc)
            sock.close()
            return
        session = self.agents.get(proof.agent_id)
        try:
            if session is None:
                raise mux.StreamError(f"agent {proof.agent_id} is not connected to this process")
            stream = session.open(proof.target)
        except mux.StreamError as exc:
            with contextlib.suppress(OSError):
                proof.answer(error=str(exc))
            sock.close()
            return
        try:
            proof.answer()
        except OSError:
            stream.close()
            sock.close()
            return
        timed.lift()
        streams.pump(stream, _Counted(self, sock))

    def _dialer_secret(self, header: dict) -> str:
        """The relay secret for coderd processes; for a workspace proxy, its own relay key,
        once coderd's signed grant for this very stream checks (``server.wsproxy.apptoken``)."""
        if "proxy_id" not in header:
            return self.secret
        from ..wsproxy import apptoken

        with self.store("relay-proxy-dialer") as s:
            return apptoken.relay_key_for_stream(s, self.secret, header)

    def close(self) -> None:
        """Stop holding agents (coderd is shutting down): they show as disconnected until
        they reconnect to another process, or to this coderd started again."""
        self._stopped.set()
        with self._lock:
            held, self.agents = list(self.agents.values()), {}
        for session in held:
            session.close()
        if self._server is not None:
            self._server.stop()
            with self.store("relay-stop") as s:
                s.delete_relay_process(self.process_id)


def _mac(secret: str, role: str, listener_nonce: str, dialer_nonce: str, agent_id: str,
         target: str) -> str:
    message = json.dumps([role, listener_nonce, dialer_nonce, agent_id, target]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _read_json(sock: socket.socket) -> dict:
    value = json.loads(_read_line(sock) or b"null")
    if not isinstance(value, dict):
        raise RelayAuthError("the connection ended before the handshake did")
    return value


def tune(sock: socket.socket) -> None:
    """Options for a connection between relay ends: no Nagle delay for keystrokes, and a
    peer lost without closing (its host down, its cable pulled) given up on as coderd gives
    up on a lost database (``server.db.pool``): keepalive probes after 5 s idle, 2 s apart,
    3 unanswered; or data unacknowledged for 15 s. Without them a stream forwarded to a lost
    replica waited for as long as TCP retries, with the user's session hanging on it."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, _KEEPALIVE["keepalives_idle"])
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, _KEEPALIVE["keepalives_interval"])
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, _KEEPALIVE["keepalives_count"])
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, _KEEPALIVE["tcp_user_timeout"])


def dial_listener(address: str, secret: str, agent_id: uuid.UUID | str, target: str,
                  tls: ssl.SSLContext | None, timeout: float, **extra: str):
    """A connection to the relay listener at ``address`` (``host:port``) past its handshake,
    carrying the stream to ``target`` on the agent. Raises AgentUnavailable when the
    listener cannot be reached or does not prove itself, mux.StreamError when it refuses
    the stream (with its reason). ``extra``: as for ``dial_handshake``."""
    host, _, port = address.rpartition(":")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise AgentUnavailable(f"the coderd process holding agent {agent_id} at {address} "
                               f"is unreachable: {exc}") from exc
    tune(sock)
    try:
        if tls is not None:
            sock = TLSStream(sock, tls, server_side=False, server_hostname=host.strip("[]"))
        answer = dial_handshake(sock, secret, agent_id, target, **extra)
    except (OSError, ValueError) as exc:  # ssl.SSLError and RelayAuthError among them
        sock.close()
        raise AgentUnavailable(f"forwarding to {address} failed: {exc}") from exc
    if not answer.get("ok"):
        sock.close()
        raise mux.StreamError(answer.get("error") or "refused by the holding process")
    sock.settimeout(None)
    return sock


def dial_handshake(sock: socket.socket, secret: str, agent_id: uuid.UUID, target: str,
                   **extra: str) -> dict:
    """The dialer's half: prove knowledge of ``secret`` for ``agent_id``/``target`` and
    return the listener's answer (``ok`` or ``error``) once it has proven it too.
    ``extra``: more header fields (a workspace proxy's ``proxy_id`` and ``grant``)."""
    listener_nonce = str(_read_json(sock)["nonce"])
    dialer_nonce = secrets.token_hex(16)
    agent, target = str(agent_id), str(target)
    sock.sendall(json.dumps({**extra, "nonce": dialer_nonce, "agent_id": agent, "target": target,
                             "mac": _mac(secret, "dialer", listener_nonce, dialer_nonce, agent,
                                         target)}).encode() + b"\n")
    answer = _read_json(sock)
    expected = _mac(secret, "listener", listener_nonce, dialer_nonce, agent, target)
    if not hmac.compare_digest(str(answer.get("mac", "")).encode(), expected.encode()):
        raise RelayAuthError("the listener did not prove it knows the relay secret")
    return answer


class ListenerHandshake:
    """The listener's half: send a fresh nonce, check the dialer's proof (raising
    RelayAuthError), then ``answer`` with a proof of its own. ``secret``: the relay secret,
    or a function of the dialer's header that returns the secret it must prove (a workspace
    proxy's key, once its grant is checked) or raises a ValueError (``GrantRefused``).
    A malformed header raises what reading it raises; the caller refuses the stream."""

    def __init__(self, sock: socket.socket, secret: str | Callable[[dict], str]):
        self.sock = sock
        listener_nonce = secrets.token_hex(16)
        sock.sendall(json.dumps({"nonce": listener_nonce}).encode() + b"\n")
        header = _read_json(sock)
        dialer_nonce = str(header["nonce"])
        agent, target = str(header["agent_id"]), str(header["target"])
        secret = secret if isinstance(secret, str) else secret(header)
        expected = _mac(secret, "dialer", listener_nonce, dialer_nonce, agent, target)
        if not hmac.compare_digest(str(header.get("mac", "")).encode(), expected.encode()):
            raise RelayAuthError("wrong proof of the relay secret")
        self.agent_id, self.target = uuid.UUID(agent), target
        self._reply_mac = _mac(secret, "listener", listener_nonce, dialer_nonce, agent, target)

    def answer(self, error: str = "") -> None:
        reply = {"error": error} if error else {"ok": True}
        self.sock.sendall(json.dumps({**reply, "mac": self._reply_mac}).encode() + b"\n")


def _read_line(sock: socket.socket) -> bytes:
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_HEADER:
            raise ValueError("header too long")
    return bytes(data)


class _Deadline:
    """A socket whose reads and writes share one deadline until ``lift``: each call gets
    the time left, and none once it has passed."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.sock = sock
        self._deadline: float | None = time.monotonic() + seconds

    def _left(self) -> None:
        if self._deadline is None:  # lifted: the stream's own reads, untouched
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the handshake took too long")
        self.sock.settimeout(left)

    def lift(self) -> None:
        self._deadline = None
        self.sock.settimeout(None)

    def recv(self, n: int) -> bytes:
        self._left()
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self._left()
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()


class _Counted:
    """A forwarded socket (an ``appliance.streams.Stream``), counted while open."""

    def __init__(self, relay: Relay, sock: socket.socket):
        self.relay = relay
        self.sock = sock
        relay.forwarded += 1
        self._open = True

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        if self._open:
            self._open = False
            self.relay.forwarded -= 1
            self.sock.close()
