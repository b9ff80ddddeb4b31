"""What crosses the workspace app proxy: the request an app receives, the answer a browser gets.

On the way in, an app never sees its caller's coderd credentials: the
``coder_session_token`` query parameter and the app ticket's exchange
parameter are taken out of the query (and out of a ``Referer``'s), the
``Coder-Session-Token`` header is dropped, coderd's cookies are taken out of
the ``Cookie`` header whatever its form (``;`` with or without spaces, a
comma-joined pair, quotes, any case of the name), and ``Authorization`` is
dropped when it carries a token of coderd's form (``ID-SECRET``); any other
``Authorization`` is the app's own and passes.

The target is the request line's own bytes, not the decoded path Flask
routes on, so ``%3f``, ``%2f`` and ``%20`` reach the app as sent. Dot
segments, plain or percent-encoded, are resolved (RFC 3986, 5.2.4) inside the
app's part of the path; one that would climb above it, or a segment that
hides one from this check but not from a lenient app (``..%2f``, ``..%5c``,
``..;``, ``..%00``, ``..%3f``, ``%252e%252e``), is refused with 400.

On the way out, an app cannot set coderd's cookies (a page on coderd's
origin could otherwise plant a session: login CSRF), and, as in Coder, its
CORS headers are dropped and path apps' answers say
``X-Content-Type-Options: nosniff``.
"""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from ..httpmw import SESSION_COOKIE, SESSION_HEADER
from ..security import split_token

# Coder's names: the query parameter that carries an app ticket to the app's host.
EXCHANGE_PARAM = "coder_application_connect_api_key_35e783"
SUBDOMAIN_COOKIE = "coder_subdomain_app_session_token"
# Every cookie coderd sets or reads (Coder's list), lower case, also with the __Host- prefix
# they take over TLS; the subdomain one is a prefix.
COOKIES = {SESSION_COOKIE, "coder_path_app_session_token", "coder_signed_app_token",
           "oauth_state", "oauth_redirect"}
QUERY_PARAMS = {SESSION_COOKIE, EXCHANGE_PARAM}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
CORS = {"access-control-allow-origin", "access-control-allow-credentials",
        "access-control-allow-methods", "access-control-allow-headers"}
CORS_VARY = {"origin", "access-control-request-method", "access-control-request-headers"}
# What cannot stand in a request line as it is: escaped, all else passes as sent.
_UNSAFE = re.compile(r"[^\x21-\x7e]|#")
# What a lenient app may cut a decoded segment at, leaving a bare ".." (``..%00``, ``..%3f``).
_HIDDEN_SEPARATOR = re.compile(r"[/\\;?#\x00-\x20\x7f]")


class PathRefused(ValueError):
    """The path would leave the app's base path, or hides a segment that would."""


def raw_target(environ: dict) -> tuple[str, str]:
    """The request line's path and query, as the client sent them (``RAW_URI``, as coderd's
    handler and gunicorn say it); rebuilt from the decoded path otherwise."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        target = quote(environ.get("PATH_INFO", ""), safe="/!$&'()*+,;=:@~", encoding="latin-1")
        target += "?" + environ.get("QUERY_STRING", "") if environ.get("QUERY_STRING") else ""
    if not target.startswith("/"):  # absolute-form (a proxy's request line)
        parts = urlsplit(target)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    path, _, query = target.partition("?")
    return path, query


def _decoded(segment: str) -> str:
    """A segment decoded until it stops changing: what the most lenient app would read."""
    for _ in range(4):
        once = unquote(segment, encoding="latin-1")
        if once == segment:
            break
        segment = once
    return segment


def upstream_path(base: str, rest: str) -> str:
    """``base`` (the app URL's path) joined with ``rest`` (the raw path below the app's
    prefix), its dot segments resolved; PathRefused for what would climb above ``base``."""
    out: list[str] = []
    segments = rest.split("/")
    for i, segment in enumerate(segments):
        dots = unquote(segment, encoding="latin-1")
        if dots in (".", ".."):
            if dots == "..":
                if not out:
                    raise PathRefused(f"{rest!r} climbs out of the app's path")
                out.pop()
            if i == len(segments) - 1:
                out.append("")  # "a/.." is "a/"'s parent as a folder: keep the slash
            continue
        if ".." in _HIDDEN_SEPARATOR.split(_decoded(segment)):
            raise PathRefused(f"{segment!r} hides a '..' segment")
        out.append(_escape(segment))
    return _escape(base) + "/" + "/".join(out)


def upstream_query(query: str) -> str:
    """The raw query without coderd's credentials, the rest left as sent."""
    kept = [p for p in query.split("&") if unquote_plus(p.partition("=")[0]).lower() not in QUERY_PARAMS]
    return _escape("&".join(kept))


def _escape(text: str) -> str:
    """Spaces, control characters, '#' and 8-bit characters as %XX (a byte of the request
    line, which was read as Latin-1, as itself), so nothing can end or split the line."""
    return _UNSAFE.sub(_percent, text)


def _percent(match: re.Match) -> str:
    char = match.group()
    return "".join(f"%{b:02X}" for b in char.encode("latin-1" if ord(char) < 256 else "utf-8"))


def strip_cookies(header: str) -> str:
    """A Cookie header without coderd's cookies, each other pair as it was."""
    kept = []
    for pair in header.split(";"):
        pieces = pair.split(",")
        own = [p for p in pieces if not _coderd_cookie(p)]
        if own and any(p.strip() for p in own):
            kept.append((pair if len(own) == len(pieces) else ",".join(own)).strip())
    return "; ".join(kept)


def _coderd_cookie(pair: str) -> bool:
    name = pair.partition("=")[0].strip().strip('"').lower().removeprefix("__host-")
    return name in COOKIES or name.startswith(SUBDOMAIN_COOKIE)


def _strip_referer(value: str) -> str:
    parts = urlsplit(value)
    if not parts.query:
        return value
    return parts._replace(query=upstream_query(parts.query)).geturl()


def request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The caller's headers an app may see (the proxy adds Host and X-Forwarded-*)."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower == SESSION_HEADER.lower() or lower.startswith("sec-websocket"):
            continue
        if lower == "authorization" and value[:7].lower() == "bearer " \
                and split_token(value[7:].strip()) is not None:
            continue
        if lower == "cookie":
            value = strip_cookies(value)
            if not value:
                continue
        elif lower == "referer":
            value = _strip_referer(value)
        out.append((name, value))
    return out


def response_headers(headers: Iterable[tuple[str, str]], path_app: bool) -> list[tuple[str, str]]:
    """The app's answer headers a browser may get."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in CORS or (path_app and lower == "x-content-type-options"):
            continue
        if lower == "set-cookie" and _coderd_cookie(value.partition(";")[0]):
            continue
        if lower == "vary":
            value = ", ".join(v.strip() for v in value.split(",") if v.strip().lower() not in CORS_VARY)
            if not value:
                continue
        out.append((name, value))
    if path_app:
        out.append(("X-Content-Type-Options", "nosniff"))
    return out
