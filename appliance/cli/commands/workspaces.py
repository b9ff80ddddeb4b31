"""The workspace commands: ``coder create|list|show|start|stop|delete``.

One module serves the six top-level commands (``COMMANDS`` in main.py maps
each name here); ``configure`` and ``run`` pick by the command's name. Builds
are followed live, and a failed build exits 1 with terraform's error.
"""
from __future__ import annotations

import argparse

from appliance.sdk import types
from appliance.sdk.client import Client

from .. import connect, prompt
from ..base import CommandError
from ..output import add_table_options, print_rows
from . import jobs

LIST_COLUMNS = ("workspace", "template", "status", "healthy", "last_built", "outdated",
                "stops_after", "id")


def configure(p: argparse.ArgumentParser) -> None:
    name = p.prog.rsplit(" ", 1)[-1]
    connect.add_global_options(p, leaf=True)
    if name == "create":
        p.description = ("Create a workspace from a template and follow its first build. "
                         "Required parameters not given with --parameter are asked for on a "
                         "terminal.")
        p.add_argument("name", metavar="NAME", help="Workspace name (or OWNER/NAME).")
        p.add_argument("-t", "--template", required=True, help="Template name.")
        p.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                       help="A rich parameter value, repeatable.")
        p.add_argument("--preset", default="", metavar="NAME",
                       help="A preset of the template's active version, whose parameter values "
                            "the workspace gets (default: the version's default preset; 'none': "
                            "no preset).")
        p.add_argument("--stop-after", type=int, metavar="MINUTES",
                       help="Stop the workspace this long after each start (default: the "
                            "template's).")
        p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")
    elif name == "list":
        p.description = "List your workspaces (all you can see with --all)."
        p.add_argument("-a", "--all", action="store_true", help="Everyone's workspaces.")
        p.add_argument("--search", default="", help="Coder's filter, e.g. 'status:running'.")
        add_table_options(p, LIST_COLUMNS, LIST_COLUMNS[:-1])
    else:
        p.description = {"show": "Show a workspace, its resources and agents.",
                         "start": "Start a workspace and follow the build.",
                         "stop": "Stop a workspace and follow the build.",
                         "delete": "Delete a workspace and follow the build."}[name]
        p.add_argument("name", metavar="WORKSPACE", help="Workspace name (or OWNER/NAME).")
        if name in ("start", "stop", "delete"):
            p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")
            p.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                           help="A rich parameter value for this build, repeatable.")
        if name == "delete":
            p.add_argument("--orphan", action="store_true",
                           help="Delete the workspace without destroying its resources.")


def run(args: argparse.Namespace) -> int:
    return {"create": _create, "list": _list, "show": _show}.get(args.command, _transition)(args)


def workspace_by_name(client: Client, name: str) -> types.Workspace:
    owner, _, ws = name.rpartition("/")
    return client.workspace_by_owner_and_name(owner or "me", ws)


def _values(pairs: list[str] | None) -> list[types.WorkspaceBuildParameter]:
    return [types.WorkspaceBuildParameter(name=k, value=v)
            for k, v in jobs.parse_assignments(pairs).items()]


def _follow_build(client: Client, build: types.WorkspaceBuild, what: str) -> None:
    jobs.follow(client, f"workspacebuilds/{build.id}",
                lambda: client.workspace_build(build.id).job, what)


def chosen_preset(client: Client, version_id, name: str) -> types.Preset | None:
    """Coder's ``--preset``: the named preset, else the default one; 'none': no preset."""
    if name == "none":
        return None
    presets = client.template_version_presets(version_id)
    if name:
        found = next((p for p in presets if p.Name == name), None)
        if found is None:
            raise CommandError(f"preset {name!r} not found")
        return found
    return next((p for p in presets if p.Default), None)


def _create(args: argparse.Namespace) -> int:
    client = connect.client(args)
    owner, _, name = args.name.rpartition("/")
    given = jobs.parse_assignments(args.parameter)
    tmpl = client.template_by_name("default", args.template)
    preset = chosen_preset(client, tmpl.active_version_id, args.preset)
    if preset is not None:
        default = " (default)" if preset.Default else ""
        print(f"Preset '{preset.Name}'{default} applied:")
        for p in preset.Parameters:
            print(f"  {p.Name}: '{p.Value}'")
            given.pop(p.Name, None)
    fixed = {p.Name for p in preset.Parameters} if preset else set()
    for p in client.template_version_parameters(tmpl.active_version_id):
        if p.name in given or p.name in fixed or not p.required:
            continue
        prompt.require_terminal(f"Parameter {p.name!r} is required and", f"--parameter {p.name}=VALUE")
        choices = f" ({', '.join(o.value for o in p.options)})" if p.options else ""
        given[p.name] = prompt.ask(f"{p.display_name or p.name}{choices}:", validate=prompt.required)
    ws = client.create_workspace(types.CreateWorkspaceRequest(
        name=name, template_id=tmpl.id,
        ttl_ms=args.stop_after * 60_000 if args.stop_after else None,
        rich_parameter_values=[types.WorkspaceBuildParameter(name=k, value=v)
                               for k, v in given.items()],
        template_version_preset_id=preset.ID if preset else None), user=owner or "me")
    print(f"Workspace {ws.owner_name}/{ws.name} created; following its build:", flush=True)
    _follow_build(client, ws.latest_build, "Build")
    print(f"The {ws.name} workspace has been created!")
    return 0


def _row(ws: types.Workspace) -> dict:
    build = ws.latest_build
    return {"workspace": f"{ws.owner_name}/{ws.name}", "template": ws.template_name,
            "status": build.status, "healthy": ws.health.healthy if build.status == "running"
            else "", "last_built": build.created_at, "outdated": ws.outdated,
            "stops_after": f"{ws.ttl_ms // 60_000}m" if ws.ttl_ms else "", "id": ws.id}


def _list(args: argparse.Namespace) -> int:
    client = connect.client(args)
    q = " ".join(x for x in ("" if args.all else "owner:me", args.search) if x)
    found = client.workspaces(q=q).workspaces
    print_rows(args, found, [_row(w) for w in found])
    return 0


def _show(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.name)
    row = _row(ws)
    print(f"{row['workspace']}  template {ws.template_name} ({ws.latest_build.template_version_name})"
          f"  status {row['status']}" + ("  outdated" if ws.outdated else ""))
    if ws.latest_build.deadline:
        print(f"stops at {ws.latest_build.deadline.isoformat()}")
    for res in ws.latest_build.resources:
        if res.hide:
            continue
        print(f"  {res.type}.{res.name}")
        for agent in res.agents:
            print(f"    agent {agent.name}: {agent.status} ({agent.lifecycle_state}), "
                  f"{agent.operating_system}/{agent.architecture}")
            for app in agent.apps:
                print(f"      app {app.slug}: {app.url or app.command}")
        for meta in res.metadata:
            print(f"    {meta.key}: {'*****' if meta.sensitive else meta.value}")
    return 0


def _transition(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.name)
    if args.command == "delete" and not args.yes:
        prompt.require_terminal("Deleting a workspace without --yes", "--yes")
        if not prompt.confirm(f"Delete workspace {ws.owner_name}/{ws.name}?", default=False):
            return 1
    build = client.create_workspace_build(ws.id, types.CreateWorkspaceBuildRequest(
        transition=args.command, rich_parameter_values=_values(args.parameter),
        orphan=getattr(args, "orphan", False)))
    _follow_build(client, build, args.command.capitalize())
    done = {"start": "started", "stop": "stopped", "delete": "deleted"}[args.command]
    print(f"The {ws.name} workspace has been {done}!")
    return 0

