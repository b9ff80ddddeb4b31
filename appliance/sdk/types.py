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

from ..passwords import RULE as PASSWORD_RULE
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
class ExternalAPIKeyScopes:
    """The scopes a token may be created with (``/auth/scopes``)."""
    external: list[str]


@dataclass
class AvailableExperiments:
    safe: list[str]


@dataclass
class AppHostResponse:
    """Coder's: the wildcard host of subdomain apps (``*.apps.example.com``), or ""."""
    host: str


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
    appliance_version: str = ""  # the appliance's own release (version is Coder's form)


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
    password: str = field(min_len=1, doc=PASSWORD_RULE)
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
    password: str = field(default="", doc=f"login type password: {PASSWORD_RULE}")
    name: str = field(default="", max_len=128)
    login_type: str = field(default="", doc="password (default) or none")
    organization_id: Optional[uuid.UUID] = field(
        default=None, doc="deprecated: joined to organization_ids")
    organization_ids: Optional[list[uuid.UUID]] = None
    user_status: Optional[UserStatus] = None
    disable_login: bool = field(default=False,
                                doc="deprecated: true with no login_type means login type none")


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
class ValidateUserPasswordRequest:
    password: str = field(min_len=1)


@dataclass
class ValidateUserPasswordResponse:
    valid: bool
    details: str = ""


@dataclass
class UserLoginType:
    login_type: str


@dataclass
class UserParameter:
    """A parameter value the user gave a template's workspaces most recently (autofill)."""
    name: str
    value: str


@dataclass
class UpdateUserPasswordRequest:
    password: str = field(min_len=1, doc=PASSWORD_RULE)
    old_password: str = ""


@dataclass
class UpdateRoles:
    roles: list[str] = field(default_factory=list, doc="absent or null (Go's nil slice): none")


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
class Permission:
    resource_type: str
    action: str
    negate: bool = False


@dataclass
class AssignableRoles:
    """Coder's: a Role (with its permissions) and whether the caller may assign it."""
    name: str
    display_name: str
    assignable: bool
    built_in: bool = True
    organization_id: str = ""
    site_permissions: list[Permission] = field(default_factory=list)
    organization_permissions: list[Permission] = field(default_factory=list)
    user_permissions: list[Permission] = field(default_factory=list)


@dataclass
class UserRoles:
    roles: list[str]
    organization_roles: dict[str, list[str]]


@dataclass
class AuthorizationObject:
    resource_type: str = ""
    owner_id: str = field(default="", doc="'me' is the caller")
    organization_id: str = ""
    resource_id: str = ""
    any_org: bool = False


@dataclass
class AuthorizationCheck:
    object: AuthorizationObject
    action: str


@dataclass
class AuthorizationRequest:
    checks: dict[str, AuthorizationCheck] = field(default_factory=dict)


@dataclass
class UserAppearanceSettings:
    theme_preference: str
    terminal_font: str


@dataclass
class UpdateUserAppearanceSettingsRequest:
    theme_preference: str = field(min_len=1, max_len=64)
    terminal_font: str = ""


AgentChatSendShortcut = Literal["enter", "modifier_enter"]
AgentDisplayMode = Literal["auto", "always_expanded", "always_collapsed"]
ThinkingDisplayMode = Literal["auto", "preview", "always_expanded", "always_collapsed"]


@dataclass
class UserPreferenceSettings:
    """Coder's per-user preferences (its agent chat's display), kept for clients that set them."""
    agent_chat_send_shortcut: str = "enter"
    code_diff_display_mode: str = "auto"
    collapse_assistant_steps: bool = False
    shell_tool_display_mode: str = "auto"
    thinking_display_mode: str = "auto"


@dataclass
class UpdateUserPreferenceSettingsRequest:
    """Each field left out (or null) keeps its value."""
    agent_chat_send_shortcut: Optional[AgentChatSendShortcut] = None
    code_diff_display_mode: Optional[AgentDisplayMode] = None
    collapse_assistant_steps: Optional[bool] = None
    shell_tool_display_mode: Optional[AgentDisplayMode] = None
    thinking_display_mode: Optional[ThinkingDisplayMode] = None


@dataclass
class GitSSHKey:
    """A user's git SSH key as the user sees it: never the private half."""
    user_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    public_key: str


# --- API keys -------------------------------------------------------------------

@dataclass
class CreateTokenRequest:
    lifetime: int = field(default=0, minimum=0, doc="nanoseconds, as in Coder; 0 takes the default")
    scope: str = field(default="all", doc="deprecated for scopes: all or application_connect "
                       "(or their coder: names); empty means all")
    scopes: Optional[list[str]] = field(default=None, doc="one scope, as in scope; wins over scope")
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
    status: str = "active"
    login_type: str = "password"
    last_seen_at: Optional[dt.datetime] = None
    user_created_at: Optional[dt.datetime] = None
    user_updated_at: Optional[dt.datetime] = None
    is_service_account: bool = False  # Coder's service accounts are not implemented
    has_ai_seat: bool = False  # AI seats are a Premium feature in Coder


@dataclass
class PaginatedMembersResponse:
    members: list[OrganizationMemberWithUserData]
    count: int


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


# --- files, templates, workspaces --------------------------------------------------------
NAME_PATTERN = USERNAME_PATTERN  # Coder's NameValid: templates and workspaces as usernames
NAME_RULE = ("must be 1-32 letters, digits or single hyphens, starting and ending with a "
             "letter or digit")
TEMPLATE_VERSION_NAME_PATTERN = r"[a-zA-Z0-9]+(?:[_.-][a-zA-Z0-9]+)*"
TEMPLATE_VERSION_NAME_RULE = "letters and digits, separated by single '-', '_' or '.'"
ProvisionerJobStatus = Literal["pending", "running", "succeeded", "canceling", "canceled",
                               "failed"]
WorkspaceTransition = Literal["start", "stop", "delete"]
WorkspaceStatus = Literal["pending", "starting", "running", "stopping", "stopped", "failed",
                          "canceling", "canceled", "deleting", "deleted"]


@dataclass
class UploadResponse:
    hash: uuid.UUID  # Coder names the file's ID "hash"


@dataclass
class MinimalUser:
    id: uuid.UUID
    username: str
    avatar_url: str = ""
    name: str = ""


@dataclass
class ProvisionerJobInput:
    template_version_id: Optional[uuid.UUID] = None
    workspace_build_id: Optional[uuid.UUID] = None
    error: str = ""


@dataclass
class ProvisionerJob:
    id: uuid.UUID
    created_at: dt.datetime
    status: ProvisionerJobStatus
    file_id: uuid.UUID
    tags: dict[str, str]
    queue_position: int
    queue_size: int
    organization_id: uuid.UUID
    input: ProvisionerJobInput
    type: str
    started_at: Optional[dt.datetime] = None
    completed_at: Optional[dt.datetime] = None
    canceled_at: Optional[dt.datetime] = None
    error: str = ""
    error_code: str = ""
    worker_id: Optional[uuid.UUID] = None


@dataclass
class ProvisionerDaemonJob:
    id: uuid.UUID
    status: ProvisionerJobStatus
    template_name: str = ""
    template_icon: str = ""
    template_display_name: str = ""


@dataclass
class ProvisionerDaemon:
    """Coder's codersdk.ProvisionerDaemon (GET /organizations/{org}/provisionerdaemons)."""
    id: uuid.UUID
    organization_id: uuid.UUID
    created_at: dt.datetime
    name: str
    version: str
    api_version: str
    provisioners: list[str]
    tags: dict[str, str]
    key_id: Optional[uuid.UUID] = field(default=None, doc="the nil UUID: no provisioner key")
    key_name: Optional[str] = None
    status: Optional[str] = field(default=None, doc="offline, idle or busy")
    current_job: Optional[ProvisionerDaemonJob] = None
    previous_job: Optional[ProvisionerDaemonJob] = None
    last_seen_at: Optional[dt.datetime] = None


@dataclass
class ProvisionerJobLog:
    id: int
    created_at: dt.datetime
    log_source: str
    log_level: str
    stage: str
    output: str


@dataclass
class TemplateVersion:
    id: uuid.UUID
    organization_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    name: str
    message: str
    job: ProvisionerJob
    readme: str
    created_by: MinimalUser
    archived: bool
    template_id: Optional[uuid.UUID] = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class VariableValue:
    """A value for one of the template's terraform variables, given at push."""
    name: str
    value: str


@dataclass
class CreateTemplateVersionRequest:
    storage_method: Literal["file"] = "file"
    provisioner: Literal["terraform"] = "terraform"
    file_id: Optional[uuid.UUID] = None
    name: str = field(default="", max_len=64, pattern=TEMPLATE_VERSION_NAME_PATTERN,
                      doc=TEMPLATE_VERSION_NAME_RULE)
    message: str = field(default="", max_len=1048576)
    template_id: Optional[uuid.UUID] = None
    tags: Optional[dict[str, str]] = None
    example_id: str = ""
    user_variable_values: Optional[list[VariableValue]] = None


@dataclass
class PatchTemplateVersionRequest:
    """Coder's: an empty name keeps the current one, a null message too."""
    name: str = field(default="", max_len=64, pattern=TEMPLATE_VERSION_NAME_PATTERN,
                      doc=TEMPLATE_VERSION_NAME_RULE)
    message: Optional[str] = field(default=None, max_len=1048576)


@dataclass
class TemplateVersionVariable:
    """A terraform variable of a version; a sensitive one's values read "*redacted*"."""
    name: str
    description: str
    type: str
    value: str
    default_value: str
    required: bool
    sensitive: bool


@dataclass
class PresetParameter:
    """Coder's ``codersdk.PresetParameter``: its Go field names are its JSON names."""
    Name: str
    Value: str


@dataclass
class Preset:
    """Coder's ``codersdk.Preset`` (no json tags in Go, so the keys are capitalised)."""
    ID: uuid.UUID
    Name: str
    Parameters: list[PresetParameter]
    Default: bool
    DesiredPrebuildInstances: Optional[int]
    Description: str
    Icon: str


@dataclass
class TemplateVersionParameterOption:
    name: str
    description: str
    value: str
    icon: str


@dataclass
class TemplateVersionParameter:
    name: str
    description: str
    description_plaintext: str
    type: str
    mutable: bool
    default_value: str
    icon: str
    options: list[TemplateVersionParameterOption]
    required: bool
    ephemeral: bool
    display_name: str = ""
    form_type: str = ""
    validation_error: str = ""
    validation_regex: str = ""
    validation_min: Optional[int] = None
    validation_max: Optional[int] = None
    validation_monotonic: str = ""


@dataclass
class Template:
    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    organization_id: uuid.UUID
    organization_name: str
    organization_display_name: str
    organization_icon: str
    name: str
    display_name: str
    provisioner: str
    active_version_id: uuid.UUID
    active_user_count: int
    description: str
    deprecated: bool
    deprecation_message: str
    icon: str
    default_ttl_ms: int
    activity_bump_ms: int
    created_by_id: uuid.UUID
    created_by_name: str
    allow_user_autostart: bool
    allow_user_autostop: bool
    allow_user_cancel_workspace_jobs: bool
    require_active_version: bool
    failure_ttl_ms: int = 0
    time_til_dormant_ms: int = 0
    time_til_dormant_autodelete_ms: int = 0
    # As Coder's open-source edition: no template caps port sharing (its AGPL port sharer
    # reports "public").
    max_port_share_level: str = "public"
    # Parameters are static, read at import: Coder's clients use their classic parameter
    # flow (rich-parameters), not the dynamic-parameters engine, for these templates.
    use_classic_parameter_flow: bool = True


@dataclass
class CreateTemplateRequest:
    name: str = field(min_len=1, max_len=32, pattern=NAME_PATTERN, doc=NAME_RULE)
    template_version_id: uuid.UUID = field()
    display_name: str = field(default="", max_len=64)
    description: str = field(default="", max_len=128)
    icon: str = ""
    default_ttl_ms: Optional[int] = field(default=None, minimum=0)
    activity_bump_ms: Optional[int] = field(default=None, minimum=0)
    allow_user_cancel_workspace_jobs: Optional[bool] = None
    require_active_version: bool = False


@dataclass
class UpdateTemplateMeta:
    name: str = field(default="", max_len=32, pattern=NAME_PATTERN, doc=NAME_RULE)
    display_name: Optional[str] = field(default=None, max_len=64)
    description: Optional[str] = field(default=None, max_len=128)
    icon: Optional[str] = None
    default_ttl_ms: Optional[int] = field(default=None, minimum=0)
    activity_bump_ms: Optional[int] = field(default=None, minimum=0)
    allow_user_cancel_workspace_jobs: Optional[bool] = None
    require_active_version: Optional[bool] = None
    deprecation_message: Optional[str] = None


@dataclass
class UpdateActiveTemplateVersion:
    id: uuid.UUID


@dataclass
class ArchiveTemplateVersionsRequest:
    """``all``: every unused version, not only the failed ones (Coder's default)."""
    all: bool = False


@dataclass
class ArchiveTemplateVersionsResponse:
    template_id: uuid.UUID
    archived_ids: list[uuid.UUID]


@dataclass
class MatchedProvisioners:
    """How many daemons could take a job: ``count`` with its tags, ``available`` of those
    seen lately."""
    count: int
    available: int
    most_recently_seen: Optional[dt.datetime] = None


@dataclass
class WorkspaceResourceMetadata:
    key: str
    value: str
    sensitive: bool


@dataclass
class Healthcheck:
    url: str
    interval: int
    threshold: int


@dataclass
class WorkspaceApp:
    id: uuid.UUID
    slug: str
    display_name: str
    external: bool
    subdomain: bool
    sharing_level: str
    healthcheck: Healthcheck
    health: str
    hidden: bool
    open_in: str
    url: str = ""
    command: str = ""
    icon: str = ""


@dataclass
class WorkspaceAgentScript:
    id: uuid.UUID
    log_source_id: uuid.UUID
    log_path: str
    script: str
    cron: str
    run_on_start: bool
    run_on_stop: bool
    start_blocks_login: bool
    timeout: int  # nanoseconds, as Coder's
    display_name: str


@dataclass
class WorkspaceAgentHealth:
    healthy: bool
    reason: str = ""


AgentLifecycleState = Literal["created", "starting", "start_timeout", "start_error", "ready",
                              "shutting_down", "shutdown_timeout", "shutdown_error", "off"]
LogLevel = Literal["trace", "debug", "info", "warn", "error"]


@dataclass
class WorkspaceAgentLogSource:
    workspace_agent_id: uuid.UUID
    id: uuid.UUID
    created_at: dt.datetime
    display_name: str
    icon: str = ""


@dataclass
class WorkspaceAgentLog:
    id: int
    created_at: dt.datetime
    output: str
    level: LogLevel
    source_id: uuid.UUID


@dataclass
class WorkspaceAgentMetadataDescription:
    display_name: str
    key: str
    script: str
    interval: int  # seconds, as Coder's
    timeout: int  # seconds


@dataclass
class WorkspaceAgentMetadataResult:
    collected_at: dt.datetime
    age: int  # seconds since collected_at
    value: str
    error: str


@dataclass
class WorkspaceAgentMetadata:
    result: WorkspaceAgentMetadataResult
    description: WorkspaceAgentMetadataDescription


@dataclass
class WorkspaceAgent:
    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str
    lifecycle_state: str
    name: str
    resource_id: uuid.UUID
    architecture: str
    environment_variables: dict[str, str]
    operating_system: str
    logs_length: int
    logs_overflowed: bool
    version: str
    api_version: str
    apps: list[WorkspaceApp]
    connection_timeout_seconds: int
    troubleshooting_url: str
    health: WorkspaceAgentHealth
    display_apps: list[str]
    scripts: list[WorkspaceAgentScript]
    directory: str = ""
    expanded_directory: str = ""
    first_connected_at: Optional[dt.datetime] = None
    last_connected_at: Optional[dt.datetime] = None
    disconnected_at: Optional[dt.datetime] = None
    started_at: Optional[dt.datetime] = None
    ready_at: Optional[dt.datetime] = None
    log_sources: list[WorkspaceAgentLogSource] = field(default_factory=list)
    subsystems: list[str] = field(default_factory=list)
    motd_file: str = ""


@dataclass
class WorkspaceResource:
    id: uuid.UUID
    created_at: dt.datetime
    job_id: uuid.UUID
    workspace_transition: WorkspaceTransition
    type: str
    name: str
    hide: bool
    icon: str
    agents: list[WorkspaceAgent]
    metadata: list[WorkspaceResourceMetadata]
    daily_cost: int


@dataclass
class WorkspaceBuildParameter:
    name: str = field(min_len=1)
    value: str = ""


@dataclass
class CreateTemplateVersionDryRunRequest:
    """A plan of the version with these parameter values, as a workspace named so would get.
    ``user_variable_values`` is accepted, as Coder's is, and unused: the version's own
    variables are given."""
    workspace_name: str = ""
    rich_parameter_values: Optional[list[WorkspaceBuildParameter]] = None
    user_variable_values: Optional[list[VariableValue]] = None


@dataclass
class WorkspaceBuild:
    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    workspace_id: uuid.UUID
    workspace_name: str
    workspace_owner_id: uuid.UUID
    workspace_owner_name: str
    workspace_owner_avatar_url: str
    template_version_id: uuid.UUID
    template_version_name: str
    build_number: int
    transition: WorkspaceTransition
    initiator_id: uuid.UUID
    initiator_name: str
    job: ProvisionerJob
    reason: str
    resources: list[WorkspaceResource]
    status: WorkspaceStatus
    daily_cost: int
    deadline: Optional[dt.datetime] = None
    max_deadline: Optional[dt.datetime] = None


@dataclass
class WorkspaceHealth:
    healthy: bool
    failing_agents: list[uuid.UUID]


@dataclass
class Workspace:
    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    owner_id: uuid.UUID
    owner_name: str
    owner_avatar_url: str
    organization_id: uuid.UUID
    organization_name: str
    template_id: uuid.UUID
    template_name: str
    template_display_name: str
    template_icon: str
    template_allow_user_cancel_workspace_jobs: bool
    template_active_version_id: uuid.UUID
    template_require_active_version: bool
    latest_build: WorkspaceBuild
    outdated: bool
    name: str
    last_used_at: dt.datetime
    health: WorkspaceHealth
    automatic_updates: str
    allow_renames: bool
    favorite: bool
    autostart_schedule: Optional[str] = None
    ttl_ms: Optional[int] = None
    deleting_at: Optional[dt.datetime] = None
    dormant_at: Optional[dt.datetime] = None
    next_start_at: Optional[dt.datetime] = None


@dataclass
class WorkspacesResponse:
    workspaces: list[Workspace]
    count: int


@dataclass
class CreateWorkspaceRequest:
    name: str = field(min_len=1, max_len=32, pattern=NAME_PATTERN, doc=NAME_RULE)
    template_id: Optional[uuid.UUID] = None
    template_version_id: Optional[uuid.UUID] = None
    autostart_schedule: Optional[str] = None
    ttl_ms: Optional[int] = field(default=None, minimum=0)
    rich_parameter_values: Optional[list[WorkspaceBuildParameter]] = None
    automatic_updates: Literal["always", "never", ""] = ""
    template_version_preset_id: Optional[uuid.UUID] = None


@dataclass
class CreateWorkspaceBuildRequest:
    transition: WorkspaceTransition
    template_version_id: Optional[uuid.UUID] = None
    rich_parameter_values: Optional[list[WorkspaceBuildParameter]] = None
    orphan: bool = False
    dry_run: bool = False
    log_level: Literal["debug", ""] = ""
    # Coder's ProvisionerState ([]byte): base64 in JSON; only template admins may give it.
    state: Optional[str] = None


@dataclass
class UpdateWorkspaceRequest:
    name: str = field(default="", max_len=32, pattern=NAME_PATTERN, doc=NAME_RULE)


PortShareLevel = Literal["owner", "authenticated", "organization", "public"]
PortShareProtocol = Literal["http", "https"]


@dataclass
class UpsertWorkspaceAgentPortShareRequest:
    agent_name: str
    port: int
    share_level: PortShareLevel
    protocol: PortShareProtocol = "http"


@dataclass
class WorkspaceAgentPortShare:
    workspace_id: uuid.UUID
    agent_name: str
    port: int
    share_level: PortShareLevel
    protocol: PortShareProtocol


@dataclass
class WorkspaceAgentPortShares:
    shares: Optional[list[WorkspaceAgentPortShare]] = None


@dataclass
class DeleteWorkspaceAgentPortShareRequest:
    agent_name: str
    port: int


@dataclass
class PostWorkspaceUsageRequest:
    """What Coder's clients report with a workspace's use (coderd reads it only under Coder's
    workspace-usage experiment; the use itself is marked either way)."""
    agent_id: uuid.UUID
    app_name: Literal["vscode", "jetbrains", "reconnecting-pty", "ssh"]


@dataclass
class ResolveAutostartResponse:
    """Whether the next autostart, on the template's active version, lacks a parameter value
    it needs (Coder then skips it)."""
    parameter_mismatch: bool = False


@dataclass
class UpdateWorkspaceBuildStateRequest:
    state: str  # Coder's []byte: the Terraform state, base64 in JSON


@dataclass
class UpdateWorkspaceTTLRequest:
    ttl_ms: Optional[int] = field(default=None, minimum=0)


@dataclass
class UpdateWorkspaceAutostartRequest:
    """Coder's: a ``[CRON_TZ=Zone ]M H * * DOW`` schedule; null or "" turns autostart off."""
    schedule: Optional[str] = None


@dataclass
class PutExtendWorkspaceRequest:
    deadline: dt.datetime


@dataclass
class UpdateWorkspaceAutomaticUpdatesRequest:
    automatic_updates: str = ""


# --- deployment, appearance, regions --------------------------------------------------

@dataclass
class DeploymentOptionGroup:
    name: str


@dataclass
class DeploymentOption:
    """One setting, as Coder's serpent.Option (a secret's value is never sent)."""
    name: str
    description: str
    flag: str
    env: str
    yaml: str
    default: str
    value: Any
    group: DeploymentOptionGroup
    annotations: Optional[dict[str, str]] = None
    hidden: bool = False
    value_source: str = "default"


@dataclass
class DeploymentConfig:
    config: dict[str, Any]
    options: list[DeploymentOption]


@dataclass
class WorkspaceConnectionLatencyMS:
    P50: float
    P95: float


@dataclass
class WorkspaceDeploymentStats:
    pending: int
    building: int
    running: int
    failed: int
    stopped: int
    connection_latency_ms: WorkspaceConnectionLatencyMS
    rx_bytes: int
    tx_bytes: int


@dataclass
class SessionCountDeploymentStats:
    vscode: int
    ssh: int
    jetbrains: int
    reconnecting_pty: int


@dataclass
class DeploymentStats:
    aggregated_from: dt.datetime
    collected_at: dt.datetime
    next_update_at: dt.datetime
    workspaces: WorkspaceDeploymentStats
    session_count: SessionCountDeploymentStats


@dataclass
class SSHConfigResponse:
    hostname_prefix: str
    hostname_suffix: str
    ssh_config_options: dict[str, str]


@dataclass
class BannerConfig:
    enabled: bool = False
    message: str = ""
    background_color: str = ""


@dataclass
class LinkConfig:
    name: str
    target: str
    icon: str = ""
    location: str = ""


@dataclass
class AppearanceConfig:
    application_name: str
    logo_url: str
    docs_url: str
    service_banner: BannerConfig
    announcement_banners: list[BannerConfig]
    support_links: list[LinkConfig]


@dataclass
class Region:
    id: uuid.UUID
    name: str
    display_name: str
    icon_url: str
    healthy: bool
    path_app_url: str
    wildcard_hostname: str


@dataclass
class RegionsResponse:
    regions: list[Region]


@dataclass
class TemplateExample:
    id: str
    url: str
    name: str
    description: str
    icon: str
    tags: list[str]
    markdown: str


# --- workspace watch and timings ---------------------------------------------------

@dataclass
class ServerSentEvent:
    type: Literal["ping", "data", "error"]
    data: Any = None


@dataclass
class ProvisionerTiming:
    job_id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime
    stage: str
    source: str
    action: str
    resource: str


@dataclass
class AgentScriptTiming:
    started_at: dt.datetime
    ended_at: dt.datetime
    exit_code: int
    stage: str
    status: str
    display_name: str
    workspace_agent_id: uuid.UUID
    workspace_agent_name: str


@dataclass
class AgentConnectionTiming:
    started_at: dt.datetime
    ended_at: dt.datetime
    stage: str
    workspace_agent_id: uuid.UUID
    workspace_agent_name: str


@dataclass
class WorkspaceBuildTimings:
    provisioner_timings: list[ProvisionerTiming]
    agent_script_timings: list[AgentScriptTiming]
    agent_connection_timings: list[AgentConnectionTiming]


# --- workspace proxies (codersdk/workspaceproxy.go, enterprise/wsproxy/wsproxysdk) --------

ProxyHealthStatus = Literal["ok", "unreachable", "unhealthy", "unregistered"]


@dataclass
class ProxyHealthReport:
    errors: list[str]
    warnings: list[str]


@dataclass
class WorkspaceProxyStatus:
    status: ProxyHealthStatus
    checked_at: dt.datetime
    report: Optional[ProxyHealthReport] = None


@dataclass
class WorkspaceProxy(Region):
    status: WorkspaceProxyStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted: bool


@dataclass
class CreateWorkspaceProxyRequest:
    name: str = field(pattern=USERNAME_PATTERN, doc=USERNAME_RULE)
    display_name: str = ""
    icon: str = ""


@dataclass
class PatchWorkspaceProxy:
    id: uuid.UUID
    name: str = field(pattern=USERNAME_PATTERN, doc=USERNAME_RULE)
    display_name: str = ""
    icon: str = ""
    regenerate_token: bool = False


@dataclass
class UpdateWorkspaceProxyResponse:
    proxy: WorkspaceProxy
    proxy_token: str


@dataclass
class RegisterWorkspaceProxyRequest:
    access_url: str
    wildcard_hostname: str = ""
    version: str = ""
    replica_id: Optional[uuid.UUID] = None


@dataclass
class RegisterWorkspaceProxyResponse:
    deployment_id: uuid.UUID
    app_security_key: str
    relay_key: str = ""  # the appliance's: its proof at coderd's relay listeners


@dataclass
class DeregisterWorkspaceProxyRequest:
    replica_id: Optional[uuid.UUID] = None


@dataclass
class WorkspaceAppRequest:
    """Which app a request at the proxy is for (wsproxysdk's workspaceapps.Request)."""
    access_method: Literal["path", "subdomain"]
    username_or_id: str
    workspace_name_or_id: str
    agent_name_or_id: str = ""
    app_slug_or_port: str = ""


@dataclass
class IssueSignedAppTokenRequest:
    app_request: WorkspaceAppRequest
    session_token: str


@dataclass
class IssueSignedConnectTokenRequest:
    """The appliance's: a stream (ssh, tcp:PORT, a terminal's pty:...) to an agent."""
    agent_id: uuid.UUID
    target: str
    session_token: str


@dataclass
class IssueSignedAppTokenResponse:
    signed_token_str: str


@dataclass
class IssueReconnectingPTYSignedTokenRequest:
    """Coder's: the web terminal's websocket URL at a workspace proxy, and its agent."""
    url: str
    agentID: uuid.UUID


@dataclass
class IssueReconnectingPTYSignedTokenResponse:
    signed_token: str
