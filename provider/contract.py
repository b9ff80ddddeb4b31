"""The environment coderd's provisioner hands to terraform, by name.

One place for every variable the provider reads, so coderd (which may import
this module: it pulls in nothing but the standard library) sets exactly what
the provider looks up. The names and encodings are Coder's own; see the
package docstring and docs/provider.md for the meaning of each.
"""
from __future__ import annotations

import hashlib

AGENT_URL = "CODER_AGENT_URL"
TRANSITION = "CODER_WORKSPACE_TRANSITION"
WORKSPACE_NAME = "CODER_WORKSPACE_NAME"
WORKSPACE_ID = "CODER_WORKSPACE_ID"
OWNER = "CODER_WORKSPACE_OWNER"
OWNER_ID = "CODER_WORKSPACE_OWNER_ID"
OWNER_EMAIL = "CODER_WORKSPACE_OWNER_EMAIL"
OWNER_NAME = "CODER_WORKSPACE_OWNER_NAME"
OWNER_SESSION_TOKEN = "CODER_WORKSPACE_OWNER_SESSION_TOKEN"
OWNER_GROUPS = "CODER_WORKSPACE_OWNER_GROUPS"
OWNER_OIDC_ACCESS_TOKEN = "CODER_WORKSPACE_OWNER_OIDC_ACCESS_TOKEN"
OWNER_OIDC_ID_TOKEN = "CODER_WORKSPACE_OWNER_OIDC_ID_TOKEN"
OWNER_SSH_PUBLIC_KEY = "CODER_WORKSPACE_OWNER_SSH_PUBLIC_KEY"
OWNER_SSH_PRIVATE_KEY = "CODER_WORKSPACE_OWNER_SSH_PRIVATE_KEY"
OWNER_LOGIN_TYPE = "CODER_WORKSPACE_OWNER_LOGIN_TYPE"
OWNER_RBAC_ROLES = "CODER_WORKSPACE_OWNER_RBAC_ROLES"
TEMPLATE_ID = "CODER_WORKSPACE_TEMPLATE_ID"
TEMPLATE_NAME = "CODER_WORKSPACE_TEMPLATE_NAME"
TEMPLATE_VERSION = "CODER_WORKSPACE_TEMPLATE_VERSION"
BUILD_ID = "CODER_WORKSPACE_BUILD_ID"
IS_PREBUILD = "CODER_WORKSPACE_IS_PREBUILD"
IS_PREBUILD_CLAIM = "CODER_WORKSPACE_IS_PREBUILD_CLAIM"
TASK_ID = "CODER_TASK_ID"
TASK_PROMPT = "CODER_TASK_PROMPT"
VALIDATION_MODE = "CODER_VALIDATION_MODE"

# The provider's own default when neither the provider block nor
# CODER_AGENT_URL gives a URL (Coder's value).
DEFAULT_URL = "https://mydeployment.coder.com"
# The platforms coderd writes an agent script for (Coder's list).
AGENT_PLATFORMS = tuple(f"{os_}_{arch}" for os_ in ("linux", "darwin", "windows")
                        for arch in ("amd64", "arm64", "armv7"))
# The placeholders the provider fills in the agent script; coderd fills
# ${ARCH} itself before handing the script over.
ACCESS_URL_PLACEHOLDER = "${ACCESS_URL}"
AUTH_TYPE_PLACEHOLDER = "${AUTH_TYPE}"


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def agent_script(os_: str, arch: str) -> str:
    """``CODER_AGENT_SCRIPT_linux_amd64``: the init script template for a platform."""
    return f"CODER_AGENT_SCRIPT_{os_}_{arch}"


def parameter(name: str) -> str:
    """``CODER_PARAMETER_<sha256 hex of the name>``: a rich parameter's value.

    Hashed because parameter names may hold characters no variable name can.
    """
    return "CODER_PARAMETER_" + _sha256_hex(name)


def parameter_previous(name: str) -> str:
    """``CODER_PARAMETER_PREVIOUS_<sha256 hex>``: the previous build's value (monotonic checks)."""
    return "CODER_PARAMETER_PREVIOUS_" + _sha256_hex(name)


def running_agent_token(agent_id: str = "") -> str:
    """The agent token to reuse instead of a new one (Coder's prebuild claim).

    Coder keys it by the sha256 of the agent id and, with one agent, of the
    empty string, which is the only form the provider reads.
    """
    return "CODER_RUNNING_WORKSPACE_AGENT_TOKEN_" + _sha256_hex(agent_id)


def external_auth_token(provider_id: str) -> str:
    """``CODER_EXTERNAL_AUTH_ACCESS_TOKEN_<id>``: an external auth provider's token."""
    return f"CODER_EXTERNAL_AUTH_ACCESS_TOKEN_{provider_id}"


def secret_env(name: str) -> str:
    """``CODER_SECRET_ENV_<name>``: the user's secret a ``coder_secret`` with ``env`` asks for."""
    return f"CODER_SECRET_ENV_{name}"


def secret_file(path: str) -> str:
    """``CODER_SECRET_FILE_<hex of the path>``: the secret a ``coder_secret`` with ``file`` asks for."""
    return "CODER_SECRET_FILE_" + path.encode().hex()
