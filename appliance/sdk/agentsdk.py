"""The workspace agent's side of the API: types and client, as Coder's agentsdk.

The agent authenticates with its token (``CODER_AGENT_TOKEN``, sent as the
``Coder-Session-Token`` header as Coder's agent does) and calls only
``/api/v2/workspaceagents/me/...``. ``AgentClient`` wraps the one SDK client,
so errors come back as the same ``APIError``.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from . import types
from .client import Client
from .model import field as mfield

ME = "/api/v2/workspaceagents/me"
# The log source of the agent's own messages (Coder's agentsdk.ExternalLogSourceID).
EXTERNAL_LOG_SOURCE_ID = uuid.UUID("3b579bf4-1ed8-4b99-87a8-e9a1e3410410")


@dataclass
class Manifest:
    """Everything the agent needs to know about its workspace (GET /me/manifest)."""
    agent_id: uuid.UUID
    agent_name: str
    owner_name: str
    workspace_id: uuid.UUID
    workspace_name: str
    apps: list[types.WorkspaceApp]
    scripts: list[types.WorkspaceAgentScript]
    metadata: list[types.WorkspaceAgentMetadataDescription]
    environment_variables: dict[str, str] = field(default_factory=dict)
    directory: str = ""
    motd_file: str = ""
    vscode_port_proxy_uri: str = ""
    git_auth_configs: int = 0
    disable_direct_connections: bool = True  # everything relays through coderd


@dataclass
class PostLifecycleRequest:
    state: types.AgentLifecycleState
    changed_at: dt.datetime


@dataclass
class PostStartupRequest:
    version: str
    expanded_directory: str
    subsystems: list[str] = field(default_factory=list)


@dataclass
class Log:
    created_at: dt.datetime
    output: str
    level: types.LogLevel = "info"


@dataclass
class PatchLogs:
    log_source_id: uuid.UUID
    logs: list[Log]


@dataclass
class PostLogSourceRequest:
    id: uuid.UUID
    display_name: str
    icon: str = ""


@dataclass
class Stats:
    """What the agent counts between two reports (Coder's agentsdk.Stats)."""
    connections_by_proto: dict[str, int] = field(default_factory=dict)
    connection_count: int = 0
    connection_median_latency_ms: float = 0.0
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    session_count_vscode: int = 0
    session_count_jetbrains: int = 0
    session_count_reconnecting_pty: int = 0
    session_count_ssh: int = 0


@dataclass
class StatsResponse:
    report_interval: int  # nanoseconds: when to report next; it is also the heartbeat


@dataclass
class PostAppHealthsRequest:
    healths: dict[str, Literal["disabled", "initializing", "healthy", "unhealthy"]]


@dataclass
class MetadataResult:
    key: str
    collected_at: dt.datetime
    age: int = 0
    value: str = ""
    error: str = ""


@dataclass
class PostMetadataRequest:
    metadata: list[MetadataResult]


@dataclass
class GitSSHKey:
    """The workspace owner's git SSH key, both halves, for ``git`` in the workspace."""
    public_key: str
    private_key: str


@dataclass
class ScriptTiming:
    """One run of a ``coder_script`` (Coder's agent proto WorkspaceAgentScriptTiming)."""
    script_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    exit_code: int = mfield(minimum=-(2**31), maximum=2**31 - 1)
    stage: Literal["start", "stop", "cron"] = "start"
    status: Literal["ok", "exit_failure", "timed_out", "pipes_left_open"] = "ok"


@dataclass
class ScriptCompletedRequest:
    timing: ScriptTiming


class AgentClient(Client):
    """The SDK client as a workspace agent: one method per agent call."""

    def __init__(self, url: str, token: str, **kwargs: Any):
        super().__init__(url, token, **kwargs)
        self.http.headers["User-Agent"] = "coder-appliance-agent"

    def manifest(self) -> Manifest:
        return self._request("GET", f"{ME}/manifest", model_type=Manifest)

    def post_lifecycle(self, state: str, changed_at: dt.datetime) -> None:
        self._request("POST", f"{ME}/report-lifecycle",
                      PostLifecycleRequest(state=state, changed_at=changed_at), expect=204)

    def post_startup(self, req: PostStartupRequest) -> None:
        self._request("POST", f"{ME}/startup", req, expect=200)

    def post_log_source(self, req: PostLogSourceRequest) -> types.WorkspaceAgentLogSource:
        return self._request("POST", f"{ME}/log-source", req, expect=201,
                             model_type=types.WorkspaceAgentLogSource)

    def patch_logs(self, req: PatchLogs) -> None:
        self._request("PATCH", f"{ME}/logs", req, expect=200)

    def report_stats(self, stats: Stats) -> float:
        """Send stats; return the seconds until the next report coderd asks for."""
        resp = self._request("POST", f"{ME}/report-stats", stats, model_type=StatsResponse)
        return resp.report_interval / 1e9

    def post_app_health(self, healths: dict[uuid.UUID, str]) -> None:
        self._request("POST", f"{ME}/app-health",
                      PostAppHealthsRequest(healths={str(k): v for k, v in healths.items()}))

    def post_metadata(self, results: list[MetadataResult]) -> None:
        self._request("POST", f"{ME}/metadata", PostMetadataRequest(metadata=results), expect=204)

    def git_ssh_key(self) -> GitSSHKey:
        return self._request("GET", f"{ME}/gitsshkey", model_type=GitSSHKey)

    def script_completed(self, timing: ScriptTiming) -> None:
        """Report a script's run (Coder's ScriptCompleted), for the build's timings."""
        self._request("POST", f"{ME}/script-completed", ScriptCompletedRequest(timing=timing),
                      expect=204)
