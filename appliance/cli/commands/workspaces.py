"""The workspace commands: ``coder create|list|show|start|stop|delete``.

One module serves the six top-level commands (``COMMANDS`` in main.py maps
each name here); ``configure`` and ``run`` pick by the command's name. Builds
are followed live, and a failed build exits 1 with terraform's error.
"""
from __future__ import annotations

import argparse

from appliance import durations
from appliance.sdk import types
from appliance.sdk.client import Client

from .. import connect, prompt
from ..base import CommandError, duration
from ..output import add_table_options, print_rows
from . import jobs

CONFIRM = {"stop": "Confirm stop workspace {}?", "delete": "Confirm delete workspace {}?"}
LIST_COLUMNS = ("workspace", "template", "status", "healthy", "last_built", "outdated",
                "stops_after", "id")


def configure(p: argparse.ArgumentParser) -> None:
    name = p.prog.rsplit(" ", 1)[-1]
    connect.add_global_options(p, leaf=True)
    if name == "create":
        p.description = ("Create a workspace from a template and follow its first build. "
                         "On a terminal, a missing name, template and required parameters "
                         "are asked for, in that order; the resources a plan shows are printed, "
                         "and confirmed on a terminal (-y skips it), before the build, as "
                         "Coder's create does.")
        p.add_argument("name", metavar="NAME", nargs="?", help="Workspace name (or OWNER/NAME).")
        p.add_argument("-t", "--template", help="Template name.")
        connect.add_org_option(p)
        p.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                       help="A rich parameter value, repeatable.")
        p.add_argument("--stop-after", type=duration(), metavar="DURATION",
                       help="Stop the workspace this long after each start, e.g. 8h or 1h30m "
                            "(default: the template's).")
        p.add_argument("--preset", default="", metavar="NAME",
                       help="A preset of the template's active version, whose parameter values "
                            "the workspace gets (default: the version's default preset; 'none': "
                            "no preset).")
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


def start_request(ws: types.Workspace, values: list[types.WorkspaceBuildParameter] = ()
                  ) -> types.CreateWorkspaceBuildRequest:
    """A start build as Coder's CLI asks for it: on the template's active version when the
    workspace's automatic updates are "always", else on the latest build's."""
    return types.CreateWorkspaceBuildRequest(
        transition="start", rich_parameter_values=list(values),
        template_version_id=ws.template_active_version_id
        if ws.automatic_updates == "always" else None)


def follow_build(client: Client, build: types.WorkspaceBuild, what: str, out=None) -> None:
    jobs.follow(client, f"workspacebuilds/{build.id}",
                lambda: client.workspace_build(build.id).job, what, out)


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
    given = jobs.parse_assignments(args.parameter)
    if not args.name:
        prompt.require_terminal("Creating a workspace without a name", "the workspace NAME")
    owner, _, name = (args.name or prompt.ask("Specify a name for your workspace:",
                                              validate=prompt.required)).rpartition("/")
    org = connect.organization(args, client).id
    tmpl = client.template_by_name(org, args.template or _choose_template(client, org))
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
    values = [types.WorkspaceBuildParameter(name=k, value=v) for k, v in given.items()]
    fixed_values = [types.WorkspaceBuildParameter(name=p.Name, value=p.Value)
                    for p in (preset.Parameters if preset else ())]
    planned = _plan(client, tmpl.active_version_id, name, values + fixed_values)
    print("Workspace Preview")
    _print_resources(planned, agent_state=False)
    if not args.yes and prompt.interactive() and not prompt.confirm("Confirm create?"):
        raise CommandError("canceled")
    ws = client.create_workspace(types.CreateWorkspaceRequest(
        name=name, template_id=tmpl.id,
        ttl_ms=int(args.stop_after * 1000) if args.stop_after else None,
        rich_parameter_values=values,
        template_version_preset_id=preset.ID if preset else None), user=owner or "me")
    print(f"Workspace {ws.owner_name}/{ws.name} created; following its build:", flush=True)
    follow_build(client, ws.latest_build, "Build")
    print(f"The {ws.name} workspace has been created!")
    return 0


def _plan(client: Client, version_id, name: str,
          values: list[types.WorkspaceBuildParameter]) -> list[types.WorkspaceResource]:
    """Coder's dry run before a create: the resources the workspace would get (its log
    shown only if it fails), and an invalid parameter value refused before any build."""
    print("Planning workspace...", flush=True)
    job = client.create_template_version_dry_run(
        version_id, types.CreateTemplateVersionDryRunRequest(workspace_name=name,
                                                             rich_parameter_values=values))
    jobs.follow(client, f"templateversions/{version_id}/dry-run/{job.id}",
                lambda: client.template_version_dry_run(version_id, job.id), "Dry run",
                silent=True)
    return client.template_version_dry_run_resources(version_id, job.id)


def _print_resources(resources: list[types.WorkspaceResource], agent_state: bool = True) -> None:
    """Each shown resource with its agents, apps and metadata (a plan's agents have no
    state yet, so a preview leaves it out, as Coder's does)."""
    for res in resources:
        if res.hide:
            continue
        print(f"  {res.type}.{res.name}")
        for agent in res.agents:
            state = f"{agent.status} ({agent.lifecycle_state}), " if agent_state else ""
            print(f"    agent {agent.name}: {state}{agent.operating_system}/{agent.architecture}")
            for app in agent.apps:
                print(f"      app {app.slug}: {app.url or app.command}")
        for meta in res.metadata:
            print(f"    {meta.key}: {'*****' if meta.sensitive else meta.value}")


def _choose_template(client: Client, org) -> str:
    prompt.require_terminal("Creating a workspace without --template", "--template NAME")
    names = sorted(t.name for t in client.templates(org))
    if not names:
        raise CommandError("No templates available.",
                           hint="Push one first: 'coder templates push NAME -d FOLDER'.")
    return prompt.select("Select a template below to preview the provisioned infrastructure",
                         names)


def _row(ws: types.Workspace) -> dict:
    build = ws.latest_build
    return {"workspace": f"{ws.owner_name}/{ws.name}", "template": ws.template_name,
            "status": build.status, "healthy": ws.health.healthy if build.status == "running"
            else "", "last_built": durations.display(durations.seconds_until(build.created_at)),
            "outdated": ws.outdated,
            "stops_after": durations.display(ws.ttl_ms / 1000) if ws.ttl_ms else "", "id": ws.id}


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
    _print_resources(ws.latest_build.resources)
    return 0


def _transition(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.name)
    if args.command == "start" and ws.latest_build.status in ("running", "starting"):
        return _already_started(client, ws)
    question = CONFIRM.get(args.command, "").format(f"{ws.owner_name}/{ws.name}")
    if question and not prompt.agreed(args, question):
        raise CommandError("canceled")
    values = _values(args.parameter)
    if args.command == "start":
        req = start_request(ws, values)
    else:
        req = types.CreateWorkspaceBuildRequest(transition=args.command,
                                                rich_parameter_values=values,
                                                orphan=getattr(args, "orphan", False))
    build = client.create_workspace_build(ws.id, req)
    follow_build(client, build, args.command.capitalize())
    done = {"start": "started", "stop": "stopped", "delete": "deleted"}[args.command]
    print(f"The {ws.name} workspace has been {done}!")
    return 0


def _already_started(client: Client, ws: types.Workspace) -> int:
    """Coder's answers to a start of a started workspace: a running one is left as it is
    (exit 0), a starting one's build is followed."""
    if ws.latest_build.status == "running":
        print(f"\nThe {ws.name} workspace is already running!")
        return 0
    print(f"\nThe {ws.name} workspace is already starting.", flush=True)
    follow_build(client, ws.latest_build, "Start")
    print(f"The {ws.name} workspace has been started!")
    return 0

