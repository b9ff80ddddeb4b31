"""A request's header block, read for gevent's pywsgi.

pywsgi reads headers with ``http.client.parse_headers``, which hands the block
to the ``email`` package's parser: about 140,000 instructions for the two or
three headers of an API call, a ninth of what coderd spent on a whole
``/users/me`` (docs/benchmarks.md). Reading ``Name: value`` lines needs none of
that. The limits are http.client's (65,536 bytes a line, 100 lines); a line
that is not a header, or whose name is not a token (space before the colon
among them), makes the request a 400, as RFC 9112 (section 5) asks of a
server. Folded lines (obsolete line folding) join the header before them
with a space, as RFC 9112 allows.
"""
from __future__ import annotations

import re

MAX_LINE = 65536
MAX_HEADERS = 100
_END = (b"\r\n", b"\n", b"")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a field name (RFC 9110, section 5.1)


class RequestHeaders:
    """What pywsgi reads of its ``MessageClass``: ``status`` (a reason to answer 400,
    else empty), ``get``/``getheader`` (the first of a name, case-insensitively),
    ``headers`` (the lines, for the WSGI environ), ``typeheader``, and ``del``."""

    def __init__(self, rfile, *_):
        self.status = ""
        self._pairs: list[list[str]] = []
        self._first: dict[str, list[str]] = {}  # lower-case name -> its first pair
        for _n in range(MAX_HEADERS + 1):
            line = rfile.readline(MAX_LINE + 1)
            if line in _END:
                return
            if len(line) > MAX_LINE:
                self.status = "Line too long"
                return
            text = line.decode("latin-1").rstrip("\r\n")
            if text[:1] in (" ", "\t"):
                if not self._pairs:
                    self.status = "Folded line before any header"
                    return
                self._pairs[-1][1] += " " + text.strip()
                continue
            name, colon, value = text.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                self.status = f"Invalid header line {text[:64]!r}"
                return
            pair = [name, value.strip()]
            self._pairs.append(pair)
            self._first.setdefault(name.lower(), pair)
        self.status = f"More than {MAX_HEADERS} headers"

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
