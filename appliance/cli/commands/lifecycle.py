"""``coder restart``, ``coder update`` and ``coder rename``, as Coder's.

restart is a stop build then a start build, each followed live (the start on the
active version when the workspace's automatic updates are "always"); update
stops a started workspace, then starts it on its template's active version
(asking first on a running one, as Coder's); rename changes the name when
the deployment allows renames. The parameter values a build gets are
resolved here once (``build_values``): ``--parameter`` for ordinary
parameters, ``--build-option`` for ephemeral ones (Coder's split), and a
required parameter the version adds is asked for on a terminal, or named in
the error without one.
"""
from __future__ import annotations

import argparse
import datetime as dt

from appliance.sdk import types
from appliance.sdk.client import Client

from .. import connect, prompt
from ..base import CommandError
from . import jobs
from .workspaces import follow_build, start_request, workspace_by_name

RENAME_WARNING = ("WARNING: A rename can result in data loss if a resource references the "
                  "workspace name in the template (e.g volumes). Please backup any data before "
                  "proceeding.")


def configure(p: argparse.ArgumentParser) -> None:
    name = p.prog.rsplit(" ", 1)[-1]
    connect.add_global_options(p, leaf=True)
    p.add_argument("workspace", metavar="WORKSPACE", help="Workspace name (or OWNER/NAME).")
    if name == "rename":
        p.description = ("Rename a workspace (the deployment must allow renames: "
                         "CODER_ALLOW_WORKSPACE_RENAMES).")
        p.add_argument("new_name", metavar="NEW_NAME")
    else:
        p.description = {
            "restart": "Restart a workspace: a stop build, then a start build.",
            "update": "Update a workspace to its template's active version (a start build). "
                      "Required parameters the new version adds are asked for on a terminal.",
        }[name]
        add_parameter_options(p)


def add_parameter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                   help="A rich parameter value, repeatable.")
    p.add_argument("--build-option", action="append", metavar="NAME=VALUE",
                   help="An ephemeral parameter's value for this build, repeatable.")


def run(args: argparse.Namespace) -> int:
    return {"restart": _restart, "update": _update, "rename": _rename}[args.command](args)


def build_values(client: Client, ws: types.Workspace, version_id, args: argparse.Namespace
                 ) -> tuple[list[types.WorkspaceBuildParameter], list[types.WorkspaceBuildParameter]]:
    """(the start build's values, the ephemeral ones alone for a stop build before it)."""
    given = jobs.parse_assignments(args.parameter)
    options = jobs.parse_assignments(args.build_option)
    params = {p.name: p for p in client.template_version_parameters(version_id)}
    for name in [*given, *options]:
        if name not in params:
            raise CommandError(f"parameter {name!r} is not present in the template version")
    for name in given:
        if params[name].ephemeral:
            raise CommandError(f"ephemeral parameter {name!r} can be used only with --build-option")
    for name in options:
        if not params[name].ephemeral:
            raise CommandError(f"parameter {name!r} is not ephemeral, so it cannot be given "
                               "with --build-option", hint=f"Use --parameter {name}=VALUE.")
    previous = {p.name for p in client.workspace_build_parameters(ws.latest_build.id)}
    missing = [p for p in params.values() if p.required and not p.ephemeral
               and p.name not in given and p.name not in previous]
    if missing and not prompt.interactive():
        names = ", ".join(p.name for p in missing)
        raise CommandError(f"the template version needs values for new parameters: {names}",
                           hint=" ".join(f"--parameter {p.name}=VALUE" for p in missing))
    for p in missing:
        choices = f" ({', '.join(o.value for o in p.options)})" if p.options else ""
        given[p.name] = prompt.ask(f"{p.display_name or p.name}{choices}:", validate=prompt.required)
    start = [types.WorkspaceBuildParameter(name=k, value=v) for k, v in {**given, **options}.items()]
    return start, [types.WorkspaceBuildParameter(name=k, value=v) for k, v in options.items()]


def _confirm(args: argparse.Namespace, text: str) -> None:
    if not prompt.agreed(args, text, default=True):
        raise CommandError("canceled")


def _build(client: Client, ws: types.Workspace, req: types.CreateWorkspaceBuildRequest,
           what: str) -> None:
    follow_build(client, client.create_workspace_build(ws.id, req), what)


def _restart(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    request = start_request(ws)
    start, ephemeral = build_values(
        client, ws, request.template_version_id or ws.latest_build.template_version_id, args)
    _confirm(args, "Restart workspace?")
    _build(client, ws, types.CreateWorkspaceBuildRequest(
        transition="stop", rich_parameter_values=ephemeral), "Stop")
    request.rich_parameter_values = start
    _build(client, ws, request, "Start")
    print(f"\nThe {ws.name} workspace has been restarted at {_timestamp()}!")
    return 0


def _timestamp() -> str:
    """Coder's cliui.Timestamp: Go's time.Stamp in local time."""
    now = dt.datetime.now()
    return f"{now:%b} {now.day:2d} {now:%H:%M:%S}"


def _update(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    if not ws.outdated and not args.parameter and not args.build_option:
        print("Workspace is up-to-date.")
        return 0
    start, ephemeral = build_values(client, ws, ws.template_active_version_id, args)
    if ws.latest_build.transition == "start":
        # As Coder's (#17840): a start on top of a running workspace may change nothing
        # when the template ignores changes, so it is stopped first.
        if ws.latest_build.status == "running":
            _confirm(args, "Updating your workspace will start the workspace on the active "
                           "template version. This can delete non-persistent data. Continue?")
        _build(client, ws, types.CreateWorkspaceBuildRequest(
            transition="stop", rich_parameter_values=ephemeral), "Stop")
    _build(client, ws, types.CreateWorkspaceBuildRequest(
        transition="start", template_version_id=ws.template_active_version_id,
        rich_parameter_values=start), "Update")
    return 0


def _rename(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    if not args.yes:
        prompt.require_terminal("'coder rename'", "--yes")
        print(RENAME_WARNING)
        prompt.ask(f'Type "{ws.name}" to confirm rename:',
                   validate=lambda answer: "" if answer == ws.name else "Input does not match.")
    client.update_workspace(ws.id, args.new_name)
    print(f'Workspace "{ws.name}" renamed to "{args.new_name}"')
    return 0
