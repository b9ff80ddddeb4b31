"""``coder_agent`` and ``coder_agent_instance``.

An agent gets a random UUID ``token`` when it is created; the token stays in
the state for the agent's life (a refresh keeps it) and a replaced agent gets
a new one. When coderd hands over a running agent's token
(``CODER_RUNNING_WORKSPACE_AGENT_TOKEN_<sha256 of "">``, Coder's prebuild
claim) that token is used instead. ``init_script`` is coderd's script for the
agent's platform (``CODER_AGENT_SCRIPT_<os>_<arch>``) with ``${ACCESS_URL}``
replaced by the provider URL's root (``scheme://host[:port]/``) and
``${AUTH_TYPE}`` by ``auth``; it is recomputed on every refresh, as Coder's
provider does, so a new access URL reaches the next build.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

from tf.types import Unknown

from provider import checks, contract
from provider.objects import Resource
from provider.schema import BOOL, NUMBER, STRING_MAP, Block, Spec, opt, out, req

DISPLAY_APPS = ("vscode", "vscode_insiders", "web_terminal", "port_forwarding_helper",
                "ssh_helper")
DISPLAY_APP_DEFAULTS = {"vscode": True, "vscode_insiders": False, "web_terminal": True,
                        "port_forwarding_helper": True, "ssh_helper": True}


def _monitor(name: str, *extra) -> Block:
    return Block(name, (*extra, req("enabled", BOOL), req("threshold", NUMBER)), nesting="set",
                 max_items=1 if name == "memory" else 0)


class Agent(Resource):
    NAME = "agent"
    SPEC = Spec(
        description="Use this resource to associate an agent.",
        attrs=(
            out("id", description="The agent's UUID."),
            req("arch", description='The architecture the agent will run on: "amd64", "armv7" or "arm64".'),
            req("os", description='The operating system the agent will run on: "linux", "darwin" or "windows".'),
            opt("auth", default="token", description="The authentication type the agent will use."),
            opt("api_key_scope", default="all", description='"all" or "no_user_data".'),
            opt("dir", deprecated="dir has been deprecated and will be removed in a future release.",
                description="The starting directory of a shell session; deprecated: a value "
                "other than `$HOME` breaks Coder Desktop file sync."),
            opt("env", STRING_MAP, description="Environment variables to set inside the workspace."),
            opt("startup_script", description="A script to run after the agent starts."),
            opt("startup_script_behavior", default="non-blocking",
                description='"blocking" or "non-blocking".'),
            opt("shutdown_script", description="A script to run before the agent stops."),
            opt("connection_timeout", NUMBER, default=120,
                description="Seconds until an agent that never connects is marked timed out."),
            opt("troubleshooting_url", description="A URL with troubleshooting instructions."),
            opt("motd_file", description="A file shown to users logging in over SSH."),
            opt("order", NUMBER, description="Position of the agent in the dashboard."),
            out("token", sensitive=True,
                description="Set `CODER_AGENT_TOKEN` to this token to authenticate the agent."),
            out("init_script", description="Run this script on the instance to start the agent."),
        ),
        blocks=(
            Block("metadata", (
                req("key"), opt("display_name"), req("script"), opt("timeout", NUMBER),
                req("interval", NUMBER), opt("order", NUMBER))),
            Block("display_apps", tuple(opt(n, BOOL, default=DISPLAY_APP_DEFAULTS[n])
                                        for n in DISPLAY_APPS), nesting="set", max_items=1),
            Block("resources_monitoring", (), (_monitor("memory"), _monitor("volume", req("path"))),
                  nesting="set", max_items=1),
        ))

    def check(self, diags, config):
        checks.one_of(diags, config, "os", ("linux", "darwin", "windows"))
        checks.one_of(diags, config, "arch", ("amd64", "armv7", "arm64"))
        checks.one_of(diags, config, "auth", ("token", "google-instance-identity",
                                              "aws-instance-identity", "azure-instance-identity"))
        checks.one_of(diags, config, "api_key_scope", ("all", "no_user_data"))
        checks.one_of(diags, config, "startup_script_behavior", ("blocking", "non-blocking"))
        checks.at_least(diags, config, "connection_timeout", 0)
        if config.get("dir") not in (None, Unknown, "", "$HOME", "~"):
            diags.add_warning('"dir" is deprecated and will be removed in a future release.',
                              path=["dir"])
            diags.add_warning('Setting "dir" to a value other than $HOME will break Coder '
                              'Desktop file sync.', path=["dir"])
        checks.unique_keys(diags, config.get("metadata"), "agent metadata", "metadata")
        for monitors in config.get("resources_monitoring") or ():
            for kind in ("memory", "volume"):
                for m in monitors.get(kind) or ():
                    checks.between(diags, m, "threshold", 0, 100, path=["resources_monitoring"])
                    path = m.get("path")
                    if checks.known(path) and not path.startswith("/"):
                        diags.add_error("volume path must be an absolute path",
                                        path=["resources_monitoring"])

    def fill_outputs(self, diags, state):
        if state.get("token") is Unknown:
            running = os.environ.get(contract.running_agent_token(""))
            state["token"] = running or str(uuid.uuid4())
        state["init_script"] = self._init_script(state)

    def refresh(self, state):
        return {**state, "init_script": self._init_script(state)}

    def _init_script(self, state: dict) -> str:
        script = os.environ.get(contract.agent_script(state["os"], state["arch"]), "")
        if not script:
            return ""
        parts = urlsplit(self.provider.url)
        root = f"{parts.scheme}://{parts.netloc}/"
        return (script.replace(contract.ACCESS_URL_PLACEHOLDER, root)
                .replace(contract.AUTH_TYPE_PLACEHOLDER, state.get("auth") or "token"))


class AgentInstance(Resource):
    NAME = "agent_instance"
    SPEC = Spec(
        description="Associate a cloud instance ID with an agent (zero-trust authentication).",
        attrs=(out("id"), req("agent_id", description="The `id` of a `coder_agent`."),
               req("instance_id", description="The instance identifier of a provisioned resource.")))


class Devcontainer(Resource):
    """A Dev Container the agent should know of and try to start (Coder v2.21 and later)."""
    NAME = "devcontainer"
    SPEC = Spec(
        description="Define a Dev Container the agent should know of and attempt to autostart.",
        attrs=(out("id"),
               req("agent_id", description="The `id` of a `coder_agent` to associate with."),
               req("workspace_folder", description="The workspace folder for the Dev Container."),
               opt("config_path", description="The path to the devcontainer.json."),
               out("subagent_id", description="The ID of the subagent created for it.")))

    def check(self, diags, config):
        checks.not_empty(diags, config, "workspace_folder")

    def fill_outputs(self, diags, state):
        state["subagent_id"] = str(uuid.uuid4())


class ExternalAgent(Resource):
    """An agent run outside the workspace's own resources (a Premium feature in Coder)."""
    NAME = "external_agent"
    SPEC = Spec(
        description="Define an external agent to be used in a workspace.",
        attrs=(out("id"),
               req("agent_id", description="The `id` of a `coder_agent` to associate with.")))
