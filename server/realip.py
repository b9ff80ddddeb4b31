"""The client's address behind a reverse proxy, as Coder's ``httpmw.ExtractRealIP``.

With ``CODER_PROXY_TRUSTED_ORIGINS`` (networks) and ``CODER_PROXY_TRUSTED_HEADERS``
(header names), a request whose peer is in a trusted network gets its client's
address from the first trusted header that holds one: for ``X-Forwarded-For``
(its lines joined), the rightmost address that is not itself a trusted proxy,
since each proxy appends the peer it saw and whatever a client wrote itself
stands to the left; for any other header, its first address. A request from
any other peer keeps its peer's address whatever its headers say, so a client
cannot choose the address it is counted under (the login rate limit).
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
PEER_KEY = "coderd.peer_addr"  # the connection's own peer, in the WSGI environ
_FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"


def parse_address(text: str) -> Address | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:56``, ``::1`` or ``[::1]:56`` (else None);
    an IPv4 address mapped into IPv6 as the IPv4 one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class Networks:
    """Networks (CIDR, or single addresses) of trusted peers: ``address in networks``."""

    def __init__(self, networks: Iterable[str]):
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: Address | None) -> bool:
        return address is not None and any(address in n for n in self.networks
                                           if n.version == address.version)


class RealIP:
    def __init__(self, headers: Iterable[str], origins: Iterable[str]):
        self.keys = ["HTTP_" + h.strip().upper().replace("-", "_") for h in headers]
        self.origins = Networks(origins)

    def __bool__(self) -> bool:
        return bool(self.keys and self.origins)

    def trusted(self, address: Address | None) -> bool:
        return address in self.origins

    def client(self, peer: str, environ: dict) -> str:
        """The client's address for a request from ``peer`` (pywsgi joins a header's
        lines with commas in the environ)."""
        if not self.trusted(parse_address(peer)):
            return peer
        for key in self.keys:
            value = environ.get(key)
            if not value:
                continue
            found = self._forwarded(value) if key == _FORWARDED_FOR else \
                parse_address(value.partition(",")[0])
            if found is not None:
                return str(found)
        return peer

    def _forwarded(self, value: str) -> Address | None:
        leftmost = None
        for part in reversed(value.split(",")):
            address = parse_address(part)
            if address is None:
                continue
            leftmost = address
            if not self.trusted(address):
                return address
        return leftmost  # every hop a trusted proxy: the first one
