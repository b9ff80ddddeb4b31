"""What a row is guarded as: each function turns a query's row into the RBAC ``Object``
(resource, owner, organization) that a policy authorizes."""
from __future__ import annotations

import uuid
from typing import Callable

from server.db.queries.users import UserPageRow, UserRow

from .rbac import Object, Resource as R


def user_obj(row: UserRow | UserPageRow) -> Object:
    user_id = row.id
    if isinstance(user_id, str):  # a page of users, whose IDs come as text
        user_id = uuid.UUID(user_id)
    return Object(R.USER, user_id, owner_id=user_id)


def api_key_obj(row: dict) -> Object:
    return Object(R.API_KEY, row["id"], owner_id=row["user_id"])


def org_obj(row: dict) -> Object:
    return Object(R.ORGANIZATION, row["id"], org_id=row["id"])


def member_obj(row: dict) -> Object:
    return Object(R.ORGANIZATION_MEMBER, row["user_id"], owner_id=row["user_id"],
                  org_id=row["organization_id"])


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


def agent_obj(row: dict) -> Object:
    """An agent's rows (and streams into it) are guarded as its workspace."""
    return Object(R.WORKSPACE, row["workspace_id"], owner_id=row["owner_id"],
                  org_id=row["organization_id"])


def proxy_obj(row: dict) -> Object:
    return Object(R.WORKSPACE_PROXY, row["id"])


# --- from a query's arguments (by name), for policies that authorize before running ---

def user_arg(name: str = "user_id") -> Callable[[dict], Object]:
    """The user named by argument ``name``."""
    return lambda a: Object(R.USER, a[name], owner_id=a[name])


def owned(resource: R, name: str = "user_id") -> Callable[[dict], Object]:
    """A ``resource`` owned by the user named by argument ``name``."""
    return lambda a: Object(resource, owner_id=a[name])
