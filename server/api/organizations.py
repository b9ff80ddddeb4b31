"""Organizations and their members. A default organization always exists."""
from __future__ import annotations

import uuid

import psycopg2.errors
from flask import current_app, g, request

from appliance.sdk import types

from .. import audit
from ..authz.rbac import ORGANIZATION_MEMBER, ORGANIZATION_ROLES, Action, Object, Resource
from ..db.queries.users import UserRow
from ..httpapi import APIError, not_found, query_int, read, write
from ..httpmw import store
from . import convert
from .router import QueryParam, Router
from .users import refuse_own_role_change, user_param

router = Router("organizations", "Organizations")
route = router.route


def organization_param(value: str) -> dict:
    """An organization by ID, by name, or ``default``."""
    s = store()
    if value == "default":
        row = s.get_default_organization()
    else:
        try:
            row = s.get_organization_by_id(uuid.UUID(value))
        except ValueError:
            row = s.get_organization_by_name(value)
    if row is None:
        raise not_found("Organization")
    return row


@route("GET", "/organizations", summary="List organizations the caller can see",
       response=list[types.Organization])
def list_organizations():
    return write(200, [convert.organization(o) for o in store().get_organizations()])


@route("GET", "/organizations/<organization>", summary="Get an organization",
       response=types.Organization)
def get_organization(organization: str):
    return write(200, convert.organization(organization_param(organization)))


@route("GET", "/users/<user>/organizations", summary="Organizations a user belongs to",
       response=list[types.Organization])
def user_organizations(user: str):
    row = user_param(user)
    return write(200, [convert.organization(o) for o in store().get_organizations_by_user(row.id)])


@route("GET", "/users/<user>/organizations/<organizationname>",
       summary="An organization by name, from a user's point of view", response=types.Organization)
def user_organization_by_name(user: str, organizationname: str):
    user_param(user)
    row = store().get_organization_by_name(organizationname)
    if row is None:
        raise not_found("Organization")
    return write(200, convert.organization(row))


def _page(rows: list) -> list:
    """``offset`` and ``limit`` (0: no limit) of the query string applied to ``rows``."""
    offset, limit = query_int("offset", 0), query_int("limit", 0)
    return rows[offset:offset + limit] if limit else rows[offset:]


@route("GET", "/organizations/<organization>/paginated-members",
       summary="A page of an organization's members, and their count",
       response=types.PaginatedMembersResponse,
       query=(QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def paginated_members(organization: str):
    members = store().get_organization_members(organization_param(organization)["id"])
    return write(200, types.PaginatedMembersResponse(
        members=[convert.organization_member(m) for m in _page(members)], count=len(members)))


def _matches(member: dict, search: str) -> bool:
    return any(search in (member[k] or "").lower() for k in ("username", "email", "name"))


@route("GET", "/organizations/<organization>/members/<user>/workspaces/available-users",
       summary="Members the caller may create a workspace for", response=list[types.MinimalUser],
       query=(QueryParam("q", "Search in username, email and name"),
              QueryParam("limit", "Page size", "integer"),
              QueryParam("offset", "Page offset", "integer")))
def workspace_available_users(organization: str, user: str):
    org, _ = _member(organization, user)
    s = store()
    # Anyone may create their own workspaces; this list is for those who create them for others.
    if not s.can(Action.CREATE, Object(Resource.WORKSPACE, org_id=org["id"])):
        raise APIError(403, "You do not have permission to create workspaces for other users.")
    search = request.args.get("q", "").strip().lower()
    members = [m for m in s.get_organization_members(org["id"])
               if m["status"] == "active" and _matches(m, search)]
    return write(200, [convert.from_row(types.MinimalUser, m, id=m["user_id"])
                       for m in _page(members)])


@route("GET", "/organizations/<organization>/members", summary="List an organization's members",
       response=list[types.OrganizationMemberWithUserData])
def list_members(organization: str):
    org = organization_param(organization)
    return write(200, [convert.organization_member(m)
                       for m in store().get_organization_members(org["id"])])


def _member(organization: str, user: str) -> tuple[dict, UserRow]:
    org = organization_param(organization)
    u = user_param(user)
    return org, u


@route("POST", "/organizations/<organization>/members/<user>", summary="Add a user to an organization",
       response=types.OrganizationMember)
def add_member(organization: str, user: str):
    org, u = _member(organization, user)
    try:
        member = store().insert_organization_member(organization_id=org["id"], user_id=u.id, roles=[])
    except psycopg2.errors.UniqueViolation:
        # Coder answers 400 here, not 409.
        raise APIError(400, "Organization member already exists in this organization.") from None
    audit.record("create", "organization_member", u.id, u.username, organization_id=org["id"])
    return write(200, convert.organization_member(member))


@route("PUT", "/organizations/<organization>/members/<user>/roles",
       summary="Set a member's organization roles", request=types.UpdateRoles,
       response=types.OrganizationMember)
def update_member_roles(organization: str, user: str):
    org, u = _member(organization, user)
    req = read(types.UpdateRoles)
    refuse_own_role_change(u.id)
    unknown = [r for r in req.roles if r not in ORGANIZATION_ROLES and r != ORGANIZATION_MEMBER]
    if unknown:
        raise APIError(400, f"Unknown organization roles: {', '.join(unknown)}.",
                       validations=[types.ValidationError("roles", "unknown role")])
    if store().get_organization_member(org["id"], u.id) is None:
        raise not_found("Organization member")
    member = store().update_organization_member_roles(
        org["id"], u.id, sorted(set(req.roles) - {ORGANIZATION_MEMBER}))
    audit.record("write", "organization_member", u.id, u.username, organization_id=org["id"],
                 changes={"roles": {"old": None, "new": member["roles"], "secret": False}})
    return write(200, convert.organization_member(member))


@route("DELETE", "/organizations/<organization>/members/<user>",
       summary="Remove a user from an organization", status=204)
def remove_member(organization: str, user: str):
    org, u = _member(organization, user)
    if u.id == g.subject.id:
        raise APIError(400, "You cannot remove yourself from an organization.")
    if not store().delete_organization_member(org["id"], u.id):
        raise not_found("Organization member")
    audit.record("delete", "organization_member", u.id, u.username, organization_id=org["id"])
    return current_app.response_class(status=204)
