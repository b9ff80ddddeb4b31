"""Fuzzing coderd's websocket and mux framing (docs/security.md, "Websocket and mux
framing"): frames built from the ways RFC 6455 can be broken (``tests/kit/wsfuzz.py``),
sent to a real coderd on 127.0.0.1 on both of its websocket readers, and mux frames
sent as a hostile agent.

- ``connect`` streams, whose frames ``appliance.wsframes`` reads (to a TCP echo
  server inside the workspace);
- the app proxy's websockets, read by gevent-websocket as ``server.adapters.gevent_websocket``
  adapts it (to a websocket echo app);
- the agent's own connection, ``/workspaceagents/me/relay``, where coderd reads
  ``appliance.mux`` frames from whatever the workspace's owner runs as an agent.

Whatever arrives, coderd does what ``wsfuzz.expected`` says RFC 6455 asks: it
answers the next ping when the frames were right (having passed every message
on), closes at once with the code that says why when they were not (1002, 1007,
1009; the peer's own code for its close), and closes once the client's side ends
when they were cut short. Never a 5xx, never a hang. Afterwards it holds no
connection (``/proc``), no stream to the agent, and answers as before.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from agent import relay as agent_relay
from appliance import wsframes

from tests.kit import rawhttp, wsfuzz
from tests.kit.agent import workspace_with_agent
from tests.kit.coderd import create_first_user, running_coderd
from tests.kit.relay import wait_connected

EXAMPLES = 120
ANSWER_WITHIN = 5.0
SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Deployment:
    def __init__(self, coderd, owner, workspace, session_agent_id, session, hostile, echo_port,
                 ws_app_port):
        self.coderd, self.owner, self.workspace = coderd, owner, workspace
        self.session = session  # the real agent's side of its connection, in this process
        self.agent_id = session_agent_id
        # another agent's token and ID: the fuzzer is that agent
        self.hostile_token, self.hostile_id = str(hostile.token), hostile.id
        self.echo_port, self.ws_app_port = echo_port, ws_app_port
        self.port = int(coderd.url.rsplit(":", 1)[1])
        self.auth = [("Coder-Session-Token", owner.token)]
        self.connect_path = f"/api/v2/users/me/workspace/{workspace}/connect?target=tcp:{echo_port}"
        self.app_path = f"/@admin/{workspace}/port/{ws_app_port}/"

    def held(self) -> list:
        return wsfuzz.tcp_connections(self.coderd.proc.pid, self.port)


@pytest.fixture(scope="module")
def deployment(pg_server, pg_template, tmp_path_factory, echo_server, websocket_echo_app):
    with running_coderd(pg_server, pg_template) as coderd:
        owner, _ = create_first_user(coderd)
        ws, row = workspace_with_agent(owner, coderd.dsn)
        _, hostile = workspace_with_agent(owner, coderd.dsn)
        server = agent_relay.StreamServer(host_key_path=tmp_path_factory.mktemp("agent") / "host_key")
        session = agent_relay.serve_session(
            wsframes.client_stream(agent_relay.connect(coderd.url, str(row.token))), server)
        threading.Thread(target=session.serve, daemon=True).start()
        try:
            wait_connected(owner, row.id)
            d = Deployment(coderd, owner, ws.name, row.id, session, hostile, echo_server,
                           websocket_echo_app)
            d.baseline = sorted(d.held())  # the real agent's connection
            yield d
        finally:
            session.close()
            server.close()


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:  # coderd closed first: what it sent is still there to read
        pass


def _shut(sock: socket.socket) -> None:
    """Shut the client's side (coderd may have closed the connection already)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _run(d: Deployment, path: str, sequence: list[wsfuzz.Frame], echoed) -> None:
    """Send ``sequence`` on a new websocket of ``path`` and hold coderd to the answer
    ``wsfuzz.expected`` gives; ``echoed(frames)`` is what the echo behind it sent back."""
    want = wsfuzz.expected(sequence)
    status, sock, rest = wsfuzz.upgrade(d.coderd.url, path, d.auth)
    with sock:
        assert status == 101, (status, rest[:300])
        peer = wsfuzz.Peer(sock, rest)
        _send(sock, b"".join(frame.wire() for frame in sequence))
        if want.cut:
            _shut(sock)
            assert peer.closed_within(ANSWER_WITHIN), f"coderd kept a cut-off websocket: {sequence}"
            return
        if want.close is not None:
            frames = peer.until(lambda f: f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
            assert frames and frames[-1][0] == wsfuzz.CLOSE, (sequence, want, frames)
            assert wsfuzz.close_code(frames[-1]) == want.close, (sequence, want, frames)
            _shut(sock)
            assert peer.closed_within(ANSWER_WITHIN), "coderd kept the connection after its close"
            return
        marker = os.urandom(8).hex().encode()
        _send(sock, wsfuzz.Frame(wsfuzz.PING, marker).wire())
        frames = peer.until(lambda f: f == (wsfuzz.PONG, True, marker), ANSWER_WITHIN)
        pongs = [payload for opcode, _, payload in frames if opcode == wsfuzz.PONG]
        assert pongs == want.pongs + [marker], (sequence, frames)
        data = [(opcode, payload) for opcode, _, payload in frames if opcode in (wsfuzz.TEXT, wsfuzz.BINARY)]
        while not echoed(data, want.messages):  # the echo may come after the pong
            frame = peer.frame(time.monotonic() + ANSWER_WITHIN)
            assert frame is not None and frame[0] != wsfuzz.CLOSE, (sequence, want, data, frame)
            data.append((frame[0], frame[2]))
        _send(sock, wsfuzz.Frame(wsfuzz.CLOSE, wsfuzz.close_payload(1000)).wire())
        closing = peer.until(lambda f: f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
        assert wsfuzz.close_code(closing[-1]) == 1000, closing


def _bytes_echoed(data, messages) -> bool:
    """A TCP echo: the messages' bytes, in order, in any split."""
    got, sent = b"".join(p for _, p in data), b"".join(p for _, p in messages)
    assert sent.startswith(got), (got, sent)
    return got == sent


def _messages_echoed(data, messages) -> bool:
    """A websocket echo app: each message back, text as text."""
    assert data == messages[:len(data)], (data, messages)
    return len(data) == len(messages)


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(sequence=wsfuzz.frames())
def test_connect_streams_follow_rfc6455(deployment, sequence):
    """``appliance.wsframes`` on coderd's side of a client's stream."""
    _run(deployment, deployment.connect_path, sequence, _bytes_echoed)


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(sequence=wsfuzz.frames())
def test_app_websockets_follow_rfc6455(deployment, sequence):
    """gevent-websocket, as ``server.adapters.gevent_websocket`` adapts it, on a browser's app websocket."""
    _run(deployment, deployment.app_path, sequence, _messages_echoed)


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(messages=wsfuzz.mux_messages())
def test_a_hostile_agents_mux_frames(deployment, messages):
    """Frames of any kind, to any stream, some too short to be frames, as the agent."""
    d = deployment
    answers, ends = wsfuzz.mux_answers(messages)
    if ends:  # what follows would be unread when coderd closes: its close then lost to a reset
        messages = messages[:next(i for i, m in enumerate(messages) if len(m) < 5) + 1]
    status, sock, rest = wsfuzz.upgrade(d.coderd.url, "/api/v2/workspaceagents/me/relay",
                                        [("Coder-Session-Token", d.hostile_token)])
    with sock:
        assert status == 101, (status, rest[:300])
        peer = wsfuzz.Peer(sock, rest)
        marker = os.urandom(8)
        _send(sock, b"".join(wsfuzz.Frame(wsfuzz.BINARY, m).wire() for m in messages)
              + wsfuzz.Frame(wsfuzz.BINARY, wsfuzz.mux_frame(wsfuzz.MUX_PING, 0, marker)).wire())
        frames = peer.until(lambda f: f[0] == wsfuzz.CLOSE
                            or f[2] == wsfuzz.mux_frame(wsfuzz.MUX_PONG, 0, marker), ANSWER_WITHIN)
        got = [tuple(int.from_bytes(p[i:j], "big") for i, j in ((0, 1), (1, 5)))
               for opcode, _, p in frames if opcode == wsfuzz.BINARY]
        got = [a for a in got if a != (wsfuzz.MUX_PING, 0)]  # coderd's keepalive
        if ends:
            assert frames and frames[-1][0] == wsfuzz.CLOSE, (messages, frames)
            assert got == answers, (messages, got)
            _shut(sock)
            assert peer.closed_within(ANSWER_WITHIN)
        else:
            assert got == answers + [(wsfuzz.MUX_PONG, 0)], (messages, got)


class HostileAgent:
    """The fuzzer as agent B, on a relay connection of its own."""

    def __init__(self, d: Deployment):
        status, self.sock, rest = wsfuzz.upgrade(d.coderd.url, "/api/v2/workspaceagents/me/relay",
                                                 [("Coder-Session-Token", d.hostile_token)])
        assert status == 101, (status, rest[:300])
        self.peer = wsfuzz.Peer(self.sock, rest)
        self.send(wsfuzz.MUX_PING, 0, b"ready")  # answered once coderd holds the agent
        self.frames(lambda f: f == (wsfuzz.MUX_PONG, 0, b"ready"))

    def send(self, kind: int, stream_id: int, payload: bytes = b"") -> None:
        _send(self.sock, wsfuzz.Frame(wsfuzz.BINARY, wsfuzz.mux_frame(kind, stream_id, payload)).wire())

    def frames(self, until, within: float = ANSWER_WITHIN) -> list[tuple[int, int, bytes]]:
        """coderd's mux frames (but its keepalive pings) until ``until(frame)``."""
        out = []
        deadline = time.monotonic() + within
        while True:
            frame = self.peer.frame(deadline)
            assert frame is not None and frame[0] == wsfuzz.BINARY, frame
            kind, stream_id = int(frame[2][0]), int.from_bytes(frame[2][1:5], "big")
            if (kind, stream_id) != (wsfuzz.MUX_PING, 0):
                out.append((kind, stream_id, frame[2][5:]))
                if until(out[-1]):
                    return out


@settings(max_examples=EXAMPLES // 2, **SETTINGS)
@given(events=wsfuzz.stream_events())
def test_a_hostile_agent_breaking_a_streams_rules(deployment, events):
    """A client's ``Upgrade: tcp`` stream to agent B, which accepts it and then sends
    anything about it: data (some over MAX_PAYLOAD), FIN, credits of any size or
    length, RESET, an OPEN of it, unknown kinds. The client reads exactly the data
    before the stream ended, then its end; a stream that did not end still carries
    data; coderd answers as ``wsfuzz.stream_outcome`` says."""
    d = deployment
    agent = HostileAgent(d)
    with agent.sock:
        _break_a_stream(d, agent, events)


def _break_a_stream(d: Deployment, agent: HostileAgent, events) -> None:
    want = wsfuzz.stream_outcome(events)
    client = rawhttp.connect(d.coderd.url, ANSWER_WITHIN)
    with client:
        client.sendall(rawhttp.request("GET", f"/api/v2/workspaceagents/{d.hostile_id}/connect?target=tcp:9",
                                       [("Connection", "Upgrade"), ("Upgrade", "tcp"), *d.auth]))
        (_, stream_id, target), = agent.frames(lambda f: f[0] == wsfuzz.OPEN)
        assert target == b"tcp:9"
        agent.send(wsfuzz.ACCEPT, stream_id)
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        for kind, payload in events:
            agent.send(kind, stream_id, payload)
        marker = os.urandom(8)
        agent.send(wsfuzz.MUX_PING, 0, marker)
        answers = agent.frames(lambda f: f == (wsfuzz.MUX_PONG, 0, marker))[:-1]
        assert [(k, i) for k, i, _ in answers] == [(k, stream_id if k == wsfuzz.RESET else 0)
                                                  for k in want.answers], (events, answers)
        got = b""
        client.settimeout(ANSWER_WITHIN)
        while len(got) < len(want.data):
            chunk = client.recv(65536)
            assert chunk, (events, got)
            got += chunk
        assert got == want.data, events
        if want.ended:
            assert rawhttp.is_closed(client, ANSWER_WITHIN), events
        else:  # still carries data
            agent.send(wsfuzz.DATA, stream_id, b"still there")
            assert client.recv(65536) == b"still there", events
    if not want.ended:  # the client's end is passed on (a half-close, as far as coderd knows)
        assert agent.frames(lambda f: f[:2] == (wsfuzz.FIN, stream_id))
    agent.send(wsfuzz.RESET, stream_id, b"done")  # as the agent's side ends: nothing left held


_letters = st.text("abcdefghijklmnopqrstuvwxyz ", max_size=12)
_sizes = st.one_of(st.integers(0, 300), st.sampled_from([-1, 65535, 65536, 2**40]), st.just("80"),
                   st.just(1.5), st.just(None), st.just(True))
# Coder's terminal messages, right and wrong: (the JSON text, whether the agent takes it)
_pty_pieces = st.one_of(
    st.builds(lambda d: (json.dumps({"data": d}), True), _letters),
    st.builds(lambda w, h: (json.dumps({"width": w, "height": h}),
                            all(n is None or (type(n) is int and 0 <= n < 65536) for n in (w, h))),
              _sizes, _sizes),
    st.sampled_from([("x", False), ("[1]", False), ("5", False), ('"s"', False), ("}", False),
                     ('{"data": 5}', False), ('{"data": ["a"]}', False), ("{,}", False),
                     ('{"data": "a", "data": "b"}', True), ("{}", True), (" \n ", True)]))


@settings(max_examples=EXAMPLES // 3, **SETTINGS)
@given(pieces=st.lists(_pty_pieces, max_size=5), cuts=st.lists(st.integers(1, 40), max_size=4))
def test_terminal_messages(deployment, pieces, cuts):
    """Coder's reconnecting-terminal messages, right and wrong, cut anywhere into websocket
    messages, to a terminal running ``cat``: the agent takes them in order (the marker
    after them is echoed) or, at the first wrong one, ends the stream: coderd closes the
    websocket. Never a hang."""
    _terminal(deployment, pieces, cuts)


@pytest.mark.parametrize("pieces", [
    [("x", False)],  # kept for ever, and everything after it: no echo, no close
    [('{"width": 70000, "height": 1}', False)],  # struct.error: a traceback in the agent
    [('{"width": "80", "height": 24}', False)],
    [('{"data": 5}', False)],  # typed "5"
], ids=["not-json", "size-over-65535", "size-a-string", "data-a-number"])
def test_terminal_messages_the_fuzzing_found(deployment, pieces, caplog):
    _terminal(deployment, pieces, [])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # the agent's


def _terminal(d: Deployment, pieces: list[tuple[str, bool]], cuts: list[int]) -> None:
    marker = "m" + os.urandom(6).hex()
    text = "".join(t for t, _ in pieces) + json.dumps({"data": marker + "\n"})
    taken = all(ok for _, ok in pieces)
    messages, at = [], 0
    for cut in cuts:  # websocket messages need not end where JSON messages do
        messages.append(text[at:at + cut])
        at += cut
    messages.append(text[at:])
    status, sock, rest = wsfuzz.upgrade(d.coderd.url, f"/api/v2/workspaceagents/{d.agent_id}/pty?"
                                        f"reconnect={uuid.uuid4()}&command=cat", d.auth)
    with sock:
        assert status == 101, (status, rest[:300])
        peer = wsfuzz.Peer(sock, rest)
        _send(sock, b"".join(wsfuzz.Frame(wsfuzz.TEXT, m.encode()).wire() for m in messages if m))
        if taken:
            output = b""
            while marker.encode() + b"\r\n" not in output.replace(marker.encode() + b"\r\n", b"", 1):
                frame = peer.frame(time.monotonic() + ANSWER_WITHIN)  # its echo, then cat's
                assert frame is not None and frame[0] != wsfuzz.CLOSE, (text, output)
                output += frame[2]
        else:
            frames = peer.until(lambda f: f[0] == wsfuzz.CLOSE, ANSWER_WITHIN)
            assert frames and frames[-1][0] == wsfuzz.CLOSE, (text, frames)


F = wsfuzz.Frame
# Examples the fuzzing found, each answered wrongly by one of coderd's readers or both.
FOUND = {
    "empty close": [F(wsfuzz.CLOSE)],  # gevent-websocket: TypeError, no close
    "close reason cut mid-character": [F(wsfuzz.CLOSE, wsfuzz.close_payload(1000, b"\xc3"))],  # echoed
    "close code 1005": [F(wsfuzz.CLOSE, wsfuzz.close_payload(1005))],  # wsframes echoed it
    "control frame in 16-bit form": [F(wsfuzz.PING, b"", form=16)],  # 1009, or read as a ping
    "unmasked frame": [F(wsfuzz.BINARY, b"x", masked=False)],  # read as a client's
    "text not UTF-8": [F(wsfuzz.TEXT, b"a\x80b")],  # wsframes passed it on
    "huge ping": [F(wsfuzz.PING, b"", claim=1 << 40, form=64)],  # gevent-websocket: 1009
}


@pytest.mark.parametrize("reader", ["connect", "app"])
@pytest.mark.parametrize("name", FOUND)
def test_what_the_fuzzing_found(deployment, reader, name):
    if reader == "connect":
        _run(deployment, deployment.connect_path, FOUND[name], _bytes_echoed)
    else:
        _run(deployment, deployment.app_path, FOUND[name], _messages_echoed)
    assert "Traceback" not in deployment.coderd.log(), deployment.coderd.log()[-3000:]


def test_after_the_fuzzing_nothing_is_held(deployment):
    """Runs after the fuzzing (tests run in file order): coderd holds no more connections
    than before it (the real agent's), no stream to the agent, and answers as before.
    Fewer is fine: a kept-alive connection of the baseline may have closed since."""
    d = deployment
    extra = wsfuzz.settled(lambda: sorted((Counter(d.held()) - Counter(d.baseline)).elements()), [])
    assert extra == [], (extra, d.baseline)
    assert wsfuzz.settled(lambda: d.session.streams, 0) == 0, "coderd still holds streams to the agent"
    me = requests.get(d.coderd.url + "/api/v2/users/me", headers=dict(d.auth), timeout=10)
    assert me.status_code == 200
    wait_connected(d.owner, next(a.id for r in d.owner.workspace_by_owner_and_name(
        "me", d.workspace).latest_build.resources for a in r.agents))
    assert "Traceback" not in d.coderd.log(), d.coderd.log()[-3000:]

