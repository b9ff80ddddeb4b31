"""API keys: long-lived named tokens and session keys."""
from __future__ import annotations

import psycopg2.errors
from flask import current_app, request

from appliance.sdk import types

from .. import audit
from ..apikeys import issue_key
from ..db.queries.users import UserRow
from ..httpapi import APIError, not_found, write, read
from ..httpmw import store
from ..names import insert_named
from . import convert
from .router import Router
from .users import user_param

router = Router("apikeys", "API keys")
route = router.route
NANOSECOND = 1_000_000_000
DEFAULT_TOKEN_LIFETIME = 30 * 86400
# The scopes a token may have here, under Coder's legacy names and its newer coder: names.
TOKEN_SCOPES = {"all": "all", "coder:all": "all", "application_connect": "application_connect",
                "coder:application_connect": "application_connect"}


def _token_scope(req: types.CreateTokenRequest) -> str:
    """Coder's newer ``scopes`` wins over the deprecated ``scope``; neither means all."""
    field, wanted = ("scopes", req.scopes) if req.scopes else ("scope", [req.scope or "all"])
    scopes = {TOKEN_SCOPES.get(name) for name in wanted}
    if None in scopes or len(scopes) > 1:
        raise APIError(400, "Failed to create API key.",
                       f"Unsupported API key scope {', '.join(wanted)!r}; a token here has "
                       f"one of {', '.join(TOKEN_SCOPES)}.",
                       [types.ValidationError(field, "must be one of " + ", ".join(TOKEN_SCOPES))])
    return scopes.pop()


@route("POST", "/users/<user>/keys/tokens", summary="Create a named API token",
       request=types.CreateTokenRequest, response=types.GenerateAPIKeyResponse, status=201)
def create_token(user: str):
    token = new_token(user_param(user), read(types.CreateTokenRequest))
    return write(201, types.GenerateAPIKeyResponse(key=token))


def new_token(row: UserRow, req: types.CreateTokenRequest) -> str:
    """A named token for ``row`` within the deployment's limits, audited; shown once."""
    settings = current_app.extensions["coderd"].settings
    scope = _token_scope(req)
    lifetime = req.lifetime // NANOSECOND if req.lifetime else DEFAULT_TOKEN_LIFETIME
    if lifetime <= 0:
        raise APIError(400, "Token lifetime must be at least one second.",
                       f"lifetime is in nanoseconds, as Go's time.Duration: {req.lifetime} is "
                       "less than a second.",
                       [types.ValidationError("lifetime", "must be at least 1s")])
    if lifetime > settings.max_token_lifetime:
        days = settings.max_token_lifetime / 86400
        raise APIError(400, f"Lifetime must be less than {days:g} days.",
                       validations=[types.ValidationError("lifetime", f"must be at most {days:g} days")])
    try:
        token, key = insert_named(req.token_name, lambda name: issue_key(
            store(), row.id, login_type="token", lifetime=lifetime,
            remote_addr=request.remote_addr, scope=scope, token_name=name))
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"A token with name {req.token_name!r} already exists.",
                       validations=[types.ValidationError("token_name", "is already taken")]) from None
    audit.record("create", "api_key", None, key["token_name"], status=201,
                 additional={"key_id": key["id"], "user_id": str(row.id)})
    return token


@route("POST", "/users/<user>/keys", summary="Create a session key for a user",
       response=types.GenerateAPIKeyResponse, status=201)
def create_session_key(user: str):
    return write(201, types.GenerateAPIKeyResponse(key=new_session_key(user_param(user))))


def new_session_key(row: UserRow) -> str:
    """A session key for ``row``, as the caller may make one (Coder's: login type password,
    the session lifetime); also what /cli-auth hands out."""
    lifetime = int(current_app.extensions["coderd"].settings.session_duration)
    token, key = issue_key(store(), row.id, login_type="password", lifetime=lifetime,
                           remote_addr=request.remote_addr)
    audit.record("create", "api_key", None, row.username, status=201,
                 additional={"key_id": key["id"], "user_id": str(row.id)})
    return token


@route("GET", "/users/<user>/keys/tokens", summary="List a user's API tokens",
       response=list[types.APIKeyWithOwner])
def list_tokens(user: str):
    include_all = request.args.get("include_all", "").lower() == "true"
    return write(200, user_tokens(user_param(user), include_all))


def user_tokens(row: UserRow, include_all: bool = False) -> list[types.APIKeyWithOwner]:
    """``row``'s tokens (or, ``include_all``, every token the caller may see), with owners."""
    s = store()
    keys = s.get_api_keys_by_login_type("token") if include_all else \
        s.get_api_keys_by_user(row.id, "token")
    names: dict = {}
    out = []
    for k in keys:
        if k["user_id"] not in names:
            owner = s.as_system("token-owner-names").get_user_by_id(k["user_id"])
            names[k["user_id"]] = owner.username if owner else ""
        out.append(convert.from_row(types.APIKeyWithOwner, k, username=names[k["user_id"]]))
    return out


@route("GET", "/users/<user>/keys/tokens/<keyname>", summary="Get an API token by name",
       response=types.APIKey)
def get_token_by_name(user: str, keyname: str):
    key = store().get_api_key_by_name(user_param(user).id, keyname)
    if key is None:
        raise not_found("API key")
    return write(200, convert.api_key(key))


@route("GET", "/users/<user>/keys/tokens/tokenconfig", summary="Token limits",
       response=dict[str, int])
def token_config(user: str):
    user_param(user)
    settings = current_app.extensions["coderd"].settings
    return write(200, {"max_token_lifetime": int(settings.max_token_lifetime * NANOSECOND)})


def _key_of(user: str, keyid: str) -> dict:
    row = user_param(user)
    key = store().get_api_key_by_id(keyid)
    if key is None or key["user_id"] != row.id:
        raise not_found("API key")
    return key


@route("GET", "/users/<user>/keys/<keyid>", summary="Get an API key by ID", response=types.APIKey)
def get_key(user: str, keyid: str):
    return write(200, convert.api_key(_key_of(user, keyid)))


@route("DELETE", "/users/<user>/keys/<keyid>", summary="Delete an API key", status=204)
def delete_key(user: str, keyid: str):
    revoke_key(user, keyid)
    return current_app.response_class(status=204)


def revoke_key(user: str, keyid: str) -> None:
    """Delete ``user``'s key ``keyid`` (404 if it is not theirs), audited."""
    _change_key(user, keyid, store().delete_api_key, "delete")


@route("PUT", "/users/<user>/keys/<keyid>/expire",
       summary="Expire an API key now (it stays listed)", status=204)
def expire_key(user: str, keyid: str):
    _change_key(user, keyid, store().expire_api_key, "write")
    return current_app.response_class(status=204)


def _change_key(user: str, keyid: str, change, audit_action: str) -> None:
    """``change`` applied to ``user``'s key ``keyid`` (404 if it is not theirs), audited."""
    key = _key_of(user, keyid)
    change(key["id"])
    audit.record(audit_action, "api_key", None, key["token_name"] or key["id"],
                 additional={"key_id": key["id"], "user_id": str(key["user_id"])})
