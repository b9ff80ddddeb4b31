"""Entry point of ``coder``, the user's command line, shaped like Coder's CLI.

Global flags (``--url``, ``--token``, ``--global-config``, ``--ca-cert``, ``-v``)
work before or after the command; failures print one message and a hint
(tracebacks only with ``-v``); exit codes are 0 (success), 1 (error) and 2
(usage, or an unexpected failure).
"""
from __future__ import annotations

from typing import Sequence

from appliance.cli.base import CommandInfo, main as run_main

DESCRIPTION = "Coder: remote development environments, from the command line."

COMMANDS = {
    "login": CommandInfo("appliance.cli.commands.login",
                         "Authenticate with a deployment (creating its first user if needed)."),
    "logout": CommandInfo("appliance.cli.commands.logout", "Unauthenticate your local session."),
    "whoami": CommandInfo("appliance.cli.commands.whoami",
                          "Show the deployment and the user you are authenticated as."),
    "users": CommandInfo("appliance.cli.commands.users",
                         "Manage users: list, show, create, edit-roles, suspend, activate, delete."),
    "organizations": CommandInfo("appliance.cli.commands.organizations",
                                 "Organizations: show one, and list and manage its members.",
                                 aliases=("organization", "org", "orgs")),
    "tokens": CommandInfo("appliance.cli.commands.tokens",
                          "Manage personal API tokens: create, list, remove."),
    "agent": CommandInfo("appliance.cli.commands.agent",
                         "Start the workspace agent (inside a workspace)."),
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
    "schedule": CommandInfo("appliance.cli.commands.schedule",
                            "Schedule automated start and stop times for workspaces: show, "
                            "start, stop, extend."),
    "favorite": CommandInfo("appliance.cli.commands.preferences",
                            "Add a workspace to your favorites.", aliases=("fav", "favourite")),
    "unfavorite": CommandInfo("appliance.cli.commands.preferences",
                              "Remove a workspace from your favorites.",
                              aliases=("unfav", "unfavourite")),
    "autoupdate": CommandInfo("appliance.cli.commands.preferences",
                              "Toggle auto-update policy for a workspace."),
    "state": CommandInfo("appliance.cli.commands.state",
                         "Manually manage Terraform state to fix broken workspaces: pull, push."),
    "ssh": CommandInfo("appliance.cli.commands.ssh",
                       "Start a shell or run a command in a workspace (or --stdio for OpenSSH)."),
    "config-ssh": CommandInfo("appliance.cli.commands.config_ssh",
                              "Add one Host coder.* entry for your workspaces to ~/.ssh/config."),
    "port-forward": CommandInfo("appliance.cli.commands.port_forward",
                                "Forward local TCP ports to ports inside a workspace.",
                                aliases=("tunnel",)),
    "dotfiles": CommandInfo("appliance.cli.commands.dotfiles",
                            "Personalize your workspace by applying a canonical dotfiles "
                            "repository."),
    "open": CommandInfo("appliance.cli.commands.open",
                        "Open a workspace: app (in the browser), vscode (Remote-SSH)."),
    "ping": CommandInfo("appliance.cli.commands.ping", "Ping a workspace."),
    "stat": CommandInfo("appliance.cli.commands.stat",
                        "Show resource usage for the current workspace."),
    "publickey": CommandInfo("appliance.cli.commands.publickey",
                             "Output your Coder public key used for Git operations.",
                             aliases=("pubkey",)),
    "gitssh": CommandInfo("appliance.cli.commands.agent",
                          "Run ssh with your git SSH key (git's GIT_SSH_COMMAND in a "
                          "workspace)."),
    "provisioner": CommandInfo("appliance.cli.commands.provisioner",
                               "View provisioner daemons (list) and jobs (jobs list|cancel).",
                               aliases=("provisioners",)),
    "wsproxy": CommandInfo("appliance.cli.commands.wsproxy",
                           "Manage workspace proxies: create, list, delete.",
                           aliases=("workspace-proxy", "proxy")),
    "support": CommandInfo("appliance.cli.commands.support",
                           "Commands for troubleshooting issues with a Coder deployment: "
                           "bundle."),
    "version": CommandInfo("appliance.cli.commands.version", "Show coder version."),
    "completion": CommandInfo("appliance.cli.commands.completion",
                              "Install or print shell completion (bash, zsh, fish)."),
}


def main(argv: Sequence[str] | None = None) -> int:
    from appliance.cli import connect
    from appliance.cli.commands import version
    return run_main("coder", DESCRIPTION, COMMANDS, argv, global_options=connect.add_global_options,
                    translate=connect.translate, version=version.text)


if __name__ == "__main__":
    raise SystemExit(main())
