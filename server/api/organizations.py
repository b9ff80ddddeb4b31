"""Organizations and their members. A default organization always exists."""
from __future__ import annotations

import uuid

import psycopg2.errors
from flask import current_app, g

from appliance.sdk import types

from .. import audit
from ..authz.rbac import ORGANIZATION_MEMBER, ORGANIZATION_ROLES
from ..db.queries.users import UserRow
from ..httpapi import APIError, not_found, read, write
from ..httpmw import store
from . import convert
from .router import Router
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
