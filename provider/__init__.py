"""terraform-provider-coder in Python: Coder's ``coder_*`` template language, offline.

Served to terraform over tfplugin6 by PyPI's ``tf`` package (``provider.plugin``)
as ``registry.terraform.io/coder/coder``. Resources: ``coder_agent``,
``coder_agent_instance``, ``coder_app``, ``coder_script``, ``coder_env``,
``coder_metadata``, ``coder_ai_task``, ``coder_devcontainer``,
``coder_external_agent``. Data sources: ``coder_workspace``,
``coder_workspace_owner``, ``coder_parameter``, ``coder_provisioner``,
``coder_external_auth``, ``coder_workspace_preset``, ``coder_workspace_tags``,
``coder_task``, ``coder_secret`` (every type of Coder's 2.17.0). Attribute names, defaults, checks and messages are
Coder's. Nothing here contacts any host: every value comes from the template
or from the environment coderd gives terraform.

The environment contract (coderd's provisioner sets these for every
``terraform plan``/``apply``; names in ``provider.contract``):

``CODER_AGENT_URL``
    coderd's access URL, e.g. ``http://10.0.0.5:3000``; the provider's
    ``url`` (a ``provider "coder" { url = ... }`` wins). Unset or empty:
    ``https://mydeployment.coder.com``. ``coder_workspace.access_url`` is
    it verbatim; ``access_port`` its port (else 80/443 by scheme).
``CODER_WORKSPACE_TRANSITION``
    ``start``, ``stop`` or ``destroy`` (unset: ``start``);
    ``coder_workspace.start_count`` is 1 for ``start``, else 0.
``CODER_WORKSPACE_NAME``, ``CODER_WORKSPACE_ID``
    (unset: ``default`` and a random UUID.)
``CODER_WORKSPACE_OWNER`` (username), ``_OWNER_ID``, ``_OWNER_NAME`` (full
name), ``_OWNER_EMAIL``, ``_OWNER_SESSION_TOKEN``, ``_OWNER_OIDC_ACCESS_TOKEN``,
``_OWNER_OIDC_ID_TOKEN``, ``_OWNER_SSH_PUBLIC_KEY``, ``_OWNER_SSH_PRIVATE_KEY``,
``_OWNER_LOGIN_TYPE``
    the owner, for ``coder_workspace_owner``. Unset: ``default``, a random
    UUID, ``default``, ``default@example.com``; the others "".
``CODER_WORKSPACE_OWNER_GROUPS``
    a JSON list of group names, e.g. ``["Everyone"]`` (unset or "": []).
``CODER_WORKSPACE_OWNER_RBAC_ROLES``
    a JSON list of ``{"name": ..., "org_id": ...}`` (unset or "": []).
``CODER_WORKSPACE_TEMPLATE_ID``, ``_TEMPLATE_NAME``, ``_TEMPLATE_VERSION``
    required (non-empty) whenever ``CODER_WORKSPACE_BUILD_ID`` is set.
``CODER_WORKSPACE_BUILD_ID``
    the build's UUID; set it for workspace builds, leave it unset for
    template imports.
``CODER_WORKSPACE_IS_PREBUILD``
    ``true`` for an unclaimed prebuilt workspace (else unset);
    ``CODER_WORKSPACE_IS_PREBUILD_CLAIM``: ``true`` in the build that claims one.
``CODER_TASK_ID``, ``CODER_TASK_PROMPT``
    the Coder Task the build runs for (``coder_task``, ``coder_ai_task``).
``CODER_SECRET_ENV_<name>``, ``CODER_SECRET_FILE_<hex of the path>``
    the user secrets ``coder_secret`` asks for.
``CODER_AGENT_SCRIPT_<os>_<arch>`` (``linux_amd64``, ``linux_arm64``,
``linux_armv7``, ``darwin_*``, ``windows_*``)
    the agent's init script with ``${ARCH}`` already filled in by coderd. The
    provider sets ``coder_agent.init_script`` to it with every
    ``${ACCESS_URL}`` replaced by the URL's root with a trailing slash
    (``http://10.0.0.5:3000/``, so the script writes
    ``${ACCESS_URL}bin/coder-linux-amd64``) and every ``${AUTH_TYPE}`` by the
    agent's ``auth`` (``token``). Unset: ``init_script`` is "".
``CODER_PARAMETER_<hex sha256 of the parameter name>``
    the value of a ``coder_parameter`` (set it, even to "", to override the
    default); ``CODER_PARAMETER_PREVIOUS_<hex sha256>``: the previous
    build's value, for ``monotonic`` validation.
``CODER_EXTERNAL_AUTH_ACCESS_TOKEN_<id>``
    the access token of ``data "coder_external_auth"`` with that ``id``.
``CODER_RUNNING_WORKSPACE_AGENT_TOKEN_<hex sha256 of "">``
    reuse this agent token instead of generating one (Coder's prebuild claim).

What coderd reads back from the state: ``coder_agent`` ``id`` and ``token``
(a random UUID made when the agent is created, kept while it exists, new
when it is replaced) plus its inputs; every input attribute of every resource
is ``ForceNew``. Unset optional attributes are null in the state (Coder's
Go provider wrote zero values); an absent ``display_apps`` block means
Coder's defaults (vscode, web_terminal, ssh_helper, port_forwarding_helper
on; vscode_insiders off).
"""

VERSION = "2.17.0"
"""The release of Coder's terraform-provider-coder whose schema this implements: the version
in the mirror (so templates' ``required_providers`` constraints resolve as with Coder's)."""
