"""Roles and the one ``authorize`` decision every data access goes through.

Modelled on Coder's RBAC: a permission grants actions on a resource type at a
level. ``site`` covers every object, ``org`` the objects of organizations the
subject belongs to, ``user`` the objects the subject owns. Roles are data, so
the docs table and the route-by-role test read the same source.
"""
from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass, field


class Action(str, enum.Enum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    # Reading and changing one's own profile, password and keys: split from
    # UPDATE so a member can change their password but not their roles.
    READ_PERSONAL = "read_personal"
    UPDATE_PERSONAL = "update_personal"
    ASSIGN = "assign"
    # Opening streams into a workspace (SSH, port forwards, terminal) and its
    # owner-shared apps, as Coder's ActionSSH and ActionApplicationConnect.
    SSH = "ssh"
    APPLICATION_CONNECT = "application_connect"


class Resource(str, enum.Enum):
    USER = "user"
    API_KEY = "api_key"
    ORGANIZATION = "organization"
    ORGANIZATION_MEMBER = "organization_member"
    AUDIT_LOG = "audit_log"
    ROLE = "assign_role"
    DEPLOYMENT_CONFIG = "deployment_config"
    DEPLOYMENT_STATS = "deployment_stats"
    FILE = "file"
    TEMPLATE = "template"
    WORKSPACE = "workspace"
    PROVISIONER_DAEMON = "provisioner_daemon"
    PROVISIONER_JOB = "provisioner_jobs"
    WORKSPACE_PROXY = "workspace_proxy"
    SYSTEM = "system"


class Level(str, enum.Enum):
    SITE = "site"
    ORG = "org"
    USER = "user"


@dataclass(frozen=True)
class Permission:
    level: Level
    resource: Resource | None  # None: every resource
    actions: frozenset[Action] | None  # None: every action

    def grants(self, resource: Resource, action: Action) -> bool:
        return ((self.resource is None or self.resource == resource)
                and (self.actions is None or action in self.actions))


def _p(level: Level, resource: Resource | None, *actions: Action) -> Permission:
    return Permission(level, resource, frozenset(actions) if actions else None)


A = Action
R = Resource
L = Level
ALL = ()  # every action

OWNER = "owner"
TEMPLATE_ADMIN = "template-admin"
USER_ADMIN = "user-admin"
AUDITOR = "auditor"
MEMBER = "member"

ROLES: dict[str, tuple[str, tuple[Permission, ...]]] = {
    OWNER: ("Owner", (
        _p(L.SITE, None),
    )),
    TEMPLATE_ADMIN: ("Template Admin", (
        _p(L.SITE, R.TEMPLATE),
        _p(L.SITE, R.FILE),
        _p(L.SITE, R.PROVISIONER_DAEMON),
        _p(L.SITE, R.PROVISIONER_JOB),
        _p(L.SITE, R.WORKSPACE, A.READ),
        _p(L.SITE, R.USER, A.READ),
        _p(L.SITE, R.ORGANIZATION_MEMBER, A.READ),
    )),
    USER_ADMIN: ("User Admin", (
        _p(L.SITE, R.USER, A.CREATE, A.READ, A.UPDATE, A.DELETE, A.READ_PERSONAL),
        _p(L.SITE, R.ORGANIZATION_MEMBER),
        _p(L.SITE, R.ROLE, A.READ, A.ASSIGN),
    )),
    AUDITOR: ("Auditor", (
        _p(L.SITE, R.AUDIT_LOG, A.READ),
        _p(L.SITE, R.USER, A.READ),
        _p(L.SITE, R.TEMPLATE, A.READ),
        _p(L.SITE, R.ORGANIZATION_MEMBER, A.READ),
    )),
    MEMBER: ("Member", (
        _p(L.USER, R.USER, A.READ, A.READ_PERSONAL, A.UPDATE_PERSONAL),
        _p(L.USER, R.API_KEY),
        _p(L.USER, R.WORKSPACE),
        _p(L.ORG, R.ORGANIZATION, A.READ),
        _p(L.ORG, R.ORGANIZATION_MEMBER, A.READ),
        _p(L.ORG, R.TEMPLATE, A.READ),
        _p(L.ORG, R.FILE, A.READ),
        _p(L.ORG, R.PROVISIONER_DAEMON, A.READ),
        _p(L.SITE, R.ROLE, A.READ),
        _p(L.SITE, R.WORKSPACE_PROXY, A.READ),  # Coder's: everyone sees the regions
    )),
}
# Roles a user can hold explicitly; member is implied for everyone.
ASSIGNABLE_ROLES = (OWNER, TEMPLATE_ADMIN, USER_ADMIN, AUDITOR)
# Coder's organization roles, which a member may hold in an organization. They are kept
# and shown as Coder does; with the one default organization, the site roles decide.
ORGANIZATION_ROLES: dict[str, str] = {
    "organization-admin": "Organization Admin",
    "organization-auditor": "Organization Auditor",
    "organization-user-admin": "Organization User Admin",
    "organization-template-admin": "Organization Template Admin",
}
ORGANIZATION_MEMBER = "organization-member"

ALL_SCOPE = "all"
APPLICATION_CONNECT_SCOPE = "application_connect"
# What an API key's scope lets it do, on top of what its user's roles allow (as Coder's
# rbac/scopes.go: a subject may do what both its roles and its scope allow). None: no
# limit. A scope not listed allows nothing.
SCOPES: dict[str, tuple[Permission, ...] | None] = {
    ALL_SCOPE: None,
    # Coder's: opening workspace apps (the app proxy), nothing of the API.
    APPLICATION_CONNECT_SCOPE: (_p(L.SITE, R.WORKSPACE, A.APPLICATION_CONNECT),),
}


@dataclass(frozen=True)
class Object:
    """What is being accessed: its type and who owns it."""
    resource: Resource
    id: uuid.UUID | str | None = None
    owner_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Subject:
    """Who is acting: a user with roles, or a named system actor."""
    id: uuid.UUID | None
    roles: tuple[str, ...]
    org_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    name: str = ""  # system actors say who they are, for the logs
    # A workspace agent, authenticated by its token: it holds no role and reaches
    # only its own agent's rows, through the agent policies of the querier.
    agent_id: uuid.UUID | None = None
    scope: str = ALL_SCOPE  # the API key's (SCOPES)

    @property
    def is_system(self) -> bool:
        return self.id is None and self.agent_id is None


def system(reason: str) -> Subject:
    """A named actor for work coderd does itself (migrations, login, the reaper)."""
    if not reason:
        raise ValueError("a system actor needs a reason")
    return Subject(id=None, roles=(OWNER,), name=f"system:{reason}")


def workspace_agent(agent_id: uuid.UUID) -> Subject:
    """The actor of a request made with a workspace agent's token."""
    return Subject(id=None, roles=(), name=f"agent:{agent_id}", agent_id=agent_id)


class NotAuthorized(Exception):
    """The subject may not do this. Handlers answer 404 for reads, like Coder."""

    def __init__(self, subject: Subject, action: Action, obj: Object):
        super().__init__(f"{subject.name or subject.id} may not {action.value} {obj.resource.value}")
        self.action = action
        self.obj = obj


@functools.lru_cache(maxsize=256)
def permissions(roles: tuple[str, ...]) -> tuple[Permission, ...]:
    perms: list[Permission] = []
    for role in sorted(set(roles) | {MEMBER}):
        if role in ROLES:
            perms.extend(ROLES[role][1])
    return tuple(perms)


@functools.lru_cache(maxsize=1024)
def allowed_site_wide(roles: tuple[str, ...], action: Action, resource: Resource) -> bool:
    """Whether these roles may act on every object of ``resource``, whoever owns it."""
    return any(p.level is L.SITE and p.grants(resource, action) for p in permissions(roles))


def scope_allows(scope: str, action: Action, resource: Resource | None = None) -> bool:
    """Whether a key of this scope may do ``action`` on ``resource`` (on some resource: None)."""
    perms = SCOPES.get(scope, ())
    if perms is None:
        return True
    return any(p.grants(resource, action) if resource is not None
               else p.actions is None or action in p.actions for p in perms)


def allowed(subject: Subject, action: Action, obj: Object) -> bool:
    if subject.agent_id is not None:  # agents hold no role; see the querier's agent policies
        return False
    if not scope_allows(subject.scope, action, obj.resource):
        return False
    for perm in permissions(subject.roles):
        if not perm.grants(obj.resource, action):
            continue
        if perm.level is L.SITE:
            return True
        if perm.level is L.ORG and obj.org_id is not None and obj.org_id in subject.org_ids:
            return True
        if perm.level is L.USER and obj.owner_id is not None and obj.owner_id == subject.id:
            return True
    return False


def authorize(subject: Subject, action: Action, obj: Object) -> None:
    if not allowed(subject, action, obj):
        raise NotAuthorized(subject, action, obj)


def can_assign(subject: Subject, role: str) -> bool:
    """Owners assign any role; user admins every role but owner."""
    return allowed(subject, A.ASSIGN, Object(R.ROLE)) and (role != OWNER or OWNER in subject.roles)


def may_change_user(subject: Subject, user_id: uuid.UUID, roles: list[str] | tuple[str, ...]
                    ) -> bool:
    """Coder's role hierarchy, for every change to a user (profile, password, status, roles,
    memberships, keys, deletion): one's own account, or one whose every role the subject
    could assign. So an owner is changed only by owners, whatever else a role allows."""
    if subject.is_system or user_id == subject.id:
        return True
    return all(can_assign(subject, role) for role in roles)
