"""Data sources read from coderd's environment: the workspace, its owner, the provisioner,
and external auth tokens. Defaults for a missing variable are Coder's (so a
template also plans outside Coder); the template fields are required only
during a build (``CODER_WORKSPACE_BUILD_ID`` set), as in Coder.
"""
from __future__ import annotations

import json
import os
import re
import sys
import uuid
from urllib.parse import urlsplit

from tf.types import List

from provider import contract
from provider.checks import known, quote
from provider.objects import DataSource
from provider.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Object,
    Spec,
    opt,
    out,
    req,
)

# Go's GOARCH for this machine, 32-bit ARM reported as "armv7" (as Coder's provisioner does).
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "armv7", "armv6l": "armv7", "i686": "386", "i386": "386"}


def env(name: str, default: str = "") -> str:
    """Go's ``OptionalEnvOrDefault``: an empty variable counts as unset."""
    return os.environ.get(name) or default


def json_env(diags, name: str, what: str) -> list:
    """A JSON list from the environment (unset or empty: an empty list)."""
    raw = os.environ.get(name, "")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        diags.add_error(f"invalid {what}: {exc}")
        return []
    if not isinstance(value, list):
        diags.add_error(f"invalid {what}: {name} is not a JSON list")
        return []
    return value


class Workspace(DataSource):
    NAME = "workspace"
    SPEC = Spec(
        description="Use this data source to get information for the active workspace build.",
        attrs=(
            out("id", description="UUID of the workspace."),
            out("name", description="Name of the workspace."),
            out("transition", description='Either "start" or "stop".'),
            out("start_count", NUMBER, description='1 when the transition is "start", else 0.'),
            out("is_prebuild", BOOL, description="True for an unclaimed prebuilt workspace."),
            out("is_prebuild_claim", BOOL, description="True in the first build after a prebuilt "
                "workspace was claimed."),
            out("prebuild_count", NUMBER, description="1 for an unclaimed prebuilt workspace."),
            out("access_url", description="The access URL of the Coder deployment."),
            out("access_port", NUMBER, description="The port of the access URL."),
            out("template_id", description="ID of the workspace's template."),
            out("template_name", description="Name of the workspace's template."),
            out("template_version", description="Version of the workspace's template."),
        ))

    def compute(self, diags, config, state):
        transition = env(contract.TRANSITION, "start")
        claim = env(contract.IS_PREBUILD_CLAIM).lower() == "true"
        prebuild = env(contract.IS_PREBUILD).lower() == "true" and not claim
        url = self.provider.url
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            diags.add_error(f"couldn't parse port of {url!r}")
            port = 0
        state.update(
            id=env(contract.WORKSPACE_ID) or str(uuid.uuid4()),
            name=env(contract.WORKSPACE_NAME, "default"),
            transition=transition, start_count=int(transition == "start"),
            is_prebuild=prebuild, prebuild_count=int(prebuild), is_prebuild_claim=claim,
            access_url=url, access_port=port)
        for attr, name, what in (("template_id", contract.TEMPLATE_ID, "template ID"),
                                 ("template_name", contract.TEMPLATE_NAME, "template name"),
                                 ("template_version", contract.TEMPLATE_VERSION, "template version")):
            state[attr] = env(name)
            if not state[attr] and env(contract.BUILD_ID):
                diags.add_error(f"{what} is missing: {name} is required")


class WorkspaceOwner(DataSource):
    NAME = "workspace_owner"
    SPEC = Spec(
        description="Use this data source to fetch information about the workspace owner.",
        version=0,
        attrs=(
            out("id", description="The UUID of the workspace owner."),
            out("name", description="The username of the user."),
            out("full_name", description="The full name of the user."),
            out("email", description="The email address of the user."),
            out("ssh_public_key", description="The user's generated SSH public key."),
            out("ssh_private_key", sensitive=True, description="The user's generated SSH private key."),
            out("groups", STRING_LIST, description="The groups of which the user is a member."),
            out("session_token", sensitive=True,
                description="Session token for the Coder deployment, regenerated at each start."),
            out("oidc_access_token", sensitive=True,
                description="The owner's OpenID Connect access token, if they logged in with OIDC."),
            out("oidc_id_token", sensitive=True,
                description="The owner's OpenID Connect ID token, if they logged in with OIDC."),
            out("login_type", description="The type of login the user has."),
            out("rbac_roles", List(Object(name=STRING, org_id=STRING)),
                description="The RBAC roles of which the user is assigned."),
        ))

    def compute(self, diags, config, state):
        roles = json_env(diags, contract.OWNER_RBAC_ROLES, "user rbac roles")
        state.update(
            id=env(contract.OWNER_ID) or str(uuid.uuid4()),
            name=env(contract.OWNER, "default"),
            full_name=env(contract.OWNER_NAME, "default"),
            email=env(contract.OWNER_EMAIL, "default@example.com"),
            ssh_public_key=env(contract.OWNER_SSH_PUBLIC_KEY),
            ssh_private_key=env(contract.OWNER_SSH_PRIVATE_KEY),
            groups=json_env(diags, contract.OWNER_GROUPS, "user groups"),
            session_token=env(contract.OWNER_SESSION_TOKEN),
            oidc_access_token=env(contract.OWNER_OIDC_ACCESS_TOKEN),
            oidc_id_token=env(contract.OWNER_OIDC_ID_TOKEN),
            login_type=env(contract.OWNER_LOGIN_TYPE),
            rbac_roles=[{"name": str(r.get("name", "")), "org_id": str(r.get("org_id", ""))}
                        for r in roles if isinstance(r, dict)])


class Provisioner(DataSource):
    NAME = "provisioner"
    SPEC = Spec(
        description="Use this data source to get information about the Coder provisioner.",
        attrs=(out("id"),
               out("os", description="The operating system of the host (Go's GOOS)."),
               out("arch", description="The architecture of the host (Go's GOARCH).")))

    def compute(self, diags, config, state):
        machine = os.uname().machine
        state.update(id=str(uuid.uuid4()), os=sys.platform.rstrip("0123456789"),
                     arch=_GOARCH.get(machine, machine))


class ExternalAuth(DataSource):
    NAME = "external_auth"
    SPEC = Spec(
        description="Require users to authenticate with an external provider before creating a "
                    "workspace; its access token is then available here.",
        attrs=(req("id", description="The ID of an external auth provider configured in Coder."),
               opt("optional", BOOL, description="Whether the user may skip authenticating."),
               out("access_token", sensitive=True,
                   description="The access token from the external provider.")))

    def compute(self, diags, config, state):
        state["access_token"] = env(contract.external_auth_token(config["id"]))


class Secret(DataSource):
    """A user secret the workspace needs, by the variable or file it is to become."""
    NAME = "secret"
    SPEC = Spec(
        description="Use this data source to declare that a workspace requires a user secret.",
        attrs=(out("id"),
               opt("env", description="The environment variable the secret is injected as."),
               opt("file", description="The file path (/ or ~/) the secret is injected as."),
               req("help_message", description="Guidance shown when the secret is missing."),
               out("value", sensitive=True, description="The resolved secret value.")))

    def check(self, diags, config):
        name, path = config.get("env"), config.get("file")
        if known(name) and name and not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", name):
            diags.add_error("`env` must be a POSIX-compliant identifier matching "
                            f'"^[a-zA-Z_][a-zA-Z0-9_]*$"; got {quote(name)}', path=["env"])
        if known(path) and path and not path.startswith(("/", "~/")):
            diags.add_error(f"`file` must start with `/` or `~/`; got {quote(path)}", path=["file"])

    def compute(self, diags, config, state):
        name, path = config.get("env") or "", config.get("file") or ""
        if bool(name) == bool(path):
            diags.add_error("exactly one of `env` or `file` must be set")
            return
        state["id"] = f"env:{name}" if name else f"file:{path}"
        state["value"] = env(contract.secret_env(name) if name else contract.secret_file(path))
        start_build = env(contract.BUILD_ID) and env(contract.TRANSITION) == "start"
        if state["value"] or not start_build:
            return
        required = f"environment variable {quote(name)}" if name else f"file {quote(path)}"
        detail = f"Required: {required}\n\n"
        if config.get("help_message"):
            detail += f"Help message: {config['help_message']}\n\n"
        detail += f"To resolve: ensure a secret exposes the {required}.\n"
        diags.add_error(f"Missing required secret: {required}", detail)
