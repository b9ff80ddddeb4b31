"""Organizations and their members."""
from __future__ import annotations

import uuid

from .base import QueriesBase
from .users import PEOPLE

MEMBER_COLUMNS = """m.user_id, m.organization_id, m.roles, m.created_at, m.updated_at,
    u.username, u.name, u.email, u.avatar_url, u.status, u.login_type, u.last_seen_at,
    u.created_at AS user_created_at, u.updated_at AS user_updated_at, u.rbac_roles AS global_roles"""


class OrganizationQueries(QueriesBase):
    def insert_organization(self, *, name: str, display_name: str, description: str = "",
                            is_default: bool = False) -> dict:
        return self._one(
            """INSERT INTO organizations (name, display_name, description, is_default)
               VALUES (%s, %s, %s, %s) RETURNING *""", (name, display_name, description, is_default))

    def get_default_organization(self) -> dict | None:
        return self._one("SELECT * FROM organizations WHERE is_default")

    def get_organization_by_id(self, org_id: uuid.UUID) -> dict | None:
        return self._one("SELECT * FROM organizations WHERE id = %s", (org_id,))

    def get_organization_by_name(self, name: str) -> dict | None:
        return self._one("SELECT * FROM organizations WHERE lower(name) = lower(%s)", (name,))

    def get_organizations(self) -> list[dict]:
        return self._all("SELECT * FROM organizations ORDER BY is_default DESC, lower(name)")

    def get_organizations_by_user(self, user_id: uuid.UUID) -> list[dict]:
        return self._all(
            """SELECT o.* FROM organizations o JOIN organization_members m ON m.organization_id = o.id
               WHERE m.user_id = %s ORDER BY o.is_default DESC, lower(o.name)""", (user_id,))

    def insert_organization_member(self, *, organization_id: uuid.UUID, user_id: uuid.UUID,
                                   roles: list[str]) -> dict:
        self._exec("""INSERT INTO organization_members (organization_id, user_id, roles)
                      VALUES (%s, %s, %s)""", (organization_id, user_id, roles))
        self._auth_changed(user_id)
        return self.get_organization_member(organization_id, user_id)

    def get_organization_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> dict | None:
        return self._one(
            f"""SELECT {MEMBER_COLUMNS} FROM organization_members m JOIN users u ON u.id = m.user_id
                WHERE m.organization_id = %s AND m.user_id = %s""", (organization_id, user_id))

    def get_organization_members(self, organization_id: uuid.UUID) -> list[dict]:
        return self._all(
            f"""SELECT {MEMBER_COLUMNS} FROM organization_members m JOIN users u ON u.id = m.user_id
                WHERE m.organization_id = %s AND {PEOPLE} ORDER BY lower(u.username)""",
            (organization_id,))

    def update_organization_member_roles(self, organization_id: uuid.UUID, user_id: uuid.UUID,
                                         roles: list[str]) -> dict | None:
        self._exec("""UPDATE organization_members SET roles = %s, updated_at = now()
                      WHERE organization_id = %s AND user_id = %s""", (roles, organization_id, user_id))
        self._auth_changed(user_id)
        return self.get_organization_member(organization_id, user_id)

    def delete_organization_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> int:
        deleted = self._exec("DELETE FROM organization_members WHERE organization_id = %s "
                             "AND user_id = %s", (organization_id, user_id))
        self._auth_changed(user_id)
        return deleted
