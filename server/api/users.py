"""Users: the first user, login and logout, and user management."""
from __future__ import annotations

import uuid

import psycopg2.errors
from flask import Response as FlaskResponse
from flask import current_app, g, request

from appliance import passwords
from appliance.sdk import types

from .. import audit, gitsshkey
from ..apikeys import issue_key
from ..authz.rbac import ASSIGNABLE_ROLES, OWNER, Action, Object, Resource, can_assign
from ..db.queries.users import UserRow
from ..httpapi import ANONYMOUS_MAX_BODY, APIError, error, not_found, parse_uuid, query_int, read, write
from ..httpmw import (HOST_SESSION_COOKIE, SESSION_COOKIE, release_connection, session_cookie_name,
                      store, system_store)
from ..passwords import require_strong
from ..security import DUMMY_PASSWORD_HASH, hash_password, verify_password
from . import convert
from .router import QueryParam, Router

router = Router("users", "Users")
route = router.route
USER_AUDIT_FIELDS = ("username", "email", "name", "status", "rbac_roles", "hashed_password")


def user_param(value: str) -> UserRow:
    """``me``, a username or an id, resolved as the caller may see it (else 404)."""
    s = store()
    if value == "me":
        if g.get("subject") is None:
            raise APIError(401, "You must be authenticated.")
        row = s.get_user_by_id(g.subject.id)
    else:
        try:
            user_id = uuid.UUID(value)
        except ValueError:
            row = s.get_user_by_username(value)
        else:
            row = s.get_user_by_id(user_id)
    if row is None:
        raise not_found("User")
    return row


def _conflict(exc: psycopg2.errors.UniqueViolation) -> APIError:
    constraint = exc.diag.constraint_name or ""
    fieldname = "email" if "email" in constraint else "username"
    return APIError(409, f"A user with this {fieldname} already exists.",
                    validations=[types.ValidationError(fieldname, "is already taken")])


# --- the first user ----------------------------------------------------------

@route("GET", "/users/first", summary="Check whether the first user exists", auth=False,
       response=types.Response)
def get_first_user():
    if not first_user_exists():
        return error(404, "The initial user has not been created!")
    return write(200, types.Response(message="The initial user has already been created!"))


@route("POST", "/users/first", summary="Create the first user, an owner", auth=False,
       request=types.CreateFirstUserRequest, response=types.CreateFirstUserResponse, status=201)
def post_first_user():
    # Before the body is read: once there is a user (always, but for the first minutes),
    # anyone's body here is refused unread. No connection is held while it arrives.
    if first_user_exists():
        raise APIError(409, "The initial user has already been created.")
    release_connection()
    user, org_id = create_first_user(read(types.CreateFirstUserRequest, ANONYMOUS_MAX_BODY))
    return write(201, types.CreateFirstUserResponse(user_id=user.id, organization_id=org_id))


def first_user_exists() -> bool:
    return system_store("check-first-user").get_user_count() > 0


def create_first_user(req: types.CreateFirstUserRequest) -> tuple[UserRow, uuid.UUID]:
    """The deployment's first user, an owner in the default organization, and that
    organization's ID: for the API and the dashboard's setup page alike. A 409 once
    someone else has made one (concurrent requests: exactly one wins)."""
    require_strong(req.password)
    s = system_store("create-first-user")
    try:
        with s.transaction():
            user = s.insert_user(email=req.email, username=req.username, name=req.name,
                                 hashed_password=hash_password(req.password),
                                 rbac_roles=[OWNER], login_type="password")
            if s.insert_deployment_value("first_user_id", str(user.id)) != str(user.id):
                raise APIError(409, "The initial user has already been created.")
            org = s.get_default_organization()
            s.insert_organization_member(organization_id=org["id"], user_id=user.id, roles=[])
            gitsshkey.create(s, user.id)
    except psycopg2.errors.UniqueViolation as exc:
        raise _conflict(exc) from None
    audit.record("create", "user", user.id, user.username, status=201, user_id=user.id,
                 changes=audit.diff(None, user, USER_AUDIT_FIELDS))
    return user, org["id"]


# --- login and logout --------------------------------------------------------------

@route("POST", "/users/login", summary="Log in with an email (or username) and password",
       auth=False, request=types.LoginWithPasswordRequest,
       response=types.LoginWithPasswordResponse, status=201)
def login():
    check_login_rate()
    req = read(types.LoginWithPasswordRequest, ANONYMOUS_MAX_BODY)
    token, lifetime = sign_in(req.email, req.password)
    return set_session_cookie(write(201, types.LoginWithPasswordResponse(session_token=token)),
                              token, lifetime)


def check_login_rate() -> None:
    """Before a login's body is read: CODER_LOGIN_RATE_LIMIT per client address."""
    current_app.extensions["coderd"].login_limiter.check(request.remote_addr or "")


def sign_in(email: str, password: str) -> tuple[str, int]:
    """A new session for this email (or username) and password, audited: its token and
    lifetime in seconds. The API's login, the dashboard's and /cli-auth's all come here."""
    user = system_store("login").get_user_by_email_or_username(email, email)
    release_connection()  # the password's hash takes a while: hold no connection meanwhile
    # An unknown user's password is hashed too, so the time taken does not tell who exists.
    hashed = user.hashed_password if user is not None and user.login_type == "password" else None
    if not verify_password(hashed or DUMMY_PASSWORD_HASH, password) or hashed is None:
        audit.record("login", "api_key", None, email, status=401,
                     user_id=user.id if user else None)
        raise APIError(401, "Incorrect email or password.")
    s = system_store("login")
    if user.status == "suspended":
        audit.record("login", "api_key", None, user.username, status=401, user_id=user.id)
        raise APIError(401, "Your account is suspended. Contact an administrator to reactivate it.")
    if user.status == "dormant":
        s.update_user_status(user.id, "active")
    lifetime = int(current_app.extensions["coderd"].settings.session_duration)
    token, key = issue_key(s, user.id, login_type="password", lifetime=lifetime,
                           remote_addr=request.remote_addr)
    audit.record("login", "api_key", None, user.username, status=201, user_id=user.id,
                 additional={"key_id": key["id"]})
    return token, lifetime


def set_session_cookie(resp: FlaskResponse, token: str, lifetime: int) -> FlaskResponse:
    # Host-only (no Domain) and, over TLS, named __Host- so no sibling host can replace it.
    name = session_cookie_name()
    resp.set_cookie(name, token, max_age=lifetime, httponly=True, samesite="Lax",
                    secure=name == HOST_SESSION_COOKIE, path="/")
    return resp


@route("POST", "/users/logout", summary="Log out: delete the session key in use",
       response=types.Response)
def logout():
    return sign_out(write(200, types.Response(message="Logged out!")))


def sign_out(resp: FlaskResponse) -> FlaskResponse:
    """End the request's session (its key deleted, audited) and clear its cookie on ``resp``."""
    key_id = g.api_key_id
    store().delete_api_key(key_id)
    audit.record("logout", "api_key", None, g.subject.name, additional={"key_id": key_id})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    if session_cookie_name() == HOST_SESSION_COOKIE:  # deleted only by a Secure Set-Cookie too
        resp.delete_cookie(HOST_SESSION_COOKIE, path="/", secure=True)
    return resp


@route("POST", "/users/validate-password", summary="Check a password against the password rules",
       auth=False, request=types.ValidateUserPasswordRequest,
       response=types.ValidateUserPasswordResponse)
def validate_password():
    # As Coder: beside login, under its rate limit, for the setup and password-change forms.
    check_login_rate()
    req = read(types.ValidateUserPasswordRequest, ANONYMOUS_MAX_BODY)
    reason = passwords.problem(req.password)
    return write(200, types.ValidateUserPasswordResponse(valid=not reason, details=reason))


@route("GET", "/users/authmethods", summary="Login methods this deployment offers", auth=False,
       response=types.AuthMethods)
def auth_methods():
    # An air-gapped appliance has no GitHub; OIDC needs an identity provider configured.
    off = types.AuthMethod(enabled=False)
    return write(200, types.AuthMethods(password=types.AuthMethod(enabled=True), github=off, oidc=off))


# --- users ------------------------------------------------------------------------------

def _parse_user_query(q: str) -> dict:
    """Coder's ``q``: ``status:active role:owner login_type:password`` plus free text."""
    filters: dict = {"search": [], "status": [], "roles": [], "login_type": []}
    for term in q.split():
        key, sep, value = term.partition(":")
        if not sep:
            filters["search"].append(term)
            continue
        key = {"role": "roles", "username": "search", "email": "search"}.get(key, key)
        if key not in filters:
            raise APIError(400, f"Invalid query param {key!r}.",
                           validations=[types.ValidationError("q", f"unknown filter {key!r}")])
        filters[key].extend(v for v in value.split(",") if v)
    for status in filters["status"]:
        if status not in ("active", "suspended", "dormant"):
            raise APIError(400, f"Invalid status {status!r}.",
                           validations=[types.ValidationError("q", "status must be active, "
                                                              "suspended or dormant")])
    filters["search"] = " ".join(filters["search"])
    return filters


@route("GET", "/users", summary="List users", response=types.GetUsersResponse,
       query=(QueryParam("q", "Search: free text, status:, role:, login_type:"),
              QueryParam("after_id", "Page after this user ID"),
              QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def list_users():
    after = request.args.get("after_id")
    return write(200, search_users(
        request.args.get("q", ""), after_id=parse_uuid(after, "after_id") if after else None,
        offset=query_int("offset", 0), limit=query_int("limit", 0, 0, 10000) or None))


def search_users(q: str, *, after_id: uuid.UUID | None = None, offset: int = 0,
                 limit: int | None = None) -> types.GetUsersResponse:
    """The users the caller may see matching Coder's ``q``: the API's list and the
    dashboard's users page."""
    filters = _parse_user_query(q)
    rows = store().get_users(
        search=filters["search"], status=filters["status"] or None,
        roles=filters["roles"] or None, login_type=filters["login_type"] or None,
        after_id=after_id, offset=offset, limit=limit)
    count = rows[0].count if rows else 0
    if g.subject and not store().can(Action.READ, Object(Resource.USER)):
        count = len(rows)  # the caller sees a filtered list; count what they see
    return types.GetUsersResponse(users=[convert.user(r) for r in rows], count=count)


@route("POST", "/users", summary="Create a user", request=types.CreateUserRequest,
       response=types.User, status=201)
def create_user():
    return write(201, convert.user(new_user(read(types.CreateUserRequest))))


def new_user(req: types.CreateUserRequest) -> UserRow:
    """A user made as the caller may (the API's and the dashboard's), audited."""
    s = store()
    # As Coder: login_type, else "none" for the deprecated disable_login, else "password".
    login_type = req.login_type or ("none" if req.disable_login else "password")
    if login_type not in ("password", "none"):
        raise APIError(400, f"Login type {login_type!r} is not available on this deployment.",
                       validations=[types.ValidationError("login_type", "must be password or none")])
    if login_type == "password" and not req.password:
        raise APIError(400, "A password is required for login type password.",
                       "A user without a password has login_type none (or the deprecated "
                       "disable_login true).",
                       [types.ValidationError("password", "is required")])
    if login_type == "none" and req.password:
        raise APIError(400, "A user with login type none has no password.",
                       validations=[types.ValidationError("password", "must be empty")])
    if login_type == "password":
        require_strong(req.password)
    # Coder adds the deprecated organization_id to organization_ids.
    org_ids = list(dict.fromkeys([*(req.organization_ids or []),
                                  *([req.organization_id] if req.organization_id else [])]))
    orgs = [s.get_organization_by_id(o) for o in org_ids] or [s.get_default_organization()]
    missing = [o for o, row in zip(org_ids, orgs) if row is None]
    if missing:
        raise APIError(404, f"Organization does not exist with the provided id {missing[0]}.",
                       validations=[types.ValidationError("organization_ids", "not found")])
    hashed = hash_password(req.password) if req.password else ""
    try:
        with s.transaction():
            user = s.insert_user(email=req.email, username=req.username, name=req.name,
                                 hashed_password=hashed, rbac_roles=[], login_type=login_type)
            for org in orgs:
                s.insert_organization_member(organization_id=org["id"], user_id=user.id, roles=[])
            gitsshkey.create(s, user.id)
            if req.user_status and req.user_status != "active":
                user = s.update_user_status(user.id, req.user_status)
            else:
                user = s.get_user_by_id(user.id)
    except psycopg2.errors.UniqueViolation as exc:
        raise _conflict(exc) from None
    audit.record("create", "user", user.id, user.username, status=201,
                 changes=audit.diff(None, user, USER_AUDIT_FIELDS))
    return user


@route("GET", "/users/<user>", summary="Get a user by ID, username or 'me'", response=types.User)
def get_user(user: str):
    return write(200, convert.user(user_param(user)))


@route("GET", "/users/<user>/login-type", summary="How a user logs in",
       response=types.UserLoginType)
def get_login_type(user: str):
    row = user_param(user)
    if not store().can(Action.READ_PERSONAL, Object(Resource.USER, row.id, owner_id=row.id)):
        raise not_found("User")
    return write(200, types.UserLoginType(login_type=row.login_type))


@route("GET", "/users/<user>/autofill-parameters",
       summary="The user's latest parameter values for a template's workspaces",
       response=list[types.UserParameter],
       query=(QueryParam("template_id", "The template (required)"),))
def autofill_parameters(user: str):
    row = user_param(user)
    template_id = request.args.get("template_id", "")
    if not template_id:
        raise APIError(400, "Invalid query parameters.", validations=[
            types.ValidationError("template_id", "Query param \"template_id\" is required and "
                                  "cannot be empty")])
    rows = store().get_user_workspace_build_parameters(row.id, parse_uuid(template_id, "template_id"))
    return write(200, [convert.from_row(types.UserParameter, r) for r in rows])


@route("DELETE", "/users/<user>", summary="Delete a user", response=types.Response)
def delete_user(user: str):
    row = user_param(user)
    if row.id == g.subject.id:
        raise APIError(403, "You cannot delete yourself.")
    store().delete_user(row.id)
    audit.record("delete", "user", row.id, row.username,
                 changes=audit.diff(row, None, ("username", "email")))
    return write(200, types.Response(message="User has been deleted!"))


def set_user_status(row: UserRow, status: str) -> UserRow:
    """Suspend or activate, with Coder's refusals (oneself, an owner), audited."""
    if row.id == g.subject.id and status == "suspended":
        raise APIError(400, "You cannot suspend yourself.")
    if status == "suspended" and OWNER in row.rbac_roles:
        raise APIError(400, f"You cannot suspend a user with the {OWNER!r} role.",
                       "Remove the role first.")
    updated = store().update_user_status(row.id, status)
    audit.record("write", "user", row.id, row.username,
                 changes=audit.diff(row, updated, ("status",)))
    return updated


@route("PUT", "/users/<user>/status/suspend", summary="Suspend a user", response=types.User)
def suspend_user(user: str):
    return write(200, convert.user(set_user_status(user_param(user), "suspended")))


@route("PUT", "/users/<user>/status/activate", summary="Activate a user", response=types.User)
def activate_user(user: str):
    return write(200, convert.user(set_user_status(user_param(user), "active")))


@route("PUT", "/users/<user>/password", summary="Change a user's password",
       request=types.UpdateUserPasswordRequest, status=204)
def update_password(user: str):
    row = user_param(user)
    change_password(row, read(types.UpdateUserPasswordRequest))
    return current_app.response_class(status=204)


def change_password(row: UserRow, req: types.UpdateUserPasswordRequest) -> None:
    """Coder's password change (the old one for one's own), ending the user's other
    sessions; the API's and the dashboard's security page."""
    s = store()
    s.authorize_user_change(row.id, Action.UPDATE_PERSONAL, Action.UPDATE)
    if row.login_type != "password":
        raise APIError(400, "Users without password login have no password to change.")
    # As Coder: one's own password needs the old one; an old one given is checked, whoever sends it.
    if row.id == g.subject.id and not req.old_password:
        raise APIError(400, "Old password is required.",
                       validations=[types.ValidationError("old_password", "is required")])
    require_strong(req.password, "Invalid password.")
    if req.old_password and not verify_password(row.hashed_password, req.old_password):
        raise APIError(400, "Old password is incorrect.",
                       validations=[types.ValidationError("old_password", "is incorrect")])
    if verify_password(row.hashed_password, req.password):
        raise APIError(400, "New password cannot match old password.",
                       validations=[types.ValidationError("password", "is the current password")])
    s.update_user_hashed_password(row.id, hash_password(req.password))
    # Other sessions of this user end with the old password; tokens stay.
    s.as_system("password-change-ends-sessions").delete_api_keys_by_user(row.id, "password")
    audit.record("write", "user", row.id, row.username,
                 changes={"hashed_password": {"old": "", "new": "", "secret": True}})


@route("PUT", "/users/<user>/profile", summary="Update a user's username and name",
       request=types.UpdateUserProfileRequest, response=types.User)
def update_profile(user: str):
    return write(200, convert.user(change_profile(user_param(user),
                                                  read(types.UpdateUserProfileRequest))))


def change_profile(row: UserRow, req: types.UpdateUserProfileRequest) -> UserRow:
    """A new username and name (a taken username: 409 at the field), audited."""
    try:
        updated = store().update_user_profile(row.id, username=req.username, name=req.name)
    except psycopg2.errors.UniqueViolation as exc:
        raise _conflict(exc) from None
    audit.record("write", "user", row.id, updated.username,
                 changes=audit.diff(row, updated, ("username", "name")))
    return updated


# --- git SSH keys ---------------------------------------------------------------------

def _public(key: dict) -> object:
    return write(200, convert.from_row(types.GitSSHKey, key))


@route("GET", "/users/<user>/gitsshkey", summary="Get a user's git SSH public key",
       response=types.GitSSHKey)
def get_git_ssh_key(user: str):
    return _public(gitsshkey.of_user(store(), user_param(user).id))


@route("PUT", "/users/<user>/gitsshkey", summary="Regenerate a user's git SSH key",
       response=types.GitSSHKey)
def regenerate_git_ssh_key(user: str):
    row = user_param(user)
    key = store().update_git_ssh_key(row.id, *gitsshkey.generate())
    audit.record("write", "git_ssh_key", row.id, row.username,
                 changes={"public_key": {"old": "", "new": key["public_key"], "secret": False},
                          "private_key": {"old": "", "new": "", "secret": True}})
    return _public(key)


def refuse_own_role_change(user_id: uuid.UUID) -> None:
    """As Coder, no one changes their own roles, site or organization: else a user admin,
    who may assign organization-admin, could make itself one."""
    if user_id == g.subject.id:
        raise APIError(400, "You cannot change your own roles.")


@route("PUT", "/users/<user>/roles", summary="Set a user's site roles", request=types.UpdateRoles,
       response=types.User)
def update_roles(user: str):
    return write(200, convert.user(set_user_roles(user_param(user), read(types.UpdateRoles).roles)))


def set_user_roles(row: UserRow, roles: list[str]) -> UserRow:
    """Coder's rules: not one's own, known roles only, each assignable by the caller."""
    refuse_own_role_change(row.id)
    unknown = [r for r in roles if r not in ASSIGNABLE_ROLES and r != "member"]
    if unknown:
        raise APIError(400, f"Unknown roles: {', '.join(unknown)}.",
                       validations=[types.ValidationError("roles", f"must be among {', '.join(ASSIGNABLE_ROLES)}")])
    wanted = sorted({r for r in roles if r in ASSIGNABLE_ROLES})
    changed = set(wanted) ^ set(row.rbac_roles)
    refused = [r for r in changed if not can_assign(g.subject, r)]
    if refused:
        raise APIError(403, f"You cannot assign or remove the roles: {', '.join(sorted(refused))}.")
    updated = store().update_user_roles(row.id, wanted)
    audit.record("write", "user", row.id, row.username,
                 changes=audit.diff(row, updated, ("rbac_roles",)))
    return updated
