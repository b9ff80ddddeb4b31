"""A relayed stream as a connection of its own: HTTP/1.1 ``Upgrade: tcp``.

coderd answers ``101 Switching Protocols`` once it has authorized the stream
and the agent has accepted it (a refusal is an ordinary HTTP error with
Coder's body); from then on the connection carries the stream's bytes as
they are, and either side may half-close it. See ``server.relay.tcpupgrade``.

Written by hand, as a request line, four headers and a status line, because
the libraries at hand cannot do this: requests and http.client read the
response through a buffer that would swallow the stream's first bytes (an
SSH server speaks first) and give no connection back after a 101, and
websocket-client speaks only websocket. On a plain connection the response
head is read with ``MSG_PEEK`` (over TLS, a byte at a time from the decrypted
record), so not one byte of the stream is consumed and the socket can go to
paramiko or to OpenSSH (``ProxyUseFdpass``) as it is. It imports
only the standard library: ``coder ssh --stdio`` starts for every ``ssh``.
"""
from __future__ import annotations

import re
import socket
import ssl
import time
from typing import Callable, Mapping
from urllib.parse import urlencode, urlsplit

from .errors import SESSION_HEADER, APIError

MAX_HEAD = 16 * 1024
MAX_ERROR_BODY = 64 * 1024
# coderd's answer (502) while no coderd process holds the agent's connection.
AGENT_NOT_CONNECTED = "The workspace agent is not connected."


def workspace_spec(host: str, prefix: str = "", suffix: str = "") -> str:
    """A host name as ``coder config-ssh`` entries give it (``coder.WORKSPACE``,
    ``coder.OWNER--WORKSPACE--AGENT``, ``AGENT.WORKSPACE.OWNER.SUFFIX``) to
    ``[owner/]workspace[.agent]``, read as Coder's ssh reads it (normalizeWorkspaceInput)."""
    if suffix and host.endswith("." + suffix):
        host = host[:-len(suffix) - 1]
    if prefix and host.startswith(prefix):
        host = host[len(prefix):]
    parts = re.split(r"[/.]+|--", host)
    if len(parts) == 2:
        return f"{parts[0]}.{parts[1]}" if "." in host else f"{parts[0]}/{parts[1]}"
    if len(parts) == 3:
        if host.count(".") == 2:  # Coder Connect's AGENT.WORKSPACE.OWNER
            return f"{parts[2]}/{parts[1]}.{parts[0]}"
        return f"{parts[0]}/{parts[1]}.{parts[2]}"
    return host


def workspace_path(spec: str) -> tuple[str, dict]:
    """``[owner/]workspace[.agent]`` to coderd's connect-by-name path and its query."""
    owner, _, rest = spec.rpartition("/")
    name, _, agent = rest.partition(".")
    return f"/api/v2/users/{owner or 'me'}/workspace/{name}/connect", ({"agent": agent} if agent else {})


def connect(url: str, path: str, query: dict, token: str, *, verify: bool | str = True,
            timeout: float = 30.0, headers: Mapping[str, str] = {}) -> socket.socket:
    """The upgraded connection (an ``ssl.SSLSocket`` for https). Refusals raise APIError.
    ``headers`` are sent as well (``coder --header``; checked for line breaks by the CLI)."""
    if any(c in token for c in "\r\n"):
        raise APIError(401, "The session token is malformed (it holds a line break).")
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    sock = socket.create_connection((parts.hostname, parts.port or (443 if tls else 80)), timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            sock = _tls_context(verify).wrap_socket(sock, server_hostname=parts.hostname)
        target = parts.path.rstrip("/") + path + ("?" + urlencode(query) if query else "")
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: Upgrade\r\n"
                     f"Upgrade: tcp\r\n{SESSION_HEADER}: {token}\r\n{extra}"
                     "User-Agent: coder-appliance-cli\r\n\r\n".encode())
        status, headers = _parse_head(_read_tls_head(sock) if tls else _peek_head(sock))
        if status != 101:
            raise APIError.from_response(status, _body(sock, headers), "GET", url + path)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def connect_to_agent(url: str, path: str, query: dict, token: str, *, verify: bool | str = True,
                     headers: Mapping[str, str] = {}, on_wait: Callable[[], None] = lambda: None,
                     retry_every: float = 1.0) -> socket.socket:
    """``connect``, waiting for as long as coderd answers that the agent is not connected,
    as Coder's CLI waits: a workspace just started, or an agent reconnecting after coderd
    restarted, is there within seconds. ``on_wait`` is called once, when the wait begins."""
    waiting = False
    while True:
        try:
            return connect(url, path, query, token, verify=verify, headers=headers)
        except APIError as exc:
            if exc.status != 502 or exc.message != AGENT_NOT_CONNECTED:
                raise
        if not waiting:
            waiting = True
            on_wait()
        time.sleep(retry_every)


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def _peek_head(sock: socket.socket) -> bytes:
    """The response head and nothing after it: look, then take only up to its end."""
    head = b""
    while len(head) < MAX_HEAD:
        seen = sock.recv(MAX_HEAD, socket.MSG_PEEK)
        if not seen:
            break
        tail = head[-3:]
        end = (tail + seen).find(b"\r\n\r\n")
        take = len(seen) if end < 0 else end + 4 - len(tail)
        head += _recv_exactly(sock, take)
        if end >= 0:
            return head
    raise _bad_answer(head)


def _read_tls_head(sock: ssl.SSLSocket) -> bytes:
    """TLS has no peeking; a byte at a time from the decrypted record is as exact."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte or len(head) > MAX_HEAD:
            raise _bad_answer(bytes(head))
        head += byte
    return bytes(head)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise _bad_answer(data)
        data += chunk
    return data


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest.partition(" ")[0]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise _bad_answer(head)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(code), headers


def _body(sock: socket.socket, headers: dict[str, str]) -> bytes:
    """An error response's body (coderd sends Content-Length with its errors)."""
    declared = headers.get("content-length", "")
    length = min(int(declared), MAX_ERROR_BODY) if declared.isdigit() else 0
    body = b""
    try:
        while len(body) < length and (chunk := sock.recv(length - len(body))):
            body += chunk
    except OSError:
        pass
    return body


def _bad_answer(head: bytes) -> ConnectionError:
    first = head.split(b"\r\n", 1)[0][:100].decode("latin-1") or "nothing"
    return ConnectionError(f"coderd did not answer the upgrade as HTTP/1.1 (got {first!r}): "
                           "is a proxy in the way that does not pass 'Upgrade: tcp'?")
