"""``coder favorite|unfavorite`` and ``coder autoupdate``: a workspace's settings
that start no build, as Coder's cli/favorite.go and cli/autoupdate.go.

Favorites are one's own (coderd refuses another's) and come first in
``coder list``; automatic updates ``always`` make every start (``coder start``,
``coder ssh``'s, autostart) use the template's active version.
"""
from __future__ import annotations

import argparse

from .. import connect
from ..base import CommandError
from .workspaces import workspace_by_name

POLICIES = ("always", "never")


def configure(p: argparse.ArgumentParser) -> None:
    name = p.prog.rsplit(" ", 1)[-1]
    connect.add_global_options(p, leaf=True)
    p.add_argument("workspace", metavar="WORKSPACE", help="Workspace name (or OWNER/NAME).")
    if name == "autoupdate":
        p.description = "Toggle auto-update policy for a workspace."
        p.add_argument("policy", metavar="always|never")
    else:
        p.description = {"favorite": "Add a workspace to your favorites.",
                         "unfavorite": "Remove a workspace from your favorites."}[name]


def run(args: argparse.Namespace) -> int:
    return _autoupdate(args) if args.command == "autoupdate" else _favorite(args)


def _favorite(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    adding = args.command == "favorite"
    client.favorite_workspace(ws.id, adding)
    print(f'Workspace "{ws.name}" {"added to" if adding else "removed from"} favorites.')
    return 0


def _autoupdate(args: argparse.Namespace) -> int:
    policy = args.policy.lower()
    if policy not in POLICIES:
        raise CommandError(f'validate policy: invalid option "{policy}" must be either of '
                           '"always" or "never"')
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    client.update_workspace_automatic_updates(ws.id, policy)
    print(f'Updated workspace "{ws.name}" auto-update policy to "{policy}"')
    return 0
