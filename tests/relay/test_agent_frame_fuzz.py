"""Fuzzing the agent's side of the relay: what a real agent (``python -m agent.relay``)
reads from coderd, the websocket frames (``appliance.wsframes``, as a client) and the
mux frames (``appliance.mux``, the side that accepts streams), sent by a hostile or
broken coderd played by this test on 127.0.0.1 (docs/security.md, "Websocket and mux
framing").

The agent follows RFC 6455 as ``wsfuzz.expected`` reads it (here as the client:
coderd's frames must not be masked), answers every frame it can parse (a RESET for
streams it cannot serve), closes at once on one it cannot, never hangs, and comes
back: it reconnects, and afterwards holds no connection but its relay and serves a
stream as before.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.kit import wsfuzz
from tests.kit.relay import AgentProcess

ANSWER_WITHIN = 5.0
RECONNECT_WITHIN = 15.0
SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TOKEN = "fuzz-agent-token"
# No pty: every terminal is a login shell that outlives its stream, by design.
AGENT_TARGETS = tuple(t for t in wsfuzz.TARGETS if not t.startswith(b"pty"))


class FakeCoderd:
    """The relay endpoint of a coderd: answers the agent's websocket upgrade, then the test
    writes whatever frames it wants."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sock: socket.socket | None = None
        self.peer: wsfuzz.Peer | None = None

    def accept(self) -> wsfuzz.Peer:
        """The agent's next connection (it reconnects after each one ends)."""
        self.listener.settimeout(RECONNECT_WITHIN)
        sock, _ = self.listener.accept()
        sock.settimeout(ANSWER_WITHIN)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "the agent hung up during its upgrade"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("GET /api/v2/workspaceagents/me/relay "), lines[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        assert headers["coder-session-token"] == TOKEN
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.sock, self.peer = sock, wsfuzz.Peer(sock, rest, masked=True)
        return self.peer

    def current(self) -> wsfuzz.Peer:
        return self.peer if self.sock is not None else self.accept()

    def hang_up(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = self.peer = None

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:  # the agent closed first: what it sent is still there to read
            pass

    def send_mux(self, *messages: bytes) -> None:
        self.send(b"".join(wsfuzz.Frame(wsfuzz.BINARY, m, masked=False).wire() for m in messages))


@pytest.fixture(scope="module")
def fake_coderd(tmp_path_factory):
    coderd = FakeCoderd()
    agent = AgentProcess(coderd.url, TOKEN, tmp_path_factory.mktemp("agent")).start()
    try:
        coderd.accept()
        yield coderd, agent
    finally:
        coderd.hang_up()
        agent.stop()
        coderd.listener.close()


def _mux(frames) -> list[tuple[int, int, bytes]]:
    """The mux frames in the websocket frames the agent sent (each well-formed), but its
    keepalive pings."""
    out = []
    for opcode, fin, payload in frames:
        if opcode == wsfuzz.BINARY:
            assert fin and len(payload) >= 5, payload[:20]
            kind, stream_id = struct.unpack_from("!BI", payload)
            assert 1 <= kind <= 8, kind
            if (kind, stream_id) != (wsfuzz.MUX_PING, 0):
                out.append((kind, stream_id, payload[5:]))
    return out


def _ping(coderd: FakeCoderd) -> list[tuple[int, bool, bytes]]:
    """A mux ping, and the agent's websocket frames until its pong."""
    marker = os.urandom(8)
    coderd.send_mux(wsfuzz.mux_frame(wsfuzz.MUX_PING, 0, marker))
    frames = coderd.peer.until(lambda f: f[2] == wsfuzz.mux_frame(wsfuzz.MUX_PONG, 0, marker)
                               or f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
    assert frames and frames[-1][0] != wsfuzz.CLOSE, frames
    return frames


@settings(max_examples=30, **SETTINGS)
@given(sequence=wsfuzz.frames(masked=False))
def test_the_agent_follows_rfc6455(fake_coderd, sequence):
    """Broken and well-formed websocket frames; the messages in them are read as mux
    frames, which the agent answers (``wsfuzz.mux_answers``: an OPEN of these targets is
    refused, by the agent as by coderd)."""
    coderd, _ = fake_coderd
    want = wsfuzz.expected(sequence, server=False)
    answers, ends = wsfuzz.mux_answers([m for _, m in want.messages])
    peer = coderd.current()
    coderd.send(b"".join(frame.wire() for frame in sequence))
    try:
        if want.cut:
            coderd.sock.shutdown(socket.SHUT_WR)
            assert peer.closed_within(ANSWER_WITHIN), f"the agent kept a cut-off websocket: {sequence}"
            return
        if want.close is not None or ends:
            frames = peer.until(lambda f: f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
            assert frames and frames[-1][0] == wsfuzz.CLOSE, (sequence, want, frames)
            # A message too short to be a mux frame ends the session first (1000).
            assert wsfuzz.close_code(frames[-1]) == (1000 if ends else want.close), (sequence, frames)
            assert peer.closed_within(ANSWER_WITHIN), "the agent kept the connection after its close"
            return
        marker = os.urandom(8).hex().encode()  # a websocket ping: it may come mid-message
        coderd.send(wsfuzz.Frame(wsfuzz.PING, marker, masked=False).wire())
        frames = peer.until(lambda f: f == (wsfuzz.PONG, True, marker), ANSWER_WITHIN)
        pongs = [p for opcode, _, p in frames if opcode == wsfuzz.PONG]
        assert pongs == want.pongs + [marker], (sequence, frames)
        expected = sorted(answers)
        seen = sorted((k, i) for k, i, _ in _mux(frames))
        deadline = time.monotonic() + ANSWER_WITHIN  # refused OPENs are answered from threads
        while seen != expected and time.monotonic() < deadline:
            frame = peer.frame(deadline)
            assert frame is not None and frame[0] != wsfuzz.CLOSE, (sequence, frame)
            seen = sorted(seen + [(k, i) for k, i, _ in _mux([frame])])
        assert seen == expected, (sequence, answers, seen)
    finally:
        coderd.hang_up()


@settings(max_examples=40, **SETTINGS)
@given(messages=wsfuzz.mux_messages(targets=AGENT_TARGETS))
def test_the_agents_mux_survives_anything(fake_coderd, messages):
    """Mux frames of any kind to any stream, OPENs of real and broken targets: the agent
    answers the next ping, ending the connection only for a message too short to be a
    frame; every stream it accepted is then reset by 'coderd'."""
    coderd, _ = fake_coderd
    _, ends = wsfuzz.mux_answers(messages)
    peer = coderd.current()
    coderd.send_mux(*messages)
    if ends:
        frames = peer.until(lambda f: f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
        assert frames and wsfuzz.close_code(frames[-1]) == 1000, (messages, frames)
        _mux(frames)
        assert peer.closed_within(ANSWER_WITHIN)
        coderd.hang_up()
        return
    got = _mux(_ping(coderd))
    opened = {i for k, i, _ in got if k in (wsfuzz.ACCEPT, wsfuzz.DATA)}
    opened |= {struct.unpack_from("!I", m, 1)[0] for m in messages if len(m) >= 5 and m[0] == wsfuzz.OPEN}
    coderd.send_mux(*(wsfuzz.mux_frame(wsfuzz.RESET, i, b"fuzz example over") for i in sorted(opened)))


def test_afterwards_the_agent_holds_nothing_and_serves_streams(fake_coderd):
    """Runs after the fuzzing: the agent's only TCP connection is its relay, and a stream
    opened as coderd opens one is served."""
    coderd, agent = fake_coderd
    peer = coderd.current()
    _ping(coderd)
    held = wsfuzz.settled(lambda: wsfuzz.tcp_connections(agent.proc.pid),
                          wsfuzz.tcp_connections(agent.proc.pid, coderd.port), within=10)
    assert held == wsfuzz.tcp_connections(agent.proc.pid, coderd.port) and len(held) == 1, held
    coderd.send_mux(wsfuzz.mux_frame(wsfuzz.OPEN, 1001, b"listening-ports"))
    frames = _mux(peer.until(lambda f: f[2][:5] == wsfuzz.mux_frame(wsfuzz.FIN, 1001), ANSWER_WITHIN))
    kinds = [k for k, i, _ in frames if i == 1001]
    assert kinds[0] == wsfuzz.ACCEPT and kinds[-1] == wsfuzz.FIN, frames
    body = b"".join(p for k, i, p in frames if i == 1001 and k == wsfuzz.DATA)
    assert isinstance(json.loads(body)["ports"], list)
    coderd.send_mux(wsfuzz.mux_frame(wsfuzz.RESET, 1001, b"done"))
    assert "Traceback" not in agent.log.read_text(errors="replace"), agent.log.read_text()[-3000:]
