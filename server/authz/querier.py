"""The authorization layer every data access passes through.

``AuthzQuerier`` mirrors ``Queries`` method for method (a test walks both to
prove none is missing), as Coder's dbauthz does. Each method is declared with
the policy that guards it:

- ``fetch``: run the query, then authorize the row it returned;
- ``post_filter``: run the query, drop the rows the subject may not see;
- ``check``: authorize before running, from the query's arguments;
- ``system_only``: only named system actors (``as_system(reason)``).

The query code holds no policy and the handlers hold no SQL.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import uuid
from typing import Any, Callable

from server.db.queries import Queries
from server.db.queries.users import UserPageRow, UserRow

from .rbac import (Action, NotAuthorized, Object, Resource, Subject, allowed, allowed_site_wide,
                   authorize, may_change_user, scope_allows, system)

A = Action
R = Resource
ObjectOf = Callable[[Any], Object]  # a row: a dict, or a named tuple (users)


def user_obj(row: UserRow | UserPageRow) -> Object:
    user_id = row.id
    if isinstance(user_id, str):  # a page of users, whose IDs come as text
        user_id = uuid.UUID(user_id)
    return Object(R.USER, user_id, owner_id=user_id)


def api_key_obj(row: dict) -> Object:
    return Object(R.API_KEY, row["id"], owner_id=row["user_id"])


def org_obj(row: dict) -> Object:
    return Object(R.ORGANIZATION, row["id"], org_id=row["id"])


def job_obj(row: dict) -> Object:
    """A job is guarded as what it builds: a workspace build as the workspace, a dry run as a
    workspace of its initiator (as Coder checks it), an import as the template."""
    if row["type"] in ("workspace_build", "template_version_dry_run"):  # a dry run: the initiator's
        owner = row["input"].get("workspace_owner_id") or row["initiator_id"]
        return Object(R.WORKSPACE, row["id"], owner_id=uuid.UUID(str(owner)),
                      org_id=row["organization_id"])
    return Object(R.TEMPLATE, row["id"], org_id=row["organization_id"])


def daemon_obj(row: dict) -> Object:
    return Object(R.PROVISIONER_DAEMON, row["id"], org_id=row["organization_id"])


def member_obj(row: dict) -> Object:
    return Object(R.ORGANIZATION_MEMBER, row["user_id"], owner_id=row["user_id"],
                  org_id=row["organization_id"])


class _Policy:
    """A descriptor that binds a policy to the same-named method of Queries."""

    def __init__(self, run: Callable[..., Any]):
        self.run = run
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.signature = inspect.signature(getattr(Queries, name))

    def __get__(self, querier: "AuthzQuerier | None", owner: type) -> Any:
        if querier is None:
            return self
        inner = getattr(querier._queries, self.name)

        @functools.wraps(inner)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return self.run(self, querier, inner, args, kwargs)
        return bound

    def arguments(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        bound = self.signature.bind(None, *args, **kwargs)
        bound.apply_defaults()
        return bound.arguments


def fetch(action: Action, obj_of: ObjectOf) -> _Policy:
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None:
            authorize(q.subject, action, obj_of(row))
        return row
    return _Policy(run)


def authorize_listing(subject: Subject, action: Action) -> None:
    """A key whose scope allows ``action`` on nothing is refused a list outright (403), rather
    than shown an empty one: an application_connect token lists nothing."""
    if not scope_allows(subject.scope, action):
        raise NotAuthorized(subject, action, Object(R.SYSTEM))


def post_filter(action: Action, obj_of: ObjectOf) -> _Policy:
    def run(policy, q, inner, args, kwargs):
        authorize_listing(q.subject, action)
        rows = inner(*args, **kwargs)
        if not rows or (q.subject.agent_id is None
                        and allowed_site_wide(q.subject.roles, action, obj_of(rows[0]).resource)):
            return rows  # a site-wide grant sees every row: no per-row checks
        return [row for row in rows if allowed(q.subject, action, obj_of(row))]
    return _Policy(run)


def _authorize_any(subject: Subject, obj: Object, actions: tuple[Action, ...]) -> None:
    if not any(allowed(subject, a, obj) for a in actions):
        raise NotAuthorized(subject, actions[0], obj)


def _authorize_user_change(q: "AuthzQuerier", action: Action, obj: Object) -> None:
    """The role hierarchy (``rbac.may_change_user``) on the user who owns ``obj``."""
    user_id = obj.owner_id
    if q.subject.is_system or user_id == q.subject.id:
        return
    user = q._queries.get_user_by_id(user_id)
    if user is not None and not may_change_user(q.subject, user_id, user.rbac_roles):
        raise NotAuthorized(q.subject, action, obj)


def check(obj_of_args: Callable[[dict], Object], *actions: Action) -> _Policy:
    """Authorize before running; any one of ``actions`` suffices."""
    def run(policy, q, inner, args, kwargs):
        _authorize_any(q.subject, obj_of_args(policy.arguments(args, kwargs)), actions)
        return inner(*args, **kwargs)
    return _Policy(run)


def user_change(obj_of_args: Callable[[dict], Object], *actions: Action) -> _Policy:
    """``check``, then the role hierarchy on the user the object belongs to: a change to
    another user needs the right to assign each of their roles."""
    def run(policy, q, inner, args, kwargs):
        obj = obj_of_args(policy.arguments(args, kwargs))
        _authorize_any(q.subject, obj, actions)
        _authorize_user_change(q, actions[0], obj)
        return inner(*args, **kwargs)
    return _Policy(run)


def via_job(action: Action) -> _Policy:
    """Authorize ``action`` on the job named by the ``job_id`` argument, then run."""
    def run(policy, q, inner, args, kwargs):
        job = q._queries.get_provisioner_job_by_id(policy.arguments(args, kwargs)["job_id"])
        if job is None:
            raise NotAuthorized(q.subject, A.READ, Object(R.PROVISIONER_JOB, "missing"))
        authorize(q.subject, A.READ, job_obj(job))
        authorize(q.subject, action, job_obj(job))
        return inner(*args, **kwargs)
    return _Policy(run)


def system_only() -> _Policy:
    def run(policy, q, inner, args, kwargs):
        if not q.subject.is_system:
            raise NotAuthorized(q.subject, A.READ, Object(R.SYSTEM, policy.name))
        return inner(*args, **kwargs)
    return _Policy(run)


def _user_arg(name: str = "user_id") -> Callable[[dict], Object]:
    return lambda a: Object(R.USER, a[name], owner_id=a[name])


def _owned(resource: Resource, name: str = "user_id") -> Callable[[dict], Object]:
    return lambda a: Object(resource, owner_id=a[name])


def _member_arg(a: dict) -> Object:
    return Object(R.ORGANIZATION_MEMBER, a["user_id"], owner_id=a["user_id"], org_id=a["organization_id"])


class AuthzQuerier:
    """Queries as seen by one subject."""

    def __init__(self, queries: Queries, subject: Subject):
        self._queries = queries
        self.subject = subject

    def as_system(self, reason: str) -> "AuthzQuerier":
        """The same connection acting as coderd itself; ``reason`` says why, for review."""
        return AuthzQuerier(self._queries, system(reason))

    def transaction(self) -> contextlib.AbstractContextManager:
        return self._queries.transaction()

    def can(self, action: Action, obj: Object) -> bool:
        return allowed(self.subject, action, obj)

    def authorize_user_change(self, user_id: uuid.UUID, *actions: Action) -> None:
        """What ``user_change`` checks, for a handler that must know it before it looks at the
        user's secrets (an old password checked for someone else would be an oracle)."""
        obj = Object(R.USER, user_id, owner_id=user_id)
        _authorize_any(self.subject, obj, actions)
        _authorize_user_change(self, actions[0], obj)

    # users
    insert_user = check(lambda a: Object(R.USER), A.CREATE)
    get_user_by_id = fetch(A.READ, user_obj)
    get_user_by_username = fetch(A.READ, user_obj)
    get_user_by_email_or_username = system_only()
    get_user_count = system_only()
    get_users = post_filter(A.READ, user_obj)
    # Changes to a user: the action, and the role hierarchy (user_change).
    update_user_status = user_change(_user_arg(), A.UPDATE)
    update_user_hashed_password = user_change(_user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    update_user_roles = user_change(_user_arg(), A.UPDATE)
    update_user_profile = user_change(_user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    update_user_last_seen = system_only()
    delete_user = user_change(_user_arg(), A.DELETE)
    # git SSH keys: the user's own personal data (Coder's user_data); made by coderd itself
    # (at user creation, or first use for older users); an agent reaches its owner's through
    # get_workspace_agent_owner_id, as the system.
    get_git_ssh_key = check(_user_arg(), A.READ_PERSONAL)
    insert_git_ssh_key = system_only()
    update_git_ssh_key = user_change(_user_arg(), A.UPDATE_PERSONAL)

    # organizations
    insert_organization = check(lambda a: Object(R.ORGANIZATION), A.CREATE)
    get_default_organization = fetch(A.READ, org_obj)
    get_organization_by_id = fetch(A.READ, org_obj)
    get_organization_by_name = fetch(A.READ, org_obj)
    get_organizations = post_filter(A.READ, org_obj)
    get_organizations_by_user = post_filter(A.READ, org_obj)
    insert_organization_member = user_change(_member_arg, A.CREATE)
    get_organization_member = fetch(A.READ, member_obj)
    get_organization_members = post_filter(A.READ, member_obj)
    update_organization_member_roles = user_change(_member_arg, A.UPDATE)
    delete_organization_member = user_change(_member_arg, A.DELETE)

    # API keys
    insert_api_key = user_change(_owned(R.API_KEY), A.CREATE)
    get_api_key_by_id = fetch(A.READ, api_key_obj)
    get_api_key_by_name = fetch(A.READ, api_key_obj)
    get_api_keys_by_user = post_filter(A.READ, api_key_obj)
    get_api_keys_by_login_type = post_filter(A.READ, api_key_obj)
    get_authentication = system_only()
    update_api_key_used = system_only()
    delete_api_keys_by_user = user_change(_owned(R.API_KEY), A.DELETE)

    def delete_api_key(self, key_id: str) -> int:
        if not self._authorize_key_change(key_id, A.DELETE):
            return 0
        return self._queries.delete_api_key(key_id)

    def expire_api_key(self, key_id: str) -> None:
        """An update of the key, as Coder's UpdateAPIKeyByID."""
        if self._authorize_key_change(key_id, A.UPDATE):
            self._queries.expire_api_key(key_id)

    def _authorize_key_change(self, key_id: str, action: Action) -> bool:
        """Read and ``action`` on the key, and the role hierarchy on its owner (False: no key)."""
        key = self._queries.get_api_key_by_id(key_id)
        if key is None:
            return False
        authorize(self.subject, A.READ, api_key_obj(key))
        authorize(self.subject, action, api_key_obj(key))
        _authorize_user_change(self, action, api_key_obj(key))
        return True

    # audit
    insert_audit_log = system_only()
    get_audit_logs = check(lambda a: Object(R.AUDIT_LOG), A.READ)

    # deployment
    get_deployment_value = system_only()
    insert_deployment_value = system_only()

    # provisioner jobs: users reach them through what they build; daemons act as
    # the named system actor "provisionerd".
    insert_provisioner_job = check(
        lambda a: job_obj({"type": a["type"], "id": None, "input": a["input"],
                           "initiator_id": a["initiator_id"], "organization_id": a["organization_id"]}),
        A.CREATE, A.UPDATE)
    get_provisioner_job_by_id = fetch(A.READ, job_obj)
    get_provisioner_jobs_by_ids = post_filter(A.READ, job_obj)
    get_queue_position = via_job(A.READ)
    cancel_provisioner_job = via_job(A.UPDATE)
    get_provisioner_job_logs_after = via_job(A.READ)
    acquire_provisioner_job = system_only()
    update_provisioner_job_heartbeat = system_only()
    complete_provisioner_job = system_only()
    fail_stale_provisioner_jobs = system_only()
    insert_provisioner_job_logs = system_only()
    upsert_provisioner_daemon = system_only()
    update_provisioner_daemon_seen = system_only()
    get_provisioner_daemon_by_id = fetch(A.READ, daemon_obj)
    get_provisioner_daemons = post_filter(A.READ, daemon_obj)
    # Any user may learn whether a daemon could take their job (Coder reads them as
    # the system for it): counts only, no daemon's name or tags.
    get_matched_provisioners = check(lambda a: org_obj({"id": a["organization_id"]}), A.READ)
    get_latest_provisioner_jobs_by_workers = post_filter(A.READ, job_obj)
    # Coder's rule for these pages: the organization's jobs, for those who manage them
    # (owners and template admins), whatever the jobs build.
    get_provisioner_jobs_by_organization = check(
        lambda a: Object(R.PROVISIONER_JOB, a["organization_id"], org_id=a["organization_id"]),
        A.READ)
    get_version_job_context = system_only()
    get_build_job_context = system_only()
    get_build_parameter_values = system_only()
    get_job_archive = system_only()
    insert_template_version_parameters = system_only()
    insert_template_version_presets = system_only()
    insert_template_version_variables = system_only()
    insert_workspace_resources = system_only()
    update_workspace_build_state = system_only()
    mark_workspace_deleted = system_only()


def public_query_methods() -> list[str]:
    """What the accounting test walks: every public method of Queries."""
    return sorted(name for name, value in inspect.getmembers(Queries, inspect.isfunction)
                  if not name.startswith("_") and name != "transaction")


# --- files, templates, workspaces (the API's half of issue 3) ----------------------
# Attached to AuthzQuerier below, so the accounting test sees them like the others.
from dataclasses import dataclass  # noqa: E402

from .rbac import Level, permissions  # noqa: E402


@dataclass(frozen=True)
class Visibility:
    """Which rows of a resource a subject may see, for queries that filter in SQL."""
    all: bool
    owner_id: uuid.UUID | None
    org_ids: frozenset


def visibility(subject: Subject, action: Action, resource: Resource) -> Visibility:
    authorize_listing(subject, action)
    granted = [p for p in permissions(subject.roles) if p.grants(resource, action)]
    return Visibility(
        all=any(p.level is Level.SITE for p in granted),
        owner_id=subject.id if any(p.level is Level.USER for p in granted) else None,
        org_ids=subject.org_ids if any(p.level is Level.ORG for p in granted) else frozenset())


def file_obj(row: dict) -> Object:
    return Object(R.FILE, row["id"], owner_id=row["created_by"])


def template_obj(row: dict) -> Object:
    """Templates and their versions: guarded as the template, by organization."""
    return Object(R.TEMPLATE, row["id"], org_id=row["organization_id"])


def workspace_obj(row: dict) -> Object:
    return Object(R.WORKSPACE, row["id"], owner_id=row["owner_id"], org_id=row["organization_id"])


def build_obj(row: dict) -> Object:
    """Builds and their parameters: guarded as the workspace."""
    return Object(R.WORKSPACE, row.get("build_id") or row["id"], owner_id=row["workspace_owner_id"],
                  org_id=row["organization_id"])


def resource_obj(row: dict) -> Object:
    """What a job made is guarded as the job (a build's as the workspace, an import's as the template)."""
    return job_obj({"type": row["job_type"], "id": row["id"], "input": row["job_input"],
                    "initiator_id": row["job_initiator_id"],
                    "organization_id": row["job_organization_id"]})


def via_row(loader: str, arg: str, obj_of: ObjectOf, action: Action,
            action_of: Callable[[dict], Action] | None = None) -> _Policy:
    """Load the row named by argument ``arg`` (with the raw query ``loader``), authorize
    reading it and ``action`` (or ``action_of(arguments)``) on it, then run."""
    def run(policy, q, inner, args, kwargs):
        arguments = policy.arguments(args, kwargs)
        row = getattr(q._queries, loader)(arguments[arg])
        if row is None:
            raise NotAuthorized(q.subject, A.READ, Object(R.SYSTEM, "missing"))
        authorize(q.subject, A.READ, obj_of(row))
        authorize(q.subject, action_of(arguments) if action_of else action, obj_of(row))
        return inner(*args, **kwargs)
    return _Policy(run)


def scoped(action: Action, resource: Resource) -> _Policy:
    """Hand the query the caller's visibility, so it filters (and counts) in SQL."""
    def run(policy, q, inner, args, kwargs):
        return inner(*args, **{**kwargs, "visible": visibility(q.subject, action, resource)})
    return _Policy(run)


def _org_template(a: dict) -> Object:
    return Object(R.TEMPLATE, org_id=a["organization_id"])


_TEMPLATE = ("get_template_by_id", "template_id", template_obj)
_VERSION = ("get_template_version_by_id", "version_id", template_obj)
_WORKSPACE = ("get_workspace_by_id", "workspace_id", workspace_obj)

_PROVISIONING_POLICIES: dict[str, _Policy] = {
    # files: uploaded by template admins, read by them (and the provisioner, as system)
    "insert_file": check(lambda a: Object(R.FILE, owner_id=a["created_by"]), A.CREATE),
    "get_file_by_id": fetch(A.READ, file_obj),
    # templates and versions
    "insert_template": check(_org_template, A.CREATE),
    "get_template_by_id": fetch(A.READ, template_obj),
    "get_template_by_organization_and_name": fetch(A.READ, template_obj),
    "get_templates": post_filter(A.READ, template_obj),
    "update_template_meta": via_row(*_TEMPLATE, A.UPDATE),
    "update_template_active_version": via_row(*_TEMPLATE, A.UPDATE),
    "delete_template": via_row(*_TEMPLATE, A.DELETE),
    "get_workspace_count_by_template_id": via_row(*_TEMPLATE, A.READ),
    "get_template_build_time": via_row(*_TEMPLATE, A.READ),
    "insert_template_version": check(_org_template, A.CREATE, A.UPDATE),
    "get_template_version_by_id": fetch(A.READ, template_obj),
    "get_template_version_by_job_id": fetch(A.READ, template_obj),
    "get_template_version_by_template_and_name": fetch(A.READ, template_obj),
    "get_template_versions_by_template_id": post_filter(A.READ, template_obj),
    "update_template_version_template_id": via_row(*_VERSION, A.UPDATE),
    "get_previous_template_version": fetch(A.READ, template_obj),
    "archive_unused_template_versions": via_row(*_TEMPLATE, A.UPDATE),
    "unarchive_template_version": via_row(*_VERSION, A.UPDATE),
    "update_template_version": via_row(*_VERSION, A.UPDATE),
    "delete_import_checks": system_only(),  # coderd check-import, as system("install-check")
    "get_template_version_parameters": via_row("get_template_version_by_id",
                                               "template_version_id", template_obj, A.READ),
    "get_template_version_variables": via_row("get_template_version_by_id",
                                              "template_version_id", template_obj, A.READ),
    "get_template_version_presets": via_row("get_template_version_by_id",
                                            "template_version_id", template_obj, A.READ),
    # workspaces and builds: members reach only their own
    "insert_workspace": check(lambda a: Object(R.WORKSPACE, owner_id=a["owner_id"],
                                               org_id=a["organization_id"]), A.CREATE),
    "get_workspace_by_id": fetch(A.READ, workspace_obj),
    "get_workspace_by_owner_and_name": fetch(A.READ, workspace_obj),
    "get_workspaces": scoped(A.READ, R.WORKSPACE),
    "update_workspace_ttl": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_name": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_autostart": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_next_start_at": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_favorite": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_automatic_updates": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_last_used": via_row(*_WORKSPACE, A.UPDATE),
    "get_workspace_port_shares": via_row(*_WORKSPACE, A.READ),
    "upsert_workspace_port_share": via_row(*_WORKSPACE, A.UPDATE),
    "delete_workspace_port_share": via_row(*_WORKSPACE, A.UPDATE),
    "update_workspace_build_deadline": via_row(*_WORKSPACE, A.UPDATE),
    "get_workspaces_to_autostart": system_only(),
    "get_workspaces_to_autostop": system_only(),
    # Deleting a workspace takes the delete permission; starting and stopping, update.
    "insert_workspace_build": via_row(
        *_WORKSPACE, A.UPDATE,
        action_of=lambda a: A.DELETE if a["transition"] == "delete" else A.UPDATE),
    "get_workspace_build_by_id": fetch(A.READ, build_obj),
    "get_workspace_build_by_job_id": fetch(A.READ, build_obj),
    "get_workspace_build_by_number": fetch(A.READ, build_obj),
    # Terraform state holds the workspace's secrets: template admins only, as Coder, who
    # check the template before reading it as the system.
    "get_workspace_build_state": system_only(),
    "get_workspace_builds_by_workspace_id": post_filter(A.READ, build_obj),
    "get_latest_workspace_builds_by_workspace_ids": post_filter(A.READ, build_obj),
    "get_workspace_build_parameters": post_filter(A.READ, build_obj),
    "get_workspace_resources_by_job_ids": post_filter(A.READ, resource_obj),
}
for _name, _policy in _PROVISIONING_POLICIES.items():
    setattr(AuthzQuerier, _name, _policy)
    _policy.__set_name__(AuthzQuerier, _name)


# --- workspace agents (issue 4) ------------------------------------------------------
# An agent subject (rbac.workspace_agent) reaches only its own agent's rows; users
# reach an agent's rows as they reach its workspace; system actors (authentication,
# the relay recording connections) reach all.

def agent_obj(row: dict) -> Object:
    return Object(R.WORKSPACE, row["workspace_id"], owner_id=row["owner_id"],
                  org_id=row["organization_id"])


def _is_agent(subject: Subject, agent_id: Any) -> bool:
    return subject.agent_id is not None and str(subject.agent_id) == str(agent_id)


def agent_self(arg: str = "agent_id") -> _Policy:
    """Writes: only the agent named by ``arg`` (or a system actor)."""
    def run(policy, q, inner, args, kwargs):
        agent_id = policy.arguments(args, kwargs)[arg]
        if not (q.subject.is_system or _is_agent(q.subject, agent_id)):
            raise NotAuthorized(q.subject, A.UPDATE, Object(R.WORKSPACE, agent_id))
        return inner(*args, **kwargs)
    return _Policy(run)


def agent_read(arg: str = "agent_id") -> _Policy:
    """Reads: the agent itself, or whoever may read the agent's workspace."""
    def run(policy, q, inner, args, kwargs):
        agent_id = policy.arguments(args, kwargs)[arg]
        if not _is_agent(q.subject, agent_id):
            row = q._queries._agent_workspace(agent_id)
            if row is None:
                raise NotAuthorized(q.subject, A.READ, Object(R.SYSTEM, "missing"))
            authorize(q.subject, A.READ, agent_obj(row))
        return inner(*args, **kwargs)
    return _Policy(run)


def agent_fetch() -> _Policy:
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None and not _is_agent(q.subject, row["id"]):
            authorize(q.subject, A.READ, agent_obj(row))
        return row
    return _Policy(run)


_AGENT_POLICIES: dict[str, _Policy] = {
    "get_workspace_agent_by_auth_token": system_only(),
    "get_workspace_agent_by_id": agent_fetch(),
    "get_workspace_agent_log_sources": agent_read(),
    "get_workspace_agent_logs_after": agent_read(),
    "get_workspace_agent_metadata": agent_read(),
    "get_workspace_agent_stats": agent_read(),
    "update_workspace_agent_connection": agent_self(),
    "update_workspace_agent_disconnected": agent_self(),
    "update_workspace_agent_lifecycle": agent_self(),
    "update_workspace_agent_startup": agent_self(),
    "insert_workspace_agent_log_source": agent_self(),
    "insert_workspace_agent_logs": agent_self(),
    "insert_workspace_agent_stats": agent_self(),
    "update_workspace_app_health": agent_self(),
    "update_workspace_agent_metadata": agent_self(),
    "get_workspace_agent_owner_id": agent_self(),
}
for _name, _policy in _AGENT_POLICIES.items():
    setattr(AuthzQuerier, _name, _policy)
    _policy.__set_name__(AuthzQuerier, _name)


# --- relay: streams into workspaces (issue 4, connectivity) ---------------------------
# Opening a stream (SSH, port forward, terminal, listening ports) takes the ssh
# action on the workspace: its owner, and deployment owners, as in Coder. Apps
# follow their sharing level; system actors (an unauthenticated request) reach
# only public ones.

def connect() -> _Policy:
    """Read the agent's workspace (404 otherwise), then the ssh action on it (403 otherwise)."""
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None:
            authorize(q.subject, A.READ, agent_obj(row))
            authorize(q.subject, A.SSH, agent_obj(row))
        return row
    return _Policy(run)


def _shared_with(subject: Subject, row: dict) -> bool:
    """Whether the row's sharing level lets ``subject`` in: public, anyone; authenticated,
    any user; organization, the workspace's organization's members."""
    level = row["sharing_level"]
    return level == "public" or (subject.id is not None and (
        level == "authenticated" or (level == "organization"
                                     and row["organization_id"] in subject.org_ids)))


def shared_connect(action: Action) -> _Policy:
    """An app or port: let in by its sharing level, or else by ``action`` on the workspace
    (never a system actor: before login the store acts as one)."""
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is None or _shared_with(q.subject, row):
            return row
        obj = agent_obj(row)
        if q.subject.is_system or not allowed(q.subject, action, obj):
            raise NotAuthorized(q.subject, action, obj)
        return row
    return _Policy(run)


_RELAY_POLICIES: dict[str, _Policy] = {
    "upsert_relay_process": system_only(),
    "heartbeat_relay_process": system_only(),
    "delete_relay_process": system_only(),
    "upsert_relay_agent": system_only(),
    "delete_relay_agent": system_only(),
    "update_relay_agents_connected": system_only(),
    "get_relay_address": system_only(),
    "get_agent_connect_target": connect(),
    "get_agents_by_workspace_path": system_only(),
    "get_workspace_app_target": shared_connect(A.APPLICATION_CONNECT),
    # A shared port's row; an unshared port has none, and the ssh rule applies.
    "get_port_share_target": shared_connect(A.SSH),
}
for _name, _policy in _RELAY_POLICIES.items():
    setattr(AuthzQuerier, _name, _policy)
    _policy.__set_name__(AuthzQuerier, _name)


# --- the dashboard's reads: appearance and build timings (issue 19) --------------------
# Appearance is the user's own (read_personal / update_personal, the role hierarchy for
# others'); timings are read as the job they belong to; only the provisioner writes a
# job's, and only the agent its own scripts'.

_DASHBOARD_POLICIES: dict[str, _Policy] = {
    "get_user_appearance": check(_user_arg(), A.READ_PERSONAL),
    "update_user_appearance": user_change(_user_arg(), A.UPDATE_PERSONAL, A.UPDATE),
    "get_user_preferences": check(_user_arg(), A.READ_PERSONAL),
    "update_user_preferences": user_change(_user_arg(), A.UPDATE_PERSONAL, A.UPDATE),
    # Autofill values are the user's own personal data (Coder: read_personal on the user).
    "get_user_workspace_build_parameters": check(_user_arg("owner_id"), A.READ_PERSONAL),
    "insert_provisioner_job_timings": system_only(),
    "get_deployment_stats": system_only(),
    "get_provisioner_job_timings": via_job(A.READ),
    "insert_workspace_agent_script_timing": agent_self(),
    "get_workspace_agent_script_timings": via_job(A.READ),
    "get_workspace_agent_connection_timings": via_job(A.READ),
}
for _name, _policy in _DASHBOARD_POLICIES.items():
    setattr(AuthzQuerier, _name, _policy)
    _policy.__set_name__(AuthzQuerier, _name)


# --- workspace proxies (issue 16) ------------------------------------------------------
# Owners manage them, everyone reads them (the regions); a proxy, known by its token, acts
# as the named system actor "wsproxy" for its own row only (server.api.workspaceproxies).

def proxy_obj(row: dict) -> Object:
    return Object(R.WORKSPACE_PROXY, row["id"])


def _proxy_arg(a: dict) -> Object:
    return Object(R.WORKSPACE_PROXY, a.get("proxy_id"))


_PROXY_POLICIES: dict[str, _Policy] = {
    "insert_workspace_proxy": check(_proxy_arg, A.CREATE),
    "get_workspace_proxy_by_id": fetch(A.READ, proxy_obj),
    "get_workspace_proxy_by_name": fetch(A.READ, proxy_obj),
    "get_workspace_proxies": post_filter(A.READ, proxy_obj),
    "update_workspace_proxy": check(_proxy_arg, A.UPDATE),
    "delete_workspace_proxy": check(_proxy_arg, A.DELETE),
    "register_workspace_proxy": system_only(),
    "deregister_workspace_proxy": system_only(),
}
for _name, _policy in _PROXY_POLICIES.items():
    setattr(AuthzQuerier, _name, _policy)
    _policy.__set_name__(AuthzQuerier, _name)
