"""API v2 types, named and shaped as in Coder's codersdk.

coderd decodes requests into these and encodes responses from them; the SDK
does the reverse. Field names are Coder's JSON names, so Coder's own clients
and third-party tools work unchanged.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Optional

from .model import field

USERNAME_PATTERN = r"[a-zA-Z0-9](?:[a-zA-Z0-9]|-(?=[a-zA-Z0-9])){0,31}"
USERNAME_RULE = ("must be 1-32 letters, digits or single hyphens, "
                 "starting and ending with a letter or digit")
TOKEN_NAME_PATTERN = r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]){0,63}"

UserStatus = Literal["active", "suspended", "dormant"]
LoginType = Literal["password", "token", "none", "github", "oidc", ""]


# --- errors -----------------------------------------------------------------

@dataclass
class ValidationError:
    field: str
    detail: str


@dataclass
class Response:
    """Coder's error (and plain message) body."""
    message: str
    detail: str = ""
    validations: Optional[list[ValidationError]] = None


# --- deployment --------------------------------------------------------------

@dataclass
class BuildInfoResponse:
    external_url: str
    version: str
    dashboard_url: str
    workspace_proxy: bool
    agent_api_version: str
    deployment_id: str
    upgrade_message: str = ""
    telemetry: bool = False


@dataclass
class UpdateCheckResponse:
    current: bool
    version: str
    url: str


@dataclass
class AuthMethod:
    enabled: bool


@dataclass
class AuthMethods:
    password: AuthMethod
    github: AuthMethod
    oidc: AuthMethod
    terms_of_service_url: str = ""


@dataclass
class HealthzResponse:
    status: str


# --- users --------------------------------------------------------------------

@dataclass
class SlimRole:
    name: str
    display_name: str
    organization_id: str = ""


@dataclass
class User:
    id: uuid.UUID
    username: str
    email: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_seen_at: dt.datetime
    status: str
    login_type: str
    organization_ids: list[uuid.UUID]
    roles: list[SlimRole]
    name: str = ""
    avatar_url: str = ""
    theme_preference: str = ""


@dataclass
class CreateFirstUserRequest:
    email: str = field(min_len=1, fmt="email")
    username: str = field(min_len=1, max_len=32, pattern=USERNAME_PATTERN, doc=USERNAME_RULE)
    password: str = field(min_len=1)
    name: str = field(default="", max_len=128)
    trial: bool = False


@dataclass
class CreateFirstUserResponse:
    user_id: uuid.UUID
    organization_id: uuid.UUID


@dataclass
class CreateUserRequest:
    email: str = field(min_len=1, fmt="email")
    username: str = field(min_len=1, max_len=32, pattern=USERNAME_PATTERN, doc=USERNAME_RULE)
    password: str = ""
    name: str = field(default="", max_len=128)
    login_type: str = field(default="", doc="password (default) or none")
    organization_id: Optional[uuid.UUID] = None
    organization_ids: Optional[list[uuid.UUID]] = None
    user_status: Optional[UserStatus] = None


@dataclass
class GetUsersResponse:
    users: list[User]
    count: int


@dataclass
class LoginWithPasswordRequest:
    email: str = field(min_len=1)
    password: str = field(min_len=1)


@dataclass
class LoginWithPasswordResponse:
    session_token: str


@dataclass
class UpdateUserPasswordRequest:
    password: str = field(min_len=1)
    old_password: str = ""


@dataclass
class UpdateRoles:
    roles: list[str]


@dataclass
class UpdateUserProfileRequest:
    username: str = field(min_len=1, max_len=32, pattern=USERNAME_PATTERN, doc=USERNAME_RULE)
    name: str = field(default="", max_len=128)


@dataclass
class Role:
    name: str
    display_name: str
    organization_id: str = ""


@dataclass
class AssignableRoles:
    name: str
    display_name: str
    assignable: bool
    built_in: bool = True


# --- API keys -------------------------------------------------------------------

@dataclass
class CreateTokenRequest:
    lifetime: int = field(default=0, minimum=0, doc="nanoseconds, as in Coder; 0 takes the default")
    scope: str = field(default="all", pattern=r"all|application_connect")
    token_name: str = field(default="", max_len=64, pattern=TOKEN_NAME_PATTERN,
                            doc="letters, digits, '-' and '_', starting with a letter or digit")


@dataclass
class GenerateAPIKeyResponse:
    key: str


@dataclass
class APIKey:
    id: str
    user_id: uuid.UUID
    last_used: dt.datetime
    expires_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    login_type: str
    scope: str
    token_name: str
    lifetime_seconds: int


@dataclass
class APIKeyWithOwner(APIKey):
    username: str = ""


# --- organizations ------------------------------------------------------------------

@dataclass
class Organization:
    id: uuid.UUID
    name: str
    display_name: str
    description: str
    icon: str
    is_default: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class OrganizationMember:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    roles: list[SlimRole]


@dataclass
class OrganizationMemberWithUserData(OrganizationMember):
    username: str = ""
    name: str = ""
    email: str = ""
    avatar_url: str = ""
    global_roles: Optional[list[SlimRole]] = None


# --- audit ------------------------------------------------------------------------------

@dataclass
class AuditLog:
    id: uuid.UUID
    request_id: uuid.UUID
    time: dt.datetime
    ip: str
    user_agent: str
    resource_type: str
    resource_id: Optional[uuid.UUID]
    resource_target: str
    resource_icon: str
    action: str
    diff: dict[str, Any]
    status_code: int
    additional_fields: dict[str, Any]
    description: str
    resource_link: str
    is_deleted: bool
    organization_id: Optional[uuid.UUID] = None
    user: Optional[User] = None


@dataclass
class AuditLogResponse:
    audit_logs: list[AuditLog]
    count: int
