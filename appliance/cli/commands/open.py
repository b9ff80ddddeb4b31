"""``coder open app|vscode``: a workspace's app, or VS Code on the workspace, as Coder's.

``open app WS APP`` gives the URL a browser uses for the app, built as
Coder's CLI builds it: the app's own URL for an external app, the subdomain
host (``SLUG--AGENT--WS--OWNER`` under the wildcard) for a subdomain app when
the deployment has one, else the path ``/@OWNER/WS.AGENT/apps/SLUG/``. It
opens it with the desktop's browser when there is one (``$BROWSER``, or
``xdg-open`` with a display) and prints it otherwise; without APP it lists the
apps.

``open vscode WS [DIR]``: Coder's opens ``vscode://coder.coder-remote/...``,
which needs Coder's VS Code extension and its direct (tailnet) connections,
neither of which an air-gapped appliance has. VS Code's own Remote-SSH reaches
the workspace through ``coder config-ssh``'s ``coder.WS`` host instead, so
this opens ``vscode://vscode-remote/ssh-remote+coder.WS/DIR``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from urllib.parse import quote

from appliance.sdk.relay import app_link, resolve_agent

from .. import connect
from ..base import CommandError

CONFIG_SSH_PREFIX = "coder."  # config-ssh's host names


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Open a workspace."
    sub = connect.add_subcommands(p)
    s = connect.leaf_parser(sub, "app", "Open a workspace application.",
                            "Open a workspace application in the browser (prints its URL "
                            "when there is no browser).")
    s.add_argument("workspace", metavar="[OWNER/]WORKSPACE[.AGENT]")
    s.add_argument("app", metavar="APP", nargs="?", help="The app's slug or display name.")
    s.set_defaults(_action=_open_app)
    s = connect.leaf_parser(sub, "vscode", "Open a workspace in VS Code Desktop.",
                            "Open a workspace in VS Code Desktop, through Remote-SSH and "
                            "coder config-ssh's host (see coder open --help).")
    s.add_argument("workspace", metavar="[OWNER/]WORKSPACE")
    s.add_argument("directory", metavar="DIR", nargs="?", default="",
                   help="The folder to open (default: the agent's expanded directory).")
    s.add_argument("--generate-token", action="store_true",
                   help="Ignored: Remote-SSH authenticates through coder config-ssh.")
    s.set_defaults(_action=_open_vscode)


run = connect.run_group


def _running_agent(args: argparse.Namespace):
    """The client, and the workspace and agent named, the workspace running (else an error)."""
    client = connect.client(args)
    workspace, agent = resolve_agent(client, args.workspace)
    if workspace.latest_build.status != "running":
        raise CommandError(f"Workspace {workspace.name!r} is not running",
                           hint=f"Start it: coder start {workspace.name}")
    return client, workspace, agent


def _open_app(args: argparse.Namespace) -> int:
    client, workspace, agent = _running_agent(args)
    apps = [a for a in agent.apps if not a.hidden]
    if not args.app:
        print(f"Available apps in {workspace.name!r}: "
              + (", ".join(a.slug for a in apps) if apps else "none"))
        return 0
    app = next((a for a in apps if args.app in (a.slug, a.display_name)), None)
    if app is None:
        names = ", ".join(a.slug for a in apps) or "none"
        raise CommandError(f"app {args.app!r} not found in workspace {workspace.name!r}",
                           hint=f"Available apps: {names}")
    if app.command:
        raise CommandError(f"app {app.slug!r} is a command app, which Coder opens in its web "
                           "terminal", hint=f"Run it with: coder ssh {args.workspace} -- "
                                            f"{app.command}")
    url = app_link(client.url, client.app_host() if app.subdomain and not app.external else "",
                   workspace, agent.name, app)
    _open(url)
    return 0


def _open_vscode(args: argparse.Namespace) -> int:
    _, workspace, agent = _running_agent(args)
    folder = args.directory or agent.expanded_directory or ""
    host = CONFIG_SSH_PREFIX + workspace.name  # config-ssh's host for one's own workspace
    url = f"vscode://vscode-remote/ssh-remote+{host}/{quote(folder.lstrip('/'))}"
    print(f"VS Code opens {host} through Remote-SSH: run 'coder config-ssh' first if "
          "~/.ssh/config has no coder.* hosts.", file=sys.stderr)
    _open(url)
    return 0


def _open(url: str) -> None:
    """The desktop's browser (or URL handler) when there is one; else the URL to open."""
    browser = os.environ.get("BROWSER") or (
        "xdg-open" if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        and shutil.which("xdg-open") else "")
    if browser:
        try:
            if subprocess.run([browser, url], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                print(f"Opened {url}")
                return
        except OSError:
            pass
    print(f"Open the following in your browser:\n\n\t{url}\n", file=sys.stderr)
    print(url)
