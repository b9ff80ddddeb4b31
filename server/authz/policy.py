"""The kinds of policy a query can have, and the one mechanism that applies them.

A ``Policy`` is declared in a class body under the name of the ``Queries``
method it guards (``server.authz.policies``); reached through an
``AuthzQuerier``, it is that query wrapped in its check. Each kind below says
when it checks and what it checks against:

- ``fetch``: run, then authorize the row returned;
- ``post_filter``: run, then drop the rows the subject may not see;
- ``scoped``: hand the query the subject's visibility, so it filters in SQL;
- ``check``: authorize before running, from the query's arguments;
- ``user_change``: ``check``, and the role hierarchy on the user concerned;
- ``via_row``: load the row an argument names, authorize it, then run (``via_job``: a job);
- ``key_change``: ``via_row`` on an API key, and the role hierarchy on its owner;
- ``system_only``: only named system actors (``as_system(reason)``);
- ``agent_self``, ``agent_read``, ``agent_fetch``: an agent's own rows;
- ``connect``, ``shared_connect``: streams into a workspace, apps and ports.
"""
from __future__ import annotations

import functools
import inspect
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from server.db.queries import Queries

from .objects import agent_obj, api_key_obj, job_obj
from .rbac import (Action as A, Level, NotAuthorized, Object, Resource as R, Subject, allowed,
                   allowed_site_wide, authorize, may_change_user, permissions, scope_allows)

ObjectOf = Callable[[Any], Object]  # a row: a dict, or a named tuple (users)
Run = Callable[["Policy", Any, Callable, tuple, dict], Any]


class Policy:
    """A descriptor that binds a policy to the same-named method of Queries."""

    def __init__(self, run: Run):
        self.run = run
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.signature = inspect.signature(getattr(Queries, name))

    def __get__(self, querier: Any, owner: type) -> Any:
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


# --- checks the kinds share ----------------------------------------------------------

def authorize_listing(subject: Subject, action: A) -> None:
    """A key whose scope allows ``action`` on nothing is refused a list outright (403), rather
    than shown an empty one: an application_connect token lists nothing."""
    if not scope_allows(subject.scope, action):
        raise NotAuthorized(subject, action, Object(R.SYSTEM))


def authorize_any(subject: Subject, obj: Object, actions: tuple[A, ...]) -> None:
    if not any(allowed(subject, a, obj) for a in actions):
        raise NotAuthorized(subject, actions[0], obj)


def authorize_user_change(q: Any, action: A, obj: Object) -> None:
    """The role hierarchy (``rbac.may_change_user``) on the user who owns ``obj``."""
    user_id = obj.owner_id
    if q.subject.is_system or user_id == q.subject.id:
        return
    user = q._queries.get_user_by_id(user_id)
    if user is not None and not may_change_user(q.subject, user_id, user.rbac_roles):
        raise NotAuthorized(q.subject, action, obj)


@dataclass(frozen=True)
class Visibility:
    """Which rows of a resource a subject may see, for queries that filter in SQL."""
    all: bool
    owner_id: uuid.UUID | None
    org_ids: frozenset


def visibility(subject: Subject, action: A, resource: R) -> Visibility:
    authorize_listing(subject, action)
    granted = [p for p in permissions(subject.roles) if p.grants(resource, action)]
    return Visibility(
        all=any(p.level is Level.SITE for p in granted),
        owner_id=subject.id if any(p.level is Level.USER for p in granted) else None,
        org_ids=subject.org_ids if any(p.level is Level.ORG for p in granted) else frozenset())


# --- the kinds ------------------------------------------------------------------------

def fetch(action: A, obj_of: ObjectOf) -> Policy:
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None:
            authorize(q.subject, action, obj_of(row))
        return row
    return Policy(run)


def post_filter(action: A, obj_of: ObjectOf) -> Policy:
    def run(policy, q, inner, args, kwargs):
        authorize_listing(q.subject, action)
        rows = inner(*args, **kwargs)
        if not rows or (q.subject.agent_id is None
                        and allowed_site_wide(q.subject.roles, action, obj_of(rows[0]).resource)):
            return rows  # a site-wide grant sees every row: no per-row checks
        return [row for row in rows if allowed(q.subject, action, obj_of(row))]
    return Policy(run)


def scoped(action: A, resource: R) -> Policy:
    """Hand the query the caller's visibility, so it filters (and counts) in SQL."""
    def run(policy, q, inner, args, kwargs):
        return inner(*args, **{**kwargs, "visible": visibility(q.subject, action, resource)})
    return Policy(run)


def check(obj_of_args: Callable[[dict], Object], *actions: A) -> Policy:
    """Authorize before running; any one of ``actions`` suffices."""
    def run(policy, q, inner, args, kwargs):
        authorize_any(q.subject, obj_of_args(policy.arguments(args, kwargs)), actions)
        return inner(*args, **kwargs)
    return Policy(run)


def user_change(obj_of_args: Callable[[dict], Object], *actions: A) -> Policy:
    """``check``, then the role hierarchy on the user the object belongs to: a change to
    another user needs the right to assign each of their roles."""
    def run(policy, q, inner, args, kwargs):
        obj = obj_of_args(policy.arguments(args, kwargs))
        authorize_any(q.subject, obj, actions)
        authorize_user_change(q, actions[0], obj)
        return inner(*args, **kwargs)
    return Policy(run)


def via_row(loader: str, arg: str, obj_of: ObjectOf, action: A,
            action_of: Callable[[dict], A] | None = None) -> Policy:
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
    return Policy(run)


def via_job(action: A) -> Policy:
    """``via_row`` on the provisioner job named by ``job_id`` (guarded as what it builds)."""
    return via_row("get_provisioner_job_by_id", "job_id", job_obj, action)


def key_change(action: A) -> Policy:
    """Read and ``action`` on the API key named by ``key_id``, and the role hierarchy on its
    owner. No such key: the query runs and finds nothing, as the caller expects."""
    def run(policy, q, inner, args, kwargs):
        key = q._queries.get_api_key_by_id(policy.arguments(args, kwargs)["key_id"])
        if key is not None:
            authorize(q.subject, A.READ, api_key_obj(key))
            authorize(q.subject, action, api_key_obj(key))
            authorize_user_change(q, action, api_key_obj(key))
        return inner(*args, **kwargs)
    return Policy(run)


def system_only() -> Policy:
    def run(policy, q, inner, args, kwargs):
        if not q.subject.is_system:
            raise NotAuthorized(q.subject, A.READ, Object(R.SYSTEM, policy.name))
        return inner(*args, **kwargs)
    return Policy(run)


# An agent subject (rbac.workspace_agent) reaches only its own agent's rows; users reach an
# agent's rows as they reach its workspace; system actors reach all.

def _is_agent(subject: Subject, agent_id: Any) -> bool:
    return subject.agent_id is not None and str(subject.agent_id) == str(agent_id)


def agent_self(arg: str = "agent_id") -> Policy:
    """Writes: only the agent named by ``arg`` (or a system actor)."""
    def run(policy, q, inner, args, kwargs):
        agent_id = policy.arguments(args, kwargs)[arg]
        if not (q.subject.is_system or _is_agent(q.subject, agent_id)):
            raise NotAuthorized(q.subject, A.UPDATE, Object(R.WORKSPACE, agent_id))
        return inner(*args, **kwargs)
    return Policy(run)


def agent_read(arg: str = "agent_id") -> Policy:
    """Reads: the agent itself, or whoever may read the agent's workspace."""
    def run(policy, q, inner, args, kwargs):
        agent_id = policy.arguments(args, kwargs)[arg]
        if not _is_agent(q.subject, agent_id):
            row = q._queries.get_workspace_agent_owner(agent_id)
            if row is None:
                raise NotAuthorized(q.subject, A.READ, Object(R.SYSTEM, "missing"))
            authorize(q.subject, A.READ, agent_obj(row))
        return inner(*args, **kwargs)
    return Policy(run)


def agent_fetch() -> Policy:
    """An agent's row: the agent itself, or whoever may read its workspace."""
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None and not _is_agent(q.subject, row["id"]):
            authorize(q.subject, A.READ, agent_obj(row))
        return row
    return Policy(run)


# Opening a stream (SSH, port forward, terminal, listening ports) takes the ssh action on the
# workspace: its owner, and deployment owners, as in Coder. Apps follow their sharing level;
# system actors (an unauthenticated request) reach only public ones.

def connect() -> Policy:
    """Read the agent's workspace (404 otherwise), then the ssh action on it (403 otherwise)."""
    def run(policy, q, inner, args, kwargs):
        row = inner(*args, **kwargs)
        if row is not None:
            authorize(q.subject, A.READ, agent_obj(row))
            authorize(q.subject, A.SSH, agent_obj(row))
        return row
    return Policy(run)


def _shared_with(subject: Subject, row: dict) -> bool:
    """Whether the row's sharing level lets ``subject`` in: public, anyone; authenticated,
    any user; organization, the workspace's organization's members."""
    level = row["sharing_level"]
    return level == "public" or (subject.id is not None and (
        level == "authenticated" or (level == "organization"
                                     and row["organization_id"] in subject.org_ids)))


def shared_connect(action: A) -> Policy:
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
    return Policy(run)
