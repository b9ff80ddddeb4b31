"""The provisioner daemon's side of the API: types and client.

Daemons talk to coderd over HTTP(S) only, authenticated with the pre-shared
key; they never touch the database. A daemon registers, long-polls for a job,
streams logs (which doubles as its heartbeat and tells it of a cancel), and
reports the job complete or failed. The same client serves the built-in
daemons coderd starts and the external ones an administrator runs elsewhere.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from .client import Client, _error_from
from .model import field as mfield
from .pinning import PinnedAdapter
from .types import TemplateVersionParameterOption, WorkspaceBuildParameter

PSK_HEADER = "Coder-Provisioner-Daemon-PSK"


@dataclass
class RegisterDaemonRequest:
    name: str = mfield(min_len=1, max_len=64)
    organization: str = "default"
    provisioners: list[str] = field(default_factory=lambda: ["terraform"])
    tags: dict[str, str] = field(default_factory=dict)
    version: str = ""
    built_in: bool = False


@dataclass
class RegisterDaemonResponse:
    id: uuid.UUID
    organization_id: uuid.UUID


@dataclass
class TemplateVariable:
    """A ``variable`` block of the template, as an import read it (Coder's proto.TemplateVariable)."""
    name: str
    description: str = ""
    type: str = ""  # the type expression as written; "" when none
    default_value: str = ""  # a string as is, anything else as JSON
    required: bool = False  # no default, as Coder has it
    sensitive: bool = False


@dataclass
class VariableValue:
    """What terraform is given for one variable at every plan."""
    name: str
    value: str
    type: str = ""
    sensitive: bool = False


@dataclass
class TemplateVariablesRequest:
    variables: list[TemplateVariable] = field(default_factory=list)


@dataclass
class TemplateVariablesResponse:
    variable_values: list[VariableValue] = field(default_factory=list)


@dataclass
class JobMetadata:
    """What the provisioner exposes to Terraform as CODER_* variables."""
    coder_url: str
    workspace_transition: str = "start"
    workspace_name: str = ""
    workspace_id: str = ""
    workspace_owner: str = ""
    workspace_owner_id: str = ""
    workspace_owner_email: str = ""
    workspace_owner_name: str = ""
    workspace_owner_session_token: str = ""
    workspace_owner_login_type: str = ""
    workspace_owner_rbac_roles: list[str] = field(default_factory=list)
    workspace_owner_groups: list[str] = field(default_factory=list)
    template_id: str = ""
    template_name: str = ""
    template_version: str = ""
    workspace_build_id: str = ""


@dataclass
class AcquiredJob:
    job_id: uuid.UUID
    type: str  # template_version_import | template_version_dry_run | workspace_build
    file_id: uuid.UUID
    metadata: JobMetadata
    transition: str = "start"
    rich_parameter_values: list[WorkspaceBuildParameter] = field(default_factory=list)
    previous_parameter_values: list[WorkspaceBuildParameter] = field(default_factory=list)
    state: str = ""  # base64 of the previous build's terraform state
    agent_scripts: dict[str, str] = field(default_factory=dict)  # "linux_amd64" -> script
    variable_values: list[VariableValue] = field(default_factory=list)  # a build's version's


@dataclass
class JobLog:
    created_at: str
    level: str  # trace | debug | info | warn | error
    stage: str
    output: str
    source: str = "provisioner"


@dataclass
class UpdateJobRequest:
    logs: list[JobLog] = field(default_factory=list)


@dataclass
class UpdateJobResponse:
    canceled: bool


@dataclass
class App:
    slug: str
    display_name: str = ""
    url: str = ""
    command: str = ""
    icon: str = ""
    external: bool = False
    subdomain: bool = False
    sharing_level: str = "owner"
    healthcheck_url: str = ""
    healthcheck_interval: int = 0
    healthcheck_threshold: int = 0
    order: int = 0
    hidden: bool = False
    open_in: str = "slim-window"


@dataclass
class Script:
    display_name: str
    script: str
    icon: str = ""
    cron: str = ""
    log_path: str = ""
    run_on_start: bool = False
    run_on_stop: bool = False
    start_blocks_login: bool = False
    timeout_seconds: int = 0


@dataclass
class AgentMetadata:
    key: str
    display_name: str
    script: str
    interval: int = 10
    timeout: int = 10
    order: int = 0


@dataclass
class Agent:
    name: str
    auth_token: str
    operating_system: str
    architecture: str
    directory: str = ""
    env: dict[str, str] = field(default_factory=dict)
    connection_timeout_seconds: int = 120
    troubleshooting_url: str = ""
    motd_file: str = ""
    display_apps: list[str] = field(default_factory=list)
    order: int = 0
    apps: list[App] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    metadata: list[AgentMetadata] = field(default_factory=list)


@dataclass
class ResourceMetadataItem:
    key: str
    value: Optional[str] = None
    sensitive: bool = False


@dataclass
class Resource:
    name: str
    type: str
    hide: bool = False
    icon: str = ""
    instance_type: str = ""
    daily_cost: int = 0
    module_path: str = ""
    metadata: list[ResourceMetadataItem] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)


@dataclass
class RichParameter:
    name: str
    type: str
    display_name: str = ""
    description: str = ""
    mutable: bool = False
    default_value: str = ""
    icon: str = ""
    options: list[TemplateVersionParameterOption] = field(default_factory=list)
    validation_regex: str = ""
    validation_error: str = ""
    validation_min: Optional[int] = None
    validation_max: Optional[int] = None
    validation_monotonic: str = ""
    required: bool = False
    ephemeral: bool = False
    order: int = 0
    form_type: str = ""


@dataclass
class Preset:
    """A ``coder_workspace_preset`` the import read: parameter values users may pick."""
    name: str
    parameters: list[WorkspaceBuildParameter] = field(default_factory=list)
    default: bool = False
    description: str = ""
    icon: str = ""
    desired_instances: Optional[int] = None  # its prebuilds' pool size


@dataclass
class Timing:
    """A step of the job or a resource's action in it (Coder's proto.Timing)."""
    started_at: dt.datetime
    ended_at: dt.datetime
    stage: Literal["init", "plan", "graph", "apply"]
    source: str = mfield(max_len=256)
    action: str = mfield(max_len=256)
    resource: str = mfield(max_len=1024)


@dataclass
class CompleteJobRequest:
    """Import jobs fill the *_resources, parameters and presets; builds fill state and
    resources; both send where their time went."""
    start_resources: list[Resource] = field(default_factory=list)
    stop_resources: list[Resource] = field(default_factory=list)
    rich_parameters: list[RichParameter] = field(default_factory=list)
    presets: list[Preset] = field(default_factory=list)
    state: str = ""
    resources: list[Resource] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)


@dataclass
class FailJobRequest:
    error: str
    error_code: str = ""
    state: str = ""  # a failed build's partial terraform state, base64


class ProvisionerDaemonClient(Client):
    """The SDK client as a daemon: PSK-authenticated, one method per daemon call."""

    def __init__(self, url: str, psk: str, *, pin_sha256: str = "", **kwargs: Any):
        """``pin_sha256``: trust coderd's certificate by its SHA-256 alone (``sdk.pinning``), not
        ``verify``'s CAs; the built-in daemons' way to their own coderd on 127.0.0.1."""
        super().__init__(url, **kwargs)
        if pin_sha256:
            if not self.url.startswith("https://"):
                raise ValueError(f"a certificate pin needs an https:// URL, not {self.url}")
            self.http.mount(self.url + "/", PinnedAdapter(pin_sha256))
        self.http.headers[PSK_HEADER] = psk

    def register(self, req: RegisterDaemonRequest) -> RegisterDaemonResponse:
        return self._request("POST", "/api/v2/provisionerd/register", req,
                             model_type=RegisterDaemonResponse)

    def acquire(self, daemon_id: uuid.UUID) -> AcquiredJob | None:
        """Long-polls; None when no job arrived in the server's wait."""
        return self._request("POST", f"/api/v2/provisionerd/{daemon_id}/acquire",
                             expect=(200, 204), model_type=AcquiredJob)

    def download_archive(self, daemon_id: uuid.UUID, job_id: uuid.UUID) -> bytes:
        """The template archive of a job this daemon holds."""
        resp = self.http.get(f"{self.url}/api/v2/provisionerd/{daemon_id}/jobs/{job_id}/archive",
                             timeout=self.timeout)
        if resp.status_code != 200:
            raise _error_from(resp)
        return resp.content

    def update_job(self, daemon_id: uuid.UUID, job_id: uuid.UUID, logs: list[JobLog]) -> bool:
        """Send logs (and prove liveness); True when the job was canceled."""
        return self._request("POST", f"/api/v2/provisionerd/{daemon_id}/jobs/{job_id}/update",
                             UpdateJobRequest(logs=logs), model_type=UpdateJobResponse).canceled

    def template_variables(self, daemon_id: uuid.UUID, job_id: uuid.UUID,
                           variables: list[TemplateVariable]) -> list[VariableValue]:
        """Store an import's variables; the values its plans are given. A required variable
        without a value is an APIError (400) with Coder's message, after they are stored."""
        return self._request("POST", f"/api/v2/provisionerd/{daemon_id}/jobs/{job_id}/variables",
                             TemplateVariablesRequest(variables=variables),
                             model_type=TemplateVariablesResponse).variable_values

    def complete_job(self, daemon_id: uuid.UUID, job_id: uuid.UUID, req: CompleteJobRequest) -> None:
        self._request("POST", f"/api/v2/provisionerd/{daemon_id}/jobs/{job_id}/complete", req,
                      expect=204)

    def fail_job(self, daemon_id: uuid.UUID, job_id: uuid.UUID, error: str, code: str = "",
                 state: str = "") -> None:
        self._request("POST", f"/api/v2/provisionerd/{daemon_id}/jobs/{job_id}/fail",
                      FailJobRequest(error=error, error_code=code, state=state), expect=204)
