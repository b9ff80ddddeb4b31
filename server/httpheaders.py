"""A request's header block, read for gevent's pywsgi.

pywsgi reads headers with ``http.client.parse_headers``, which hands the block
to the ``email`` package's parser, a large share of what coderd spent on a
whole ``/users/me`` for the two or three headers of an API call
(docs/benchmarks.md, "coderd API"). Reading ``Name: value`` lines needs none of
that. A head's header lines total at most 64 KiB (as a typical proxy's buffers;
431 past that: ``HeadTooLarge``) in at most 100 lines, so a connection that
never finishes its head holds no more than that; a line that is not a header,
or whose name is not a token (space before the colon among them), makes the
request a 400, as RFC 9112 (section 5) asks of a server, and so does a folded
line (obsolete line folding), as RFC 9112 (5.2) allows: joined, folded lines
once grew a header to megabytes.

The block also decides where the body ends, so what a proxy in front of
coderd could read differently is refused (400, and pywsgi closes the
connection): a control character in a line (a bare CR, NUL; RFC 9110, 5.5),
a block cut off before its blank line, ``Transfer-Encoding`` other than one
``chunked`` or together with ``Content-Length`` (RFC 9112, 6.1, request
smuggling), and a ``Content-Length`` that is not one run of digits (Python's
``int()`` takes ``+1_0``) or is given twice.
"""
from __future__ import annotations

import re

MAX_HEAD = 64 * 1024  # the header lines, their CRLFs included
MAX_HEADERS = 100
MAX_LENGTH_DIGITS = 18  # a Content-Length below 10**18 bytes
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a field name (RFC 9110, section 5.1)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # in a line once its CRLF is off; HTAB passes
_DIGITS = re.compile(r"[0-9]{1,%d}" % MAX_LENGTH_DIGITS)
_FRAMING = ("transfer-encoding", "content-length")


class HeadTooLarge(ValueError):
    """The header lines passed MAX_HEAD: the connection's handler answers 431 and closes."""
    response = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                b"Content-Length: 0\r\n\r\n")


class RequestHeaders:
    """What pywsgi reads of its ``MessageClass``: ``status`` (a reason to answer 400,
    else empty), ``get``/``getheader`` (the first of a name, case-insensitively),
    ``headers`` (the lines, for the WSGI environ), ``typeheader``, and ``del``."""

    def __init__(self, rfile, *_):
        self.status = ""
        self._pairs: list[list[str]] = []
        self._first: dict[str, list[str]] = {}  # lower-case name -> its first pair
        left = MAX_HEAD
        for _n in range(MAX_HEADERS + 1):
            line = rfile.readline(left + 1)
            if line == b"\r\n" or line == b"\n":
                self.status = self._framing()
                return
            left -= len(line)
            if left < 0:
                raise HeadTooLarge(f"Request head over {MAX_HEAD} bytes")
            if not line.endswith(b"\n"):
                self.status = "Header block cut off before its blank line"
                return
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if _CONTROL.search(line):
                self.status = f"Control character in header line {line[:64]!r}"
                return
            text = line.decode("latin-1")
            if text[:1] in (" ", "\t"):
                self.status = "Folded header line (obsolete line folding)"
                return
            name, colon, value = text.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                self.status = f"Invalid header line {text[:64]!r}"
                return
            pair = [name, value.strip(" \t")]
            self._pairs.append(pair)
            self._first.setdefault(name.lower(), pair)
        self.status = f"More than {MAX_HEADERS} headers"

    def _framing(self) -> str:
        """Why the body's end is ambiguous, or empty."""
        if "transfer-encoding" not in self._first and "content-length" not in self._first:
            return ""
        values: dict[str, list[str]] = {name: [] for name in _FRAMING}
        for name, value in self._pairs:
            if name.lower() in values:
                values[name.lower()].append(value)
        encodings, lengths = values["transfer-encoding"], values["content-length"]
        if encodings and lengths:
            return "Both Transfer-Encoding and Content-Length"
        if len(encodings) > 1 or len(lengths) > 1:
            return "Transfer-Encoding or Content-Length given twice"
        if encodings and encodings[0].lower() != "chunked":
            return f"Unsupported Transfer-Encoding {encodings[0][:64]!r}"
        if lengths and not _DIGITS.fullmatch(lengths[0]):
            return f"Invalid Content-Length {lengths[0][:64]!r}"
        return ""

    def get(self, name: str, default: str | None = None) -> str | None:
        pair = self._first.get(name.lower())
        return default if pair is None else pair[1]

    getheader = get

    @property
    def headers(self):
        return [f"{key}: {value}\r\n" for key, value in self._pairs]

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self._pairs = [p for p in self._pairs if p[0].lower() != name]
        self._first.pop(name, None)
