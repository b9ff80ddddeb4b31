"""The environment and folder every command the agent starts gets (scripts, metadata,
and the relay's SSH sessions), as Coder's agent sets them."""
from __future__ import annotations

import os
import pwd

from appliance.sdk.agentsdk import Manifest

# Never handed to what the agent runs: they would let any process act as the agent.
SECRET_ENV = ("CODER_AGENT_TOKEN", "CODER_AGENT_TOKEN_FILE")


# Login shells that run nothing: a service account's (useradd --system -s /usr/sbin/nologin).
REFUSING_SHELLS = ("nologin", "false")


def user_shell() -> str:
    """The user's login shell, which Coder's agent runs every command with; /bin/sh where
    there is none or it refuses to run anything (the ``local`` template runs its agents as
    coderd's service account, whose shell is nologin)."""
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        return "/bin/sh"
    return shell if shell and os.path.basename(shell) not in REFUSING_SHELLS else "/bin/sh"


def command_env(manifest: Manifest, agent_url: str,
                agent_env: dict[str, str] | None = None) -> dict[str, str]:
    """The agent's own environment (less its secrets), Coder's variables and ``agent_env``
    (the agent's services: ``GIT_SSH_COMMAND``), then the template's (``coder_agent.env``
    and ``coder_env``), which win."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    try:
        user = pwd.getpwuid(os.getuid())
        env.setdefault("USER", user.pw_name)
        env.setdefault("LOGNAME", user.pw_name)
        env.setdefault("HOME", user.pw_dir)
    except KeyError:
        pass
    env.setdefault("SHELL", user_shell())
    env.update({
        "CODER": "true",
        "CODER_AGENT_URL": agent_url,
        "CODER_WORKSPACE_NAME": manifest.workspace_name,
        "CODER_WORKSPACE_ID": str(manifest.workspace_id),
        "CODER_WORKSPACE_OWNER_NAME": manifest.owner_name,
        "CODER_WORKSPACE_AGENT_NAME": manifest.agent_name,
        **(agent_env or {}),
    })
    if manifest.vscode_port_proxy_uri:
        env["VSCODE_PROXY_URI"] = manifest.vscode_port_proxy_uri
    env.update(manifest.environment_variables)
    return env


def expanded_directory(manifest: Manifest) -> str:
    """The manifest's directory with ``~`` and ``$VARS`` expanded (home when unset)."""
    if not manifest.directory:
        return os.path.expanduser("~")
    return os.path.abspath(os.path.expandvars(os.path.expanduser(manifest.directory)))


def working_directory(manifest: Manifest) -> str:
    """Where commands start: the expanded directory, or home while it does not exist
    (a startup script may be what creates it), as Coder's agent does."""
    path = expanded_directory(manifest)
    return path if os.path.isdir(path) else os.path.expanduser("~")
