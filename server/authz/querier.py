"""The authorization layer every data access passes through.

``AuthzQuerier`` mirrors ``Queries`` method for method, as Coder's dbauthz
does: ``Queries`` joins one query class per domain (``server/db/queries/X.py``),
``AuthzQuerier`` the policy class of the same domain
(``server/authz/policies/X.py``), where each query's policy is declared under
its name. The kinds of policy are in ``server.authz.policy``, what a row is
guarded as in ``server.authz.objects``. A test walks ``Queries`` to prove no
query is missing.

The query code holds no policy and the handlers hold no SQL. This module is
the layer's face: handlers import from here.
"""
from __future__ import annotations

import contextlib
import inspect
import uuid

from server.db.queries import Queries

from .objects import agent_obj, template_obj, user_obj, workspace_obj
from .policies.agents import AgentPolicies
from .policies.apikeys import APIKeyPolicies
from .policies.audit import AuditPolicies
from .policies.dashboard import DashboardPolicies
from .policies.deployment import DeploymentPolicies
from .policies.files import FilePolicies
from .policies.gitsshkeys import GitSSHKeyPolicies
from .policies.organizations import OrganizationPolicies
from .policies.provisioner import ProvisionerPolicies
from .policies.relay import RelayPolicies
from .policies.templates import TemplatePolicies
from .policies.users import UserPolicies
from .policies.workspaceproxies import WorkspaceProxyPolicies
from .policies.workspaces import WorkspacePolicies
from .policy import authorize_any, authorize_listing, authorize_user_change
from .rbac import Action, Object, Resource, Subject, allowed, system

__all__ = ["AuthzQuerier", "public_query_methods", "authorize_listing", "agent_obj",
           "template_obj", "user_obj", "workspace_obj"]


class AuthzQuerier(UserPolicies, OrganizationPolicies, APIKeyPolicies, AuditPolicies,
                   DeploymentPolicies, ProvisionerPolicies, FilePolicies, TemplatePolicies,
                   WorkspacePolicies, AgentPolicies, RelayPolicies, DashboardPolicies,
                   GitSSHKeyPolicies, WorkspaceProxyPolicies):
    """Queries as seen by one subject."""

    def __init__(self, queries: Queries, subject: Subject):
        self._queries = queries
        self.subject = subject

    def as_system(self, reason: str) -> "AuthzQuerier":
        """The same connection acting as coderd itself; ``reason`` says why, for review."""
        return self.acting_as(system(reason))

    def acting_as(self, subject: Subject) -> "AuthzQuerier":
        """The same connection acting as ``subject`` (the caller, once authenticated)."""
        return AuthzQuerier(self._queries, subject)

    def transaction(self) -> contextlib.AbstractContextManager:
        return self._queries.transaction()

    def can(self, action: Action, obj: Object) -> bool:
        return allowed(self.subject, action, obj)

    def authorize_user_change(self, user_id: uuid.UUID, *actions: Action) -> None:
        """What ``user_change`` checks, for a handler that must know it before it looks at the
        user's secrets (an old password checked for someone else would be an oracle)."""
        obj = Object(Resource.USER, user_id, owner_id=user_id)
        authorize_any(self.subject, obj, actions)
        authorize_user_change(self, actions[0], obj)


def public_query_methods() -> list[str]:
    """What the accounting test walks: every public method of Queries."""
    return sorted(name for name, value in inspect.getmembers(Queries, inspect.isfunction)
                  if not name.startswith("_") and name != "transaction")
