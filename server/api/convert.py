"""Database rows to API types."""
from __future__ import annotations

from appliance.sdk import types

from ..authz.rbac import ASSIGNABLE_ROLES, MEMBER, ROLES


def slim_roles(names: list[str], organization_id: str = "") -> list[types.SlimRole]:
    return [types.SlimRole(name=n, display_name=ROLES[n][0] if n in ROLES else n,
                           organization_id=organization_id) for n in names]


def user(row: dict) -> types.User:
    roles = [r for r in row["rbac_roles"] if r in ASSIGNABLE_ROLES]
    return types.User(
        id=row["id"], username=row["username"], email=row["email"], name=row["name"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        last_seen_at=row["last_seen_at"], status=row["status"], login_type=row["login_type"],
        organization_ids=list(row.get("organization_ids") or []),
        roles=slim_roles(roles), avatar_url=row["avatar_url"],
        theme_preference=row["theme_preference"])


def api_key(row: dict) -> types.APIKey:
    return types.APIKey(
        id=row["id"], user_id=row["user_id"], last_used=row["last_used"],
        expires_at=row["expires_at"], created_at=row["created_at"], updated_at=row["updated_at"],
        login_type=row["login_type"], scope=row["scope"], token_name=row["token_name"],
        lifetime_seconds=row["lifetime_seconds"])


def organization(row: dict) -> types.Organization:
    return types.Organization(
        id=row["id"], name=row["name"], display_name=row["display_name"],
        description=row["description"], icon=row["icon"], is_default=row["is_default"],
        created_at=row["created_at"], updated_at=row["updated_at"])


def organization_member(row: dict) -> types.OrganizationMemberWithUserData:
    org_id = str(row["organization_id"])
    return types.OrganizationMemberWithUserData(
        user_id=row["user_id"], organization_id=row["organization_id"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        roles=slim_roles([r for r in row["roles"] if r != MEMBER], org_id),
        username=row["username"], name=row["name"], email=row["email"],
        avatar_url=row["avatar_url"],
        global_roles=slim_roles([r for r in row["global_roles"] if r in ASSIGNABLE_ROLES]))
