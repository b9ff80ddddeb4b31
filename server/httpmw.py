"""Request middleware: who is calling, and the store they see.

``authenticate`` runs before every request. It accepts Coder's
``Coder-Session-Token`` header, the session cookie or the ``coder_session_token``
query parameter, and ``Authorization: Bearer``; it checks the secret's hash in
constant time, the expiry and the user's status on every request, so a
suspended user or a deleted key is locked out at once.

The session cookie a browser gets over TLS is ``__Host-coder_session_token``:
browsers accept that name only from the host itself (Secure, ``Path=/``, no
``Domain``), so a page on a sibling host (a member's subdomain app) cannot set
or shadow it, where it can write a plain ``coder_session_token`` for the whole
parent domain (cookie tossing: the victim's browser signed in as the attacker).
So over TLS (this connection's, or a proxy's in front when the access URL is
HTTPS) a plain cookie counts only when no ``__Host-`` one comes with it and the
request is not a browser's (no ``Sec-Fetch-Site``): programs that send Coder's
plain cookie keep working, a tossed one is ignored.
"""
from __future__ import annotations

import collections
import datetime as dt
import hmac
import time
import uuid

from flask import Flask, current_app, g, request

from .authz.querier import AuthzQuerier
from .authz.rbac import Subject, system, workspace_agent
from .db.pool import PoolTimeout
from .db.queries import Queries
from .httpapi import APIError
from .security import hash_secret, split_token

SESSION_HEADER = "Coder-Session-Token"
SESSION_COOKIE = "coder_session_token"
# Over TLS: the name browsers take only from the host itself (Secure, Path=/, no Domain).
HOST_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
LAST_USED_EVERY = dt.timedelta(minutes=1)
# A browser or CLI session that is used is extended when it has less than this left.
REFRESH_WITHIN = dt.timedelta(hours=1)
# Calls a workspace agent makes; they authenticate with the agent's token, not a session.
AGENT_PATH_PREFIX = "/api/v2/workspaceagents/me/"


def store() -> AuthzQuerier:
    """The request's querier, acting as the caller (a system actor before login).

    Before login it is "unauthenticated work" (a token looked up, a login, a public
    app), unless the caller was vouched for: at most ``Coderd.unauthenticated`` requests
    hold a connection for it at once, so anonymous callers can never take the whole
    pool from signed-in users."""
    querier = g.get("_store")
    if querier is None:
        coderd = current_app.extensions["coderd"]
        subject = g.get("subject")
        if subject is None and not g.get("vouched"):
            if not coderd.unauthenticated.acquire(timeout=coderd.pool.timeout):
                raise PoolTimeout(f"no database connection free for unauthenticated requests "
                                  f"within {coderd.pool.timeout:.0f}s")
            g._unauthenticated = True
        try:
            conn = coderd.pool.get()
        except BaseException:
            _release_unauthenticated(coderd)
            raise
        g._conn = conn
        querier = AuthzQuerier(Queries(conn, coderd.auth_cache.evict_user),
                               subject or system("unauthenticated-request"))
        g._store = querier
    return querier


def vouch(reason: str) -> None:
    """The caller proved who it is without a session (a provisioner daemon's key): what it
    does in the database is not unauthenticated work. Before any ``store()``."""
    g.vouched = reason


def system_store(reason: str) -> AuthzQuerier:
    return store().as_system(reason)


def release_connection(exc: BaseException | None = None) -> None:
    """Give the request's connection back now (before a long wait); store() takes a new one."""
    conn = g.pop("_conn", None)
    g.pop("_store", None)
    coderd = current_app.extensions["coderd"]
    if conn is not None:
        coderd.pool.put(conn)
    _release_unauthenticated(coderd)


def _release_unauthenticated(coderd) -> None:
    if g.pop("_unauthenticated", False):
        coderd.unauthenticated.release()


def browser_tls() -> bool:
    """Whether browsers reach coderd over TLS: this connection is TLS, or the access URL
    (the URL browsers use) is HTTPS, with TLS ended by a proxy in front."""
    return request.is_secure or current_app.extensions["coderd"].settings.effective_access_url \
        .startswith("https:")


def session_cookie_name() -> str:
    """The name the session cookie is set under (``__Host-`` over TLS)."""
    return HOST_SESSION_COOKIE if browser_tls() else SESSION_COOKIE


def session_cookie() -> str:
    """The session cookie's value that counts for this request (see the module's docstring)."""
    cookies = request.cookies
    if browser_tls() and (HOST_SESSION_COOKIE in cookies or "Sec-Fetch-Site" in request.headers):
        return cookies.get(HOST_SESSION_COOKIE, "")
    return cookies.get(SESSION_COOKIE, "")


def session_token() -> str:
    token = request.headers.get(SESSION_HEADER) or session_cookie() \
        or request.args.get(SESSION_COOKIE) or ""
    if not token:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token


def _act_as(subject: Subject) -> None:
    g.subject = subject
    # The per-request store acts as the caller from here on.
    if g.get("_store") is not None:
        g._store = g._store.acting_as(subject)


def authenticate_agent(token: str) -> None:
    """Set ``g.subject`` to the agent holding ``token`` and ``g.agent`` to its row.

    As in Coder, the token is good only for the agent of its workspace's latest
    build: once the workspace is stopped, rebuilt or deleted, it is refused. While
    the stop or delete build runs, it still works: the agent, told to shut down,
    reports ``shutting_down``, its shutdown scripts' logs and ``off`` (Coder's
    agent does so over the connection it opened before).
    """
    try:
        token_id = uuid.UUID(token)
    except ValueError:
        g.auth_error = "Invalid workspace agent token: expected a UUID (CODER_AGENT_TOKEN)."
        return
    row = system_store("authenticate-agent").get_workspace_agent_by_auth_token(token_id)
    if row is None:
        g.auth_error = "Workspace agent token is invalid: no agent has it."
        return
    if row["workspace_deleted"] or not (row["latest_build"] or row["being_stopped"]):
        g.auth_error = ("Workspace agent token is revoked: its workspace has been "
                        + ("deleted." if row["workspace_deleted"] else "rebuilt or stopped."))
        return
    g.agent = row
    _act_as(workspace_agent(row["id"]))


def authenticate() -> None:
    """Set ``g.subject`` and ``g.api_key_id`` from a valid token; leave them unset otherwise.

    The connection a lookup took goes back to the pool at once: a request with a
    token no one has (or an agent's) holds none while its body arrives."""
    g.subject = None
    try:
        authenticate_token(session_token())
    finally:
        release_connection()


def authenticate_token(token: str) -> None:
    """Act as whoever holds ``token``; leave ``g.subject`` unset (with ``g.auth_error``)
    when no one valid does (also for a session a workspace proxy passes on)."""
    if not token:
        return
    if request.path.startswith(AGENT_PATH_PREFIX):
        return authenticate_agent(token)
    parts = split_token(token)
    if parts is None:
        g.auth_error = "Invalid API key format: expected ID-SECRET."
        return
    key_id, secret = parts
    row = _api_key(key_id)
    if row is None or not hmac.compare_digest(bytes(row["hashed_secret"]), hash_secret(secret)):
        g.auth_error = "API key is invalid."
        return
    _act_as_api_key(key_id, row)


def authenticate_api_key_id(key_id: str) -> bool:
    """Act as the session whose key is ``key_id``, with every check of ``authenticate`` but
    the secret's: for a caller that holds coderd's own signature over the key ID (a
    workspace app's ticket, ``relay.appauth``). False, with ``g.auth_error``, if the key is
    gone, expired, or its user suspended."""
    row = _api_key(key_id)
    if row is None:
        g.auth_error = "API key is invalid."
        return False
    return _act_as_api_key(key_id, row)


def _api_key(key_id: str) -> dict | None:
    cache = current_app.extensions["coderd"].auth_cache
    row = cache.get(key_id)
    if row is None:
        epoch = cache.epoch
        row = system_store("authenticate-api-key").get_authentication(key_id)
        if row is not None:
            cache.put(key_id, row, epoch)
    return row


def _act_as_api_key(key_id: str, row: dict) -> bool:
    now = dt.datetime.now(dt.timezone.utc)
    if row["expires_at"] <= now:
        g.auth_error = f"API key expired at {row['expires_at'].isoformat()}."
        return False
    if row["deleted"]:
        g.auth_error = "API key is invalid."
        return False
    if row["status"] == "suspended":
        g.auth_error = "Your account is suspended. Contact an administrator to reactivate it."
        return False
    if now - row["last_used"] > LAST_USED_EVERY:
        sys_store = system_store("api-key-last-used")
        new_expiry = None
        if row["key_login_type"] == "password" and row["expires_at"] - now < REFRESH_WITHIN:
            new_expiry = now + dt.timedelta(seconds=row["lifetime_seconds"])
        sys_store.update_api_key_used(key_id, new_expiry)
        sys_store.update_user_last_seen(row["user_id"])
        row["last_used"] = now  # the cached copy too: one write a minute, not per request
    g.api_key_id = key_id
    _act_as(Subject(id=row["user_id"], roles=tuple(row["rbac_roles"]),
                    org_ids=frozenset(row["organization_ids"]), name=row["username"],
                    scope=row["scope"]))
    return True


class LoginRateLimiter:
    """Sliding one-minute window of attempts per client address (behind a trusted proxy,
    its client's: ``server.realip``), per process."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self.attempts: dict[str, collections.deque] = {}

    def check(self, address: str) -> None:
        if self.per_minute <= 0:
            return
        now = self.clock()
        window = self.attempts.setdefault(address, collections.deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            retry = int(60 - (now - window[0])) + 1
            raise APIError(429, "You've been rate limited for sending too many login requests.",
                           f"Try again in {retry} seconds.")
        window.append(now)
        if len(self.attempts) > 10000:  # forget idle addresses
            for addr in [a for a, w in self.attempts.items() if not w or now - w[-1] > 60]:
                del self.attempts[addr]


def init_app(app: Flask) -> None:
    app.before_request(authenticate)
    app.teardown_request(release_connection)
