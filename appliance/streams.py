"""One interface for every connection a relayed stream passes through, and one pump.

A relayed stream crosses several kinds of connection: a socket, a multiplexed
stream (``appliance.mux``), TLS over a socket (``server.relay.tlsstream``), a
connection taken over after ``Upgrade: tcp``, an SSH channel, a websocket. Each
is a ``Stream``: the calls a connected socket answers, so a socket is one as it
is. ``pump`` carries the bytes between two of them, both ways, for as long as
either side has something to say.

A websocket is a ``MessageStream``: ``recv`` gives one message (a ``Message``,
``TextMessage`` for text, an empty one included), ``sendall`` sends one. It
cannot half-close: its close ends both directions, and the pump ends the other
side with it; a failure with a close code (``wsframes.ProtocolError``'s 1009
for a message too big) reaches a websocket on the other side as its close.
"""
from __future__ import annotations

import contextlib
import socket
import threading
from typing import Protocol

PIECE = 256 * 1024  # what the pump asks a stream for at a time


class Stream(Protocol):
    """A connected byte stream, used as a socket is."""

    def recv(self, n: int) -> bytes:
        """Up to ``n`` bytes, waiting for the first; b"" once the peer has ended its side."""

    def sendall(self, data: bytes) -> None: ...

    def shutdown(self, how: int) -> None:
        """``SHUT_WR``: nothing more will be sent (the peer's reads end); ``SHUT_RDWR``:
        abort both directions, waking a reader blocked in ``recv``."""

    def close(self) -> None: ...


class Message(bytes):
    """One binary websocket message."""
    text = False


class TextMessage(Message):
    """One text websocket message, as its UTF-8 bytes."""
    text = True


class MessageStream:
    """A websocket as a Stream (see the module); subclasses give ``recv``, ``sendall``
    and ``abort``."""

    def recv(self, n: int) -> bytes:
        """The next Message; b"" (not a Message) once the websocket is closed."""
        raise NotImplementedError

    def sendall(self, data: bytes) -> None:
        raise NotImplementedError

    def abort(self, error: OSError | None) -> None:
        """Close the websocket, with ``error.code`` when it has one (else 1000)."""
        raise NotImplementedError

    def shutdown(self, how: int) -> None:
        self.abort(None)  # no half-close: the end of sending is the end

    def close(self) -> None:
        self.abort(None)


def ended(data: bytes) -> bool:
    """Whether what ``recv`` gave is a stream's end: b"", not an empty Message."""
    return not data and not isinstance(data, Message)


def close_reason(error: OSError | None) -> tuple[int, bytes]:
    """The close code and reason that end a websocket because of ``error``: its own code
    (a protocol error the other side's websocket found), else 1000 (normal)."""
    code = getattr(error, "code", None)
    if not isinstance(code, int):
        return 1000, b""
    return code, f"the other side broke the protocol: {error}".encode()[:123]


def pump(a: Stream, b: Stream) -> None:
    """Copy both ways between ``a`` and ``b`` until both directions end, then close both.

    The end of one direction's data is passed on as a half-close, so protocols that
    send a request, shut down writing and read the answer work; with a websocket on
    either side it ends both. A failure either way aborts both.
    """
    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join()
    for s in (a, b):
        s.close()


def copy(src: Stream, dst: Stream) -> None:
    """One direction of ``pump``: ``src`` to ``dst`` until ``src`` ends, whose end is passed
    on (a half-close, or a websocket's close); a failure aborts both."""
    try:
        while not ended(data := src.recv(PIECE)):
            dst.sendall(data)
    except OSError as exc:  # mux.StreamError and wsframes.ProtocolError among them
        for s in (src, dst):
            _abort(s, exc)
        return
    if isinstance(src, MessageStream) or isinstance(dst, MessageStream):
        _abort(dst, None)
    else:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _abort(s: Stream, error: OSError | None) -> None:
    """End both directions of ``s``, waking the other direction's reader."""
    if isinstance(s, MessageStream):
        s.abort(error)
        return
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
