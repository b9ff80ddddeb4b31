"""Database rows to API types."""
from __future__ import annotations

from appliance.sdk import types

from ..authz.rbac import ASSIGNABLE_ROLES, MEMBER, ROLES
from ..db.queries.users import UserPageRow, UserRow


def slim_roles(names: list[str], organization_id: str = "") -> list[types.SlimRole]:
    return [types.SlimRole(name=n, display_name=ROLES[n][0] if n in ROLES else n,
                           organization_id=organization_id) for n in names]


def user(row: UserRow | UserPageRow) -> types.User:
    # By position, in types.User's field order (tests/server/test_user_rows.py holds it to
    # the names): a class called with keywords gathers them into a dict and unpacks it
    # again, which cost more than the rest of a page's row.
    return types.User(
        row.id, row.username, row.email, row.created_at, row.updated_at, row.last_seen_at,
        row.status, row.login_type, row.organization_ids,
        slim_roles([r for r in row.rbac_roles if r in ASSIGNABLE_ROLES]),
        row.name, row.avatar_url, row.theme_preference)


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
        global_roles=slim_roles([r for r in row["global_roles"] if r in ASSIGNABLE_ROLES]),
        status=row["status"], login_type=row["login_type"], last_seen_at=row["last_seen_at"],
        user_created_at=row["user_created_at"], user_updated_at=row["user_updated_at"])
