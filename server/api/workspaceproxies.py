"""Coder's workspace proxies: owners create them (the token is shown once), everyone reads
them and ``/regions``; a proxy, with ``Coder-External-Proxy-Token``, registers its URLs
(re-registering is its heartbeat), deregisters, and asks for signed app tokens
(``server.wsproxy.apptoken``). A proxy token is never a user session: it works only on
``/workspaceproxies/me/*``, and a session never works there."""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, g, request

from appliance.sdk import model, types
from appliance.sdk.wsproxysdk import PROXY_TOKEN_HEADER

from .. import audit
from ..authz.querier import authorize_listing
from ..authz.rbac import Action, NotAuthorized, Object, Resource
from ..csrf import origin_of
from ..httpapi import APIError, not_found, read, write
from ..httpmw import authenticate_token, store, system_store, vouch
from ..relay import appauth, apps
from ..relay.registry import EXPIRE_SECONDS as EXPIRE_RELAY_SECONDS
from . import relay as relay_api
from ..security import hash_secret
from ..wsproxy import apptoken
from .convert import from_row
from .router import Router

router = Router("workspaceproxies", "Enterprise")
route = router.route

HEARTBEAT_SECONDS = 10.0
# A proxy that has not re-registered for this long is unreachable.
EXPIRE_SECONDS = 3 * HEARTBEAT_SECONDS


def _status(row: dict) -> types.WorkspaceProxyStatus:
    if row["seen_seconds_ago"] is None:
        status = "unregistered"
    elif row["deregistered"] or row["seen_seconds_ago"] > EXPIRE_SECONDS:
        status = "unreachable"
    else:
        status = "ok"
    return types.WorkspaceProxyStatus(status=status, checked_at=dt.datetime.now(dt.timezone.utc),
                                      report=types.ProxyHealthReport(errors=[], warnings=[]))


def proxy(row: dict) -> types.WorkspaceProxy:
    status = _status(row)
    return from_row(types.WorkspaceProxy, row, icon_url=row["icon"],
                    healthy=status.status == "ok", path_app_url=row["url"], status=status)


def proxy_param(name_or_id: str) -> dict:
    try:
        row = store().get_workspace_proxy_by_id(uuid.UUID(name_or_id))
    except ValueError:
        row = store().get_workspace_proxy_by_name(name_or_id)
    if row is None or row["deleted"]:
        raise not_found("Workspace proxy")
    return row


def _new_token(proxy_id: uuid.UUID) -> tuple[str, bytes]:
    secret = secrets.token_urlsafe(24)
    return f"{proxy_id}:{secret}", hash_secret(secret)


def _refuse_taken_name(name: str, proxy_id: uuid.UUID | None = None) -> None:
    taken = system_store("wsproxy-name-taken").get_workspace_proxy_by_name(name)
    if name.lower() == "primary" or (taken is not None and taken["id"] != proxy_id):
        raise APIError(409, f"Workspace proxy with name {name!r} already exists.", validations=[
            types.ValidationError("name", "This name is already in use.")])


@route("POST", "/workspaceproxies", summary="Create a workspace proxy (its token, once)",
       request=types.CreateWorkspaceProxyRequest, response=types.UpdateWorkspaceProxyResponse,
       status=201)
def create_workspace_proxy():
    req = read(types.CreateWorkspaceProxyRequest)
    _require(Action.CREATE)
    _refuse_taken_name(req.name)
    proxy_id = uuid.uuid4()
    token, hashed = _new_token(proxy_id)
    row = store().insert_workspace_proxy(proxy_id, req.name, req.display_name or req.name,
                                         req.icon, hashed)
    audit.record("create", "workspace_proxy", row["id"], row["name"])
    return write(201, types.UpdateWorkspaceProxyResponse(proxy=proxy(row), proxy_token=token))


def _require(action: Action) -> None:
    """403 before anything is looked at or written: members may read proxies, not manage them."""
    if not store().can(action, Object(Resource.WORKSPACE_PROXY)):
        raise APIError(403, "Forbidden.", "Only owners manage workspace proxies.")


@route("GET", "/workspaceproxies", summary="Workspace proxies", response=list[types.WorkspaceProxy])
def list_workspace_proxies():
    return write(200, [proxy(r) for r in store().get_workspace_proxies()])


@route("GET", "/workspaceproxies/<workspaceproxy>", summary="A workspace proxy",
       response=types.WorkspaceProxy)
def get_workspace_proxy(workspaceproxy: str):
    return write(200, proxy(proxy_param(workspaceproxy)))


@route("PATCH", "/workspaceproxies/<workspaceproxy>",
       summary="Rename a workspace proxy, or give it a new token",
       request=types.PatchWorkspaceProxy, response=types.UpdateWorkspaceProxyResponse)
def patch_workspace_proxy(workspaceproxy: str):
    row = proxy_param(workspaceproxy)
    _require(Action.UPDATE)
    req = read(types.PatchWorkspaceProxy)
    _refuse_taken_name(req.name, row["id"])
    token, hashed = _new_token(row["id"]) if req.regenerate_token else ("", None)
    row = store().update_workspace_proxy(row["id"], req.name, req.display_name or req.name,
                                         req.icon, hashed)
    audit.record("write", "workspace_proxy", row["id"], row["name"])
    return write(200, types.UpdateWorkspaceProxyResponse(proxy=proxy(row), proxy_token=token))


@route("DELETE", "/workspaceproxies/<workspaceproxy>", summary="Delete a workspace proxy",
       response=types.Response)
def delete_workspace_proxy(workspaceproxy: str):
    row = proxy_param(workspaceproxy)
    _require(Action.DELETE)
    store().delete_workspace_proxy(row["id"])
    audit.record("delete", "workspace_proxy", row["id"], row["name"])
    return write(200, types.Response(message="Proxy has been deleted!"))


def regions() -> list[types.Region]:
    """Each proxy as a region of ``/regions`` (after the primary)."""
    return [types.Region(**{f: getattr(p, f) for f in types.Region.__dataclass_fields__})
            for p in map(proxy, store().get_workspace_proxies())]


# -- what a proxy calls, with its own token ------------------------------------------------
def _calling_proxy() -> dict:
    """The proxy whose ``Coder-External-Proxy-Token`` this request carries, or 401."""
    proxy_id, _, secret = request.headers.get(PROXY_TOKEN_HEADER, "").partition(":")
    try:
        row = system_store("wsproxy-authenticate").get_workspace_proxy_by_id(uuid.UUID(proxy_id))
    except ValueError:
        row = None
    if row is None or row["deleted"] or not hmac.compare_digest(
            bytes(row["token_hashed_secret"]), hash_secret(secret)):
        raise APIError(401, "Invalid workspace proxy token.",
                       f"Send the token 'coder wsproxy create' printed in {PROXY_TOKEN_HEADER}.")
    vouch("workspace proxy token")
    return row


def _deployment_key() -> str:
    return apptoken.deployment_key(system_store("wsproxy-app-key"))


@route("POST", "/workspaceproxies/me/register", auth=False,
       summary="A proxy registers its URLs (again every heartbeat) and gets its keys",
       request=types.RegisterWorkspaceProxyRequest,
       response=types.RegisterWorkspaceProxyResponse, status=201)
def register_workspace_proxy():
    row = _calling_proxy()
    req = read(types.RegisterWorkspaceProxyRequest)
    if not req.access_url.startswith(("http://", "https://")):
        raise APIError(400, "access_url must be an http or https URL.", validations=[
            types.ValidationError("access_url", "must be an http or https URL")])
    system_store("wsproxy-register").register_workspace_proxy(
        row["id"], req.access_url.rstrip("/"), req.wildcard_hostname, req.version)
    deployment_id = system_store("wsproxy-register").get_deployment_value("deployment_id")
    return write(201, types.RegisterWorkspaceProxyResponse(
        deployment_id=uuid.UUID(deployment_id), app_security_key=apptoken.proxy_key(_deployment_key(), row["id"]),
        relay_key=apptoken.relay_key(current_app.extensions["relay"].secret, row["id"])))


@route("POST", "/workspaceproxies/me/deregister", auth=False,
       summary="A proxy going away: unreachable until it registers again",
       request=types.DeregisterWorkspaceProxyRequest, status=204)
def deregister_workspace_proxy():
    row = _calling_proxy()
    read(types.DeregisterWorkspaceProxyRequest)
    system_store("wsproxy-deregister").deregister_workspace_proxy(row["id"])
    return current_app.response_class(status=204)


@route("POST", "/workspaceproxies/me/issue-signed-app-token", auth=False,
       summary="Whether a session may open an app: a signed answer the proxy checks offline",
       request=types.IssueSignedAppTokenRequest, response=types.IssueSignedAppTokenResponse,
       status=201)
def issue_signed_app_token():
    row = _calling_proxy()
    req = read(types.IssueSignedAppTokenRequest)
    app = req.app_request
    if app.access_method == apps.SUBDOMAIN and not row["wildcard_hostname"]:
        raise APIError(400, "This workspace proxy serves no subdomain apps.",
                       "Register it with a wildcard_hostname.")
    renewal = _act_as_session(row, req.session_token)
    try:
        agent = apps.agent_by_path(app.username_or_id, app.workspace_name_or_id,
                                   app.agent_name_or_id)
        kind = "port" if app.app_slug_or_port.isdigit() else "apps"
        host, port, base = apps.resolve_target(agent, kind, app.app_slug_or_port, app.access_method)
    except NotAuthorized:
        raise APIError(404, "No such app, or you may not open it.") from None
    except apps.ProxyError as exc:
        raise APIError(exc.status, str(exc)) from None
    return _grant(row, agent["id"], f"tcp:{host}:{port}", request=model.encode(app),
                  base_path=base, renewal=renewal)


@route("POST", "/workspaceproxies/me/issue-signed-connect-token", auth=False,
       summary="Whether a session may open a stream (ssh, a port, a terminal) to an agent: "
               "a signed grant the proxy presents to the relay",
       request=types.IssueSignedConnectTokenRequest, response=types.IssueSignedAppTokenResponse,
       status=201)
def issue_signed_connect_token():
    row = _calling_proxy()
    req = read(types.IssueSignedConnectTokenRequest)
    _act_as_session(row, req.session_token)
    if not (relay_api.TARGET.match(req.target) or req.target.startswith("pty:")):
        raise APIError(400, f"Invalid target {req.target!r}.", "Use ssh, tcp:PORT or pty:...")
    relay_api.connect_target(req.agent_id)
    return _grant(row, req.agent_id, req.target)


def _act_as_session(row: dict, session_token: str) -> dict:
    """Act as the visitor whose session the proxy passes on: a session token, or the ticket
    coderd's sign-in redirect gave this proxy's cookie (``appauth.proxy_session``, whose
    renewal is returned); 401 when it is not valid."""
    renewal = appauth.proxy_session(session_token, row["id"])
    if renewal is None:
        authenticate_token(session_token)
    if g.get("subject") is None:
        raise APIError(401, "The session is not valid.", g.get("auth_error") or "")
    return renewal or {}


def _grant(row: dict, agent_id: uuid.UUID, target: str, **claims):
    return write(201, types.IssueSignedAppTokenResponse(
        signed_token_str=_signed(row, agent_id, target, **claims)))


def _signed(row: dict, agent_id: uuid.UUID, target: str, **claims) -> str:
    """The signed answer: who asked, for which stream, and the relay address of the coderd
    process holding the agent ("" when none does: the proxy answers that it is offline)."""
    held = system_store("wsproxy-grant").get_relay_address(agent_id, EXPIRE_RELAY_SECONDS)
    claims.update(proxy_id=str(row["id"]), key_id=g.api_key_id, user_id=str(g.subject.id),
                  agent_id=str(agent_id), target=target,
                  relay_address=held["address"] if held else "")
    return apptoken.sign(apptoken.grant_key(_deployment_key(), row["id"]), claims)


# -- what the dashboard calls, with the viewer's session -----------------------------------
@route("POST", "/applications/reconnecting-pty-signed-token",
       summary="A signed token for the web terminal's websocket at a workspace proxy (the "
               "dashboard's terminal through the region it chose)",
       request=types.IssueReconnectingPTYSignedTokenRequest,
       response=types.IssueReconnectingPTYSignedTokenResponse)
def reconnecting_pty_signed_token():
    """Coder's: the URL must be a terminal websocket of the given agent at the access URL of
    a proxy coderd registered (never coderd's own: its terminal needs no token); the token,
    signed for that proxy, names this very terminal (its reconnect ID, size and command)."""
    authorize_listing(g.subject, Action.READ)  # a key scoped to apps gets none, as Coder's
    req = read(types.IssueReconnectingPTYSignedTokenRequest)
    try:
        parts = urlsplit(req.url)
    except ValueError as exc:
        raise APIError(400, "Invalid URL.", str(exc)) from None
    if parts.scheme not in ("ws", "wss"):
        raise APIError(400, "Invalid URL.",
                       f"invalid URL scheme {parts.scheme!r}, expected 'ws' or 'wss'")
    if parts.path != f"/api/v2/workspaceagents/{req.agentID}/pty":
        raise APIError(400, "Invalid URL path.",
                       "The provided URL is not a valid reconnecting PTY endpoint URL.")
    row = _proxy_at(origin_of(parts._replace(scheme=parts.scheme.replace("ws", "http"))
                              .geturl()))
    if row is None:
        raise APIError(400, "Invalid hostname in URL.",
                       "The hostname must be a workspace proxy access URL.")
    target = relay_api.pty_target(dict(parse_qsl(parts.query)))
    relay_api.connect_target(req.agentID)  # 404 or 403, as coderd's own terminal
    return write(200, types.IssueReconnectingPTYSignedTokenResponse(
        signed_token=_signed(row, req.agentID, target)))


def _proxy_at(origin: str | None) -> dict | None:
    """The registered proxy serving at ``origin``."""
    rows = store().get_workspace_proxies()
    return next((r for r in rows if origin and r["url"] and not r["deleted"]
                 and origin_of(r["url"]) == origin), None)
