"""``coder state pull|push``: a workspace build's Terraform state, to mend a broken
workspace by hand, as Coder's. Only template admins may read or replace state
(it holds the workspace's secrets); coderd answers 404 to anyone else.

push starts a new build (the latest build's transition and version) from the
given state, unless ``--no-build``, which replaces the build's state in place.
"""
from __future__ import annotations

import argparse
import base64
import os
import sys

from appliance.sdk import types
from appliance.sdk.client import Client

from .. import connect
from ..base import CommandError
from .workspaces import follow_build, workspace_by_name


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Manually manage Terraform state to fix broken workspaces."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(sub, "pull", "Pull a Terraform state file from a workspace.",
                            "Print a workspace build's Terraform state, or write it to FILE.")
    s.add_argument("workspace", metavar="WORKSPACE", help="Workspace name (or OWNER/NAME).")
    s.add_argument("file", nargs="?", metavar="FILE", help="Write the state here (mode 0600).")
    _add_build_option(s)
    s.set_defaults(_action=_pull)

    s = connect.leaf_parser(sub, "push", "Push a Terraform state file to a workspace.",
                            "Start a build from a Terraform state file ('-' reads stdin).")
    s.add_argument("workspace", metavar="WORKSPACE", help="Workspace name (or OWNER/NAME).")
    s.add_argument("file", metavar="FILE")
    _add_build_option(s)
    s.add_argument("-n", "--no-build", action="store_true",
                   help="Replace the build's state without starting a build.")
    s.set_defaults(_action=_push)


run = connect.run_group


def _add_build_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--build", type=int, default=0, metavar="NUMBER",
                   help="The workspace build to target, by number (default: the latest).")


def _target(client: Client, args: argparse.Namespace) -> tuple[types.Workspace, types.WorkspaceBuild]:
    ws = workspace_by_name(client, args.workspace)
    if not args.build:
        return ws, ws.latest_build
    return ws, client.workspace_build_by_number(ws.owner_name, ws.name, args.build)


def _pull(args: argparse.Namespace) -> int:
    client = connect.client(args)
    _, build = _target(client, args)
    state = client.workspace_build_state(build.id)
    if not args.file:
        sys.stdout.buffer.write(state + b"\n")
        return 0
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(state)
    return 0


def _read_state(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _push(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws, build = _target(client, args)
    state = _read_state(args.file)
    if args.no_build:
        client.update_workspace_build_state(build.id, state)
        print("State updated successfully.")
        return 0
    new = client.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition=build.transition, template_version_id=build.template_version_id,
        state=base64.b64encode(state).decode()))
    follow_build(client, new, build.transition.capitalize())
    return 0
