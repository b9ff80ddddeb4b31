"""Entry point of ``coder``, the user's command line, shaped like Coder's CLI.

Global flags (``--url``, ``--token``, ``--global-config``, ``--ca-cert``, ``-v``)
work before or after the command; failures print one message and a hint
(tracebacks only with ``-v``); exit codes are 0 (success), 1 (error) and 2
(usage, or an unexpected failure).
"""
from __future__ import annotations

from typing import Sequence

from appliance.cli.base import CommandInfo, main as run_main

COMMANDS = {
    "login": CommandInfo("appliance.cli.commands.login",
                         "Authenticate with a deployment (creating its first user if needed)."),
    "logout": CommandInfo("appliance.cli.commands.logout", "Unauthenticate your local session."),
    "whoami": CommandInfo("appliance.cli.commands.whoami",
                          "Show the deployment and the user you are authenticated as."),
    "users": CommandInfo("appliance.cli.commands.users",
                         "Manage users: list, show, create, suspend, activate, delete."),
    "tokens": CommandInfo("appliance.cli.commands.tokens",
                          "Manage personal API tokens: create, list, remove."),
    "agent": CommandInfo("agent.cli", "Start the workspace agent (inside a workspace)."),
    "templates": CommandInfo("appliance.cli.commands.templates",
                             "Manage templates: init, push, create, edit, pull, archive, "
                             "list, versions, delete."),
    "create": CommandInfo("appliance.cli.commands.workspaces", "Create a workspace."),
    "list": CommandInfo("appliance.cli.commands.workspaces", "List workspaces.", aliases=("ls",)),
    "show": CommandInfo("appliance.cli.commands.workspaces", "Show a workspace's resources."),
    "start": CommandInfo("appliance.cli.commands.workspaces", "Start a workspace."),
    "stop": CommandInfo("appliance.cli.commands.workspaces", "Stop a workspace."),
    "delete": CommandInfo("appliance.cli.commands.workspaces", "Delete a workspace.", aliases=("rm",)),
    "restart": CommandInfo("appliance.cli.commands.lifecycle", "Restart a workspace."),
    "update": CommandInfo("appliance.cli.commands.lifecycle",
                          "Update a workspace to its template's active version."),
    "rename": CommandInfo("appliance.cli.commands.lifecycle", "Rename a workspace."),
    "state": CommandInfo("appliance.cli.commands.state",
                         "Manually manage Terraform state to fix broken workspaces: pull, push."),
    "ssh": CommandInfo("appliance.cli.commands.ssh",
                       "Start a shell or run a command in a workspace (or --stdio for OpenSSH)."),
    "config-ssh": CommandInfo("appliance.cli.commands.config_ssh",
                              "Add your workspaces to ~/.ssh/config as coder.WORKSPACE hosts."),
    "port-forward": CommandInfo("appliance.cli.commands.port_forward",
                                "Forward local TCP ports to ports inside a workspace.",
                                aliases=("tunnel",)),
    "version": CommandInfo("appliance.cli.commands.version", "Show coder version."),
}


def main(argv: Sequence[str] | None = None) -> int:
    from appliance.cli import connect
    from appliance.cli.commands import version
    return run_main("coder", "Coder: remote development environments, from the command line.",
                    COMMANDS, argv, global_options=connect.add_global_options,
                    translate=connect.translate, version=version.text)


if __name__ == "__main__":
    raise SystemExit(main())
