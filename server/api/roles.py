"""Roles as Coder lists them (site and organization, with their permissions), a user's
roles, one organization member, and ``/authcheck``: the caller's own permissions, asked
of the same ``rbac.allowed`` every data access goes through."""
from __future__ import annotations

import uuid

from flask import g

from appliance.sdk import types

from ..authz.rbac import (ASSIGNABLE_ROLES, ORGANIZATION_ROLES, ROLES, Action, Level,
                          NotAuthorized, Object, Resource, Subject, allowed, authorize,
                          can_assign)
from ..authz.querier import authorize_listing, template_obj, user_obj, workspace_obj
from ..httpapi import APIError, not_found, read, write
from ..httpmw import store
from . import convert
from .organizations import organization_param
from .router import Router
from .users import user_param

router = Router("roles", "Authorization")
route = router.route
MAX_RESOURCE_ID_CHECKS = 10  # Coder's bound on checks that name one object
_LEVEL_FIELDS = {Level.SITE: "site_permissions", Level.ORG: "organization_permissions",
                 Level.USER: "user_permissions"}


def _permissions(name: str) -> dict[str, list[types.Permission]]:
    """A role's grants, in Coder's three lists (``*``: every resource or action)."""
    out: dict[str, list[types.Permission]] = {f: [] for f in _LEVEL_FIELDS.values()}
    for perm in ROLES[name][1] if name in ROLES else ():
        resource = perm.resource.value if perm.resource else "*"
        for action in sorted(a.value for a in perm.actions) if perm.actions else ["*"]:
            out[_LEVEL_FIELDS[perm.level]].append(types.Permission(resource, action))
    return out


def _assignable(name: str, display_name: str, organization_id: str = "") -> types.AssignableRoles:
    return types.AssignableRoles(name=name, display_name=display_name,
                                 assignable=can_assign(g.subject, name),
                                 organization_id=organization_id, **_permissions(name))


@route("GET", "/users/roles", summary="Site roles and whether the caller can assign them",
       response=list[types.AssignableRoles])
def site_roles():
    authorize(g.subject, Action.READ, Object(Resource.ROLE))  # as Coder: not with a scoped key
    return write(200, [_assignable(name, ROLES[name][0]) for name in ASSIGNABLE_ROLES])


@route("GET", "/organizations/<organization>/members/roles",
       summary="An organization's roles and whether the caller can assign them",
       response=list[types.AssignableRoles])
def organization_roles(organization: str):
    org_id = str(organization_param(organization)["id"])
    authorize(g.subject, Action.READ, Object(Resource.ROLE))
    return write(200, [_assignable(name, display, org_id)
                       for name, display in ORGANIZATION_ROLES.items()])


@route("GET", "/users/<user>/roles", summary="A user's site roles and organization roles",
       response=types.UserRoles)
def user_roles(user: str):
    row = user_param(user)
    s = store()
    by_org = {}
    for org in s.get_organizations_by_user(row.id):
        member = s.get_organization_member(org["id"], row.id)
        if member is not None:
            by_org[str(org["id"])] = list(member["roles"])
    return write(200, types.UserRoles(roles=[r for r in row.rbac_roles if r in ASSIGNABLE_ROLES],
                                      organization_roles=by_org))


@route("GET", "/organizations/<organization>/members/<user>", summary="Get an organization member",
       response=types.OrganizationMemberWithUserData)
def get_member(organization: str, user: str):
    org = organization_param(organization)
    member = store().get_organization_member(org["id"], user_param(user).id)
    if member is None:
        raise not_found("Organization member")
    return write(200, convert.organization_member(member))


# --- authcheck ------------------------------------------------------------------------

def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# The types a check may name by ID, as Coder's: each looked up to judge the object itself.
_BY_ID = {Resource.WORKSPACE: ("get_workspace_by_id", workspace_obj),
          Resource.TEMPLATE: ("get_template_by_id", template_obj),
          Resource.USER: ("get_user_by_id", user_obj)}


def _object_by_id(resource: Resource, value: str) -> Object | None:
    """The named object as stored, read as the caller: None when it is not there or the
    caller may not read it (so a check is no oracle for others' objects)."""
    object_id = _uuid_or_none(value)
    if object_id is None:
        return None
    query, obj_of = _BY_ID[resource]
    try:
        row = getattr(store(), query)(object_id)
    except NotAuthorized:
        return None
    return obj_of(row) if row is not None else None


def check_one(subject: Subject, check: types.AuthorizationCheck) -> bool:
    """Whether ``subject`` may do the check's action on the set of objects it describes.
    Unknown resource types and actions are not allowed (Coder's authorizer refuses them)."""
    try:
        resource, action = Resource(check.object.resource_type), Action(check.action)
    except ValueError:
        return False
    o = check.object
    if o.resource_id and resource in _BY_ID:
        obj = _object_by_id(resource, o.resource_id)
        return obj is not None and allowed(subject, action, obj)
    owner = subject.id if o.owner_id == "me" else _uuid_or_none(o.owner_id)
    orgs = subject.org_ids if o.any_org else {_uuid_or_none(o.organization_id)}
    return any(allowed(subject, action, Object(resource, o.resource_id or None, owner_id=owner,
                                               org_id=org_id))
               for org_id in orgs or {None})


@route("POST", "/authcheck", summary="Check the caller's permissions (Coder's authcheck)",
       request=types.AuthorizationRequest, response=dict[str, bool])
def authcheck():
    authorize_listing(g.subject, Action.READ)  # a key scoped to apps may not ask
    req = read(types.AuthorizationRequest)
    if sum(1 for c in req.checks.values() if c.object.resource_id) > MAX_RESOURCE_ID_CHECKS:
        raise APIError(400, f'Endpoint only supports using "resource_id" field '
                            f'{MAX_RESOURCE_ID_CHECKS} times, found '
                            f'{sum(1 for c in req.checks.values() if c.object.resource_id)} usages. '
                            'Remove the "resource_id" field from some checks.')
    for key, check in req.checks.items():
        if not check.object.resource_type:
            raise APIError(400, f'Object\'s "resource_type" field must be defined for key "{key}".')
        if check.object.resource_id and check.object.resource_type not in _BY_ID:
            raise APIError(400, f'Object type "{check.object.resource_type}" does not support '
                                '"resource_id" field.')
        if check.object.any_org and check.object.organization_id:
            raise APIError(400, f'Object\'s "any_org" cannot be set with "organization_id" '
                                f'for key "{key}".')
    return write(200, {key: check_one(g.subject, check) for key, check in req.checks.items()})
