"""Websocket (RFC 6455) and mux frames as an attacker writes them, what a correct peer
must answer to them, and the sockets a process holds: for the framing fuzz tests.

``Frame`` describes one websocket frame, lies included (reserved bits, a length
claimed in any of the three forms whatever the payload, a mask where none may
be); ``frames`` draws sequences of them with hypothesis. ``expected`` is the
reference reading of RFC 6455 that coderd's two websocket servers and the
agent's client must all follow: after these frames, the peer answers a ping,
or closes with a given code, or (the frames cut short) may wait for the rest.
``Peer`` reads what comes back. The mux side (``appliance/mux.py``) has its
own: ``mux_frame`` and ``mux_answers``.
"""
from __future__ import annotations

import base64
import codecs
import os
import socket
import struct
import time
from dataclasses import dataclass

from hypothesis import strategies as st

from tests.kit import rawhttp

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
MAX_MESSAGE = 4 * 1024 * 1024
PROTOCOL_ERROR, INVALID_TEXT, MESSAGE_TOO_BIG = 1002, 1007, 1009
OPEN, ACCEPT, DATA, FIN, RESET, WINDOW_UPDATE, MUX_PING, MUX_PONG = range(1, 9)


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0           # the three reserved bits, 0-7
    masked: bool = True
    claim: int | None = None  # the length the header states, when it lies
    form: int = 0          # 7, 16 or 64-bit length field; 0: the smallest that fits

    def wire(self, key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
        length, form = len(self.payload) if self.claim is None else self.claim, self.length_form
        first = (0x80 if self.fin else 0) | self.rsv << 4 | self.opcode
        mask_bit = 0x80 if self.masked else 0
        if form == 7:
            head = bytes((first, mask_bit | min(length, 125)))
        elif form == 16:
            head = bytes((first, mask_bit | 126)) + struct.pack("!H", length & 0xFFFF)
        else:
            head = bytes((first, mask_bit | 127)) + struct.pack("!Q", length)
        if not self.masked:
            return head + self.payload
        body = bytes(b ^ key[i % 4] for i, b in enumerate(self.payload))
        return head + key + body

    @property
    def length_form(self) -> int:
        length = len(self.payload) if self.claim is None else self.claim
        return self.form or (7 if length < 126 else 16 if length < 1 << 16 else 64)

    @property
    def stated(self) -> int:
        """The length the peer reads from the header."""
        length, form = len(self.payload) if self.claim is None else self.claim, self.length_form
        return min(length, 125) if form == 7 else length & 0xFFFF if form == 16 else length


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def valid_close_code(code: int) -> bool:
    """RFC 6455 section 7.4 with IANA's registry, written out here (not imported) so that
    the test holds the server to the standard rather than to itself."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


# -- hypothesis strategies ----------------------------------------------------------
_texts = st.one_of(st.text(max_size=40).map(str.encode),
                   st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"a\x80b",
                                    "é".encode()[:1], b"\xf4\x90\x80\x80"]))
_codes = st.one_of(st.sampled_from([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1009, 1011,
                                    1015, 1016, 1100, 2000, 2999, 3000, 4000, 4999, 5000, 0, 999,
                                    65535]), st.integers(0, 65535))


@st.composite
def frames(draw, masked: bool = True, max_frames: int = 6) -> list[Frame]:
    """Mostly well-formed frames, each of them possibly broken in one way, the last one
    possibly lying about its length."""
    out = []
    for _ in range(draw(st.integers(1, max_frames))):
        opcode = draw(st.sampled_from([TEXT, BINARY, CONT, PING, PONG, CLOSE, TEXT, BINARY, CONT,
                                       3, 7, 11, 15]))
        if opcode == CLOSE:
            payload = draw(st.one_of(st.just(b""), st.binary(max_size=1),
                                     st.builds(close_payload, _codes, _texts)))
        elif opcode == TEXT or opcode == CONT:
            payload = draw(_texts)
        else:
            payload = draw(st.binary(max_size=40))
        frame = Frame(opcode, payload, fin=draw(st.booleans()) if opcode in (TEXT, BINARY, CONT)
                      else draw(st.sampled_from([True, True, True, False])),
                      rsv=draw(st.sampled_from([0] * 12 + [1, 2, 4, 7])),
                      masked=draw(st.sampled_from([masked] * 12 + [not masked])),
                      form=draw(st.sampled_from([0] * 6 + [16, 64])))
        if opcode in (PING, PONG) and draw(st.integers(0, 9)) == 0:
            frame = Frame(opcode, b"p" * 126, masked=masked)
        out.append(frame)
    if draw(st.integers(0, 3)) == 0:  # the last one's header lies about the length
        last = out[-1]
        claim = draw(st.sampled_from([len(last.payload) + 1, 1000, 70_000, MAX_MESSAGE,
                                      MAX_MESSAGE + 1, 1 << 32, (1 << 63) - 1, 1 << 63,
                                      (1 << 64) - 1]))
        out[-1] = Frame(last.opcode, last.payload, last.fin, last.rsv, last.masked, claim,
                        64 if claim >= 1 << 16 else last.form)
    return out


# -- what a correct peer answers ------------------------------------------------------
@dataclass
class Expected:
    """``close``: the code the peer must close with at once (None: it must stay open and
    answer a ping, unless ``cut``: the frames end mid-frame, so it may wait for more).
    ``messages``: the data messages (opcode, payload) it must have read; ``pongs``: the
    ping payloads it must answer."""
    close: int | None
    messages: list[tuple[int, bytes]]
    pongs: list[bytes]
    cut: bool = False


def expected(sequence: list[Frame], *, server: bool = True, max_message: int = MAX_MESSAGE) -> Expected:
    messages, pongs = [], []
    message_opcode, parts, decoder = None, [], None
    for frame in sequence:
        stated = frame.stated
        control = frame.opcode >= 8
        if (frame.rsv or frame.masked != server or (control and (frame.length_form != 7 or not frame.fin))
                or (frame.length_form == 64 and stated >> 63)):
            return Expected(PROTOCOL_ERROR, messages, pongs)
        if stated > max_message:
            return Expected(MESSAGE_TOO_BIG, messages, pongs)
        if stated > len(frame.payload):  # waits for the rest of the payload
            return Expected(None, messages, pongs, cut=True)
        payload = frame.payload[:stated]
        if stated < len(frame.payload):  # the rest is read as the next frame's bytes: unknown
            return Expected(None, messages, pongs, cut=True)
        if frame.opcode == CLOSE:
            if not payload:
                return Expected(1000, messages, pongs)
            code = int.from_bytes(payload[:2], "big")
            if len(payload) == 1 or not valid_close_code(code):
                return Expected(PROTOCOL_ERROR, messages, pongs)
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                return Expected(INVALID_TEXT, messages, pongs)
            return Expected(code, messages, pongs)
        if frame.opcode == PING:
            pongs.append(payload)
            continue
        if frame.opcode == PONG:
            continue
        if frame.opcode not in (CONT, TEXT, BINARY) or (frame.opcode == CONT) != (message_opcode is not None):
            return Expected(PROTOCOL_ERROR, messages, pongs)
        if frame.opcode != CONT:
            message_opcode, parts = frame.opcode, []
            decoder = codecs.getincrementaldecoder("utf-8")() if frame.opcode == TEXT else None
        parts.append(payload)
        if sum(map(len, parts)) > max_message:
            return Expected(MESSAGE_TOO_BIG, messages, pongs)
        if decoder is not None:
            try:
                decoder.decode(payload, frame.fin)
            except UnicodeDecodeError:
                return Expected(INVALID_TEXT, messages, pongs)
        if frame.fin:
            messages.append((message_opcode, b"".join(parts)))
            message_opcode = None
    return Expected(None, messages, pongs)


# -- reading what the peer sends ------------------------------------------------------
class Peer:
    """One websocket connection seen from the test: frames it receives, parsed strictly
    (a frame that breaks RFC 6455 fails the test), with a deadline on every read."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"", *, masked: bool = False):
        self.sock = sock
        self.buf = bytearray(buffered)
        self.masked = masked  # whether the frames it sends must be masked (it is a client)
        self.eof = False

    def _fill(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within the deadline ({len(self.buf)} bytes buffered)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no answer within the deadline") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
        return True

    def frame(self, deadline: float) -> tuple[int, bool, bytes] | None:
        """(opcode, fin, payload) of the next frame; None at end of file."""
        if not self._fill(2, deadline):
            return None
        first, second = self.buf[0], self.buf[1]
        assert not first & 0x70, f"reserved bits from the peer: {bytes(self.buf[:2])!r}"
        assert bool(second & 0x80) == self.masked, "masking the wrong way"
        length, at = second & 0x7F, 2
        if length == 126:
            assert self._fill(4, deadline)
            length, at = struct.unpack_from("!H", self.buf, 2)[0], 4
        elif length == 127:
            assert self._fill(10, deadline)
            length, at = struct.unpack_from("!Q", self.buf, 2)[0], 10
        key_at, at = at, at + (4 if self.masked else 0)
        assert self._fill(at + length, deadline), "connection ended mid-frame"
        payload = bytes(self.buf[at:at + length])
        if self.masked:
            key = self.buf[key_at:key_at + 4]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        del self.buf[:at + length]
        return first & 0x0F, bool(first & 0x80), payload

    def until(self, stop, within: float) -> list[tuple[int, bool, bytes]]:
        """Frames until ``stop(frame)`` is true or the connection ends (TimeoutError past
        ``within`` seconds)."""
        deadline = time.monotonic() + within
        seen = []
        while (frame := self.frame(deadline)) is not None:
            seen.append(frame)
            if stop(frame):
                break
        return seen

    def closed_within(self, within: float) -> bool:
        """Whether the peer ends the connection within ``within`` seconds (frames dropped)."""
        try:
            self.until(lambda f: False, within)
        except TimeoutError:
            return False
        return True


def close_code(frame: tuple[int, bool, bytes]) -> int | None:
    opcode, _, payload = frame
    if opcode != CLOSE:
        return None
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


def upgrade(url: str, path: str, headers: list[tuple[str, str]] = (), timeout: float = 10.0
            ) -> tuple[int, socket.socket, bytes]:
    """A websocket upgrade of ``path`` on a raw socket: the status, the socket, and the
    bytes read past the response's head."""
    sock = rawhttp.connect(url, timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(rawhttp.request("GET", path, [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                               ("Sec-WebSocket-Version", "13"),
                                               ("Sec-WebSocket-Key", key), *headers]))
    head, rest = rawhttp.read_head(sock)
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
    return status, sock, rest


# -- the mux protocol ---------------------------------------------------------------------
def mux_frame(kind: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack("!BI", kind, stream_id) + payload


TARGETS = (b"ssh", b"tcp:1", b"tcp:70000", b"tcp:x:1", b"pty:x:1:1", b"pty::a:b", b"listening-ports",
           b"\xff\xfe", b"x" * 300)


@st.composite
def mux_messages(draw, max_messages: int = 8, targets: tuple[bytes, ...] = TARGETS) -> list[bytes]:
    """Mux frames of every kind (and none), to any stream, some too short to be one."""
    out = []
    for _ in range(draw(st.integers(1, max_messages))):
        if draw(st.integers(0, 15)) == 0:
            out.append(draw(st.binary(max_size=4)))
            continue
        kind = draw(st.one_of(st.integers(0, 9), st.integers(0, 255)))
        stream_id = draw(st.one_of(st.integers(0, 4), st.sampled_from([2**31, 2**32 - 1])))
        payload = draw(st.one_of(st.binary(max_size=24), st.sampled_from(
            [*targets, struct.pack("!I", 2**32 - 1), struct.pack("!I", 0), b"x" * 300_000])))
        out.append(mux_frame(kind, stream_id, payload))
    return out


def mux_answers(messages: list[bytes]) -> tuple[list[tuple[int, int]], bool]:
    """What coderd's side of an agent's connection, holding no stream of it, answers: the
    (kind, stream id) of each frame it sends back in order (PONG to a ping, RESET to an
    OPEN, which it never accepts from an agent, and to anything else but RESET, FIN and
    WINDOW_UPDATE for a stream it does not know), and whether it ends the connection (a
    message too short to be a frame)."""
    answers = []
    for message in messages:
        if len(message) < 5:
            return answers, True
        kind, stream_id = struct.unpack_from("!BI", message)
        if kind == MUX_PING:
            answers.append((MUX_PONG, 0))
        elif kind not in (RESET, FIN, WINDOW_UPDATE, MUX_PONG):
            answers.append((RESET, stream_id))
    return answers, False


MAX_PAYLOAD = 256 * 1024


@st.composite
def stream_events(draw, max_events: int = 8) -> list[tuple[int, bytes]]:
    """What an agent may send about one stream coderd opened to it: (kind, payload)."""
    kinds = st.sampled_from([DATA, DATA, DATA, FIN, WINDOW_UPDATE, WINDOW_UPDATE, ACCEPT, RESET,
                             OPEN, MUX_PING, MUX_PONG, 0, 9, 200])
    events = []
    for _ in range(draw(st.integers(1, max_events))):
        kind = draw(kinds)
        if kind == DATA:
            payload = draw(st.one_of(st.binary(min_size=1, max_size=64),
                                     st.just(b"d" * (MAX_PAYLOAD + 1))))
        elif kind == WINDOW_UPDATE:
            payload = draw(st.one_of(st.integers(0, 2**32 - 1).map(lambda n: struct.pack("!I", n)),
                                     st.binary(max_size=8)))
        else:
            payload = draw(st.binary(max_size=8))
        events.append((kind, payload))
    return events


@dataclass
class StreamOutcome:
    data: bytes          # what the client reads
    ended: bool          # whether the client's reading then ends (FIN or reset)
    answers: list[int]   # the kinds of coderd's answers about the stream, in order


def stream_outcome(events: list[tuple[int, bytes]]) -> StreamOutcome:
    """What coderd does with an agent's frames about one of its streams
    (``appliance/mux.py``, ``Session._dispatch``): a frame that breaks the stream's rules
    (over MAX_PAYLOAD, data after FIN, an unknown kind, a credit that is not 4 bytes)
    resets it; an OPEN of it is refused, the stream kept."""
    data, eof, alive, answers = b"", False, True, []
    for kind, payload in events:
        if kind == MUX_PING:
            answers.append(MUX_PONG)
        elif kind == MUX_PONG:
            continue
        elif kind == OPEN:
            answers.append(RESET)
        elif not alive:
            if kind not in (RESET, FIN, WINDOW_UPDATE):
                answers.append(RESET)
        elif kind == RESET:
            alive = False
        elif (len(payload) > MAX_PAYLOAD or (kind == DATA and eof)
              or (kind == WINDOW_UPDATE and len(payload) != 4)
              or kind not in (DATA, FIN, WINDOW_UPDATE, ACCEPT)):
            answers.append(RESET)
            alive = False
        elif kind == DATA:
            data += payload
        elif kind == FIN:
            eof = True
    return StreamOutcome(data, eof or not alive, answers)


# -- what a process holds ----------------------------------------------------------------
def tcp_connections(pid: int, port: int | None = None) -> list[tuple[int, int, str]]:
    """The TCP connections (local port, remote port, state) whose sockets ``pid`` holds,
    from /proc: listening sockets left out, ``port`` the local or remote port if given."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                if inode not in inodes or state == "0A":  # 0A: LISTEN
                    continue
                ports = int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)
                if port is None or port in ports:
                    held.append((*ports, state))
    return held


def settled(measure, expected_value, within: float = 5.0):
    """``measure()`` once it equals ``expected_value``, or its last value after ``within``
    seconds (connections take a moment to close)."""
    deadline = time.monotonic() + within
    while (value := measure()) != expected_value and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used (user and system), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
