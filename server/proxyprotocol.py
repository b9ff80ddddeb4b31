"""The client's address from a TCP load balancer's PROXY protocol header.

A load balancer that passes TCP through (HAProxy in ``mode tcp``, as
``cluster.yml`` deploys it, so that coderd serves TLS itself) connects to
coderd from its own address for every client: the login rate limit and the
per-client connection cap would count every user as one. With
``CODER_PROXY_PROTOCOL_ORIGINS`` naming the balancers, a connection from one
of them must begin, before TLS, with the header it sends (HAProxy's
``send-proxy-v2``, nginx's ``proxy_protocol on``) naming the client it
carries; coderd counts and logs that client. A connection from any other
address is read as it is, so no client can name itself someone else.

Both versions of the format are read (HAProxy's ``doc/proxy-protocol.txt``).
Written here, not taken from PyPI: the one package (``proxy-protocol``) is an
asyncio server's, and coderd needs only to read exactly the header's bytes
from a gevent socket, within the connection's handshake deadline.
"""
from __future__ import annotations

import ipaddress
import socket

from .realip import Networks, parse_address

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # version 2's first 12 bytes
V1_LONGEST = 107  # a version 1 line with its CRLF, as the format bounds it
V2_LONGEST = 4096  # the addresses and whatever extensions (TLVs) a balancer adds
_LOCAL, _PROXY = 0x0, 0x1  # version 2 commands: the balancer's own connection (its health checks), a client's
_UNSPEC, _INET, _INET6, _UNIX = 0x0, 0x1, 0x2, 0x3  # version 2 address families
_STREAM = 0x1  # version 2's transport: TCP


class HeaderError(ValueError):
    """The connection did not begin with a well-formed PROXY protocol header."""


class Origins(Networks):
    """The networks whose connections begin with a PROXY protocol header, asked of a
    connection's peer: ``(host, port, ...)``, or a Unix socket's ``""``."""

    def __contains__(self, peer) -> bool:
        return isinstance(peer, tuple) and super().__contains__(parse_address(peer[0]))


def read_header(sock: socket.socket, peer: tuple) -> tuple:
    """The client's (host, port) from the header at the start of ``sock``, reading exactly
    the header; ``peer`` when the header names no client (the balancer's own checks)."""
    start = _exactly(sock, 6)
    if start == b"PROXY ":
        return _version1(sock, start, peer)
    if start == SIGNATURE[:6]:
        return _version2(sock, start, peer)
    raise HeaderError("the connection did not begin with a PROXY protocol header")


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise HeaderError("the connection closed within its PROXY protocol header")
        data += chunk
    return data


def _version1(sock: socket.socket, line: bytes, peer: tuple) -> tuple:
    while not line.endswith(b"\r\n"):  # a byte at a time: what follows is the client's
        if len(line) >= V1_LONGEST:
            raise HeaderError("PROXY protocol line longer than 107 bytes")
        line += _exactly(sock, 1)
    fields = line[:-2].decode("ascii", "replace").split(" ")
    if fields[1:2] == ["UNKNOWN"]:
        return peer
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6") or \
            not all(_address(field, int(fields[1][3])) for field in fields[2:4]) or \
            not all(_port(field) for field in fields[4:6]):
        raise HeaderError(f"malformed PROXY protocol line {line[:-2]!r}")
    return _named(ipaddress.ip_address(fields[2]), int(fields[4]))


def _version2(sock: socket.socket, start: bytes, peer: tuple) -> tuple:
    head = start + _exactly(sock, 10)
    if head[:12] != SIGNATURE:
        raise HeaderError("the connection did not begin with a PROXY protocol header")
    version, command, family, transport = head[12] >> 4, head[12] & 0xF, head[13] >> 4, head[13] & 0xF
    if version != 2 or command not in (_LOCAL, _PROXY):
        raise HeaderError(f"unknown PROXY protocol version {version} or command {command}")
    if family not in (_UNSPEC, _INET, _INET6, _UNIX) or \
            (command == _PROXY and family in (_INET, _INET6) and transport != _STREAM):
        raise HeaderError(f"PROXY protocol header of family {family}, transport {transport}: not TCP")
    length = int.from_bytes(head[14:16], "big")
    if length > V2_LONGEST:
        raise HeaderError(f"PROXY protocol header of {length} bytes (at most {V2_LONGEST})")
    body = _exactly(sock, length)
    if command == _LOCAL:
        return peer
    if family == _INET and length >= 12:
        return _named(ipaddress.IPv4Address(body[:4]), int.from_bytes(body[8:10], "big"))
    if family == _INET6 and length >= 36:
        return _named(ipaddress.IPv6Address(body[:16]), int.from_bytes(body[32:34], "big"))
    if family in (_INET, _INET6):
        raise HeaderError(f"PROXY protocol header too short ({length} bytes) for its addresses")
    return peer  # an unspecified or Unix client: the format says to keep the connection's own


def _port(text: str) -> bool:
    """A port as the format writes it: decimal, no sign, no leading zero."""
    return text.isascii() and text.isdigit() and text == str(int(text)) and int(text) <= 65535


def _address(text: str, version: int) -> bool:
    """An address of ``version`` as the format writes it (no IPv6 zone)."""
    try:
        return "%" not in text and ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _named(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> tuple:
    mapped = getattr(address, "ipv4_mapped", None)
    return (str(mapped or address), port)
