"""``coder templates``: init, push, list, versions list|promote|archive|unarchive, delete.

``push`` tars a folder as Coder does (without hidden files, terraform state and
variable values: ``archives.template_left_out``), or takes a tar on stdin
(``-d -``), uploads it, creates a template version with the terraform variables'
values (the folder's tfvars files, ``--variables-file``, ``--variable``), follows
its import live, then creates the template or makes the new version active.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from appliance import archives, examples, tfvariables
from appliance.sdk import types
from appliance.sdk.client import APIError, Client

from .. import connect, prompt
from ..base import USAGE, CommandError
from ..output import add_table_options, print_rows
from . import jobs


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Manage templates: init, push, list, versions list, delete."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(sub, "init", "Copy an example template into a folder.",
                            f"Copy one of the example templates (from {examples.EXAMPLES_DIR}) into DIR.")
    s.add_argument("--id", help="The example to copy (default: list them).")
    s.add_argument("directory", nargs="?", metavar="DIR", help="Where to copy it (default: ./ID).")
    s.set_defaults(_action=_init)

    s = connect.leaf_parser(
        sub, "push", "Push a template folder as a new version.",
        "Upload the folder (default: the current one) as a new version of template NAME "
        "(default: the folder's name), follow its import, then create the template or make "
        "the version active. " + archives.TEMPLATE_LEFT_OUT_HELP)
    s.add_argument("name", nargs="?", metavar="NAME", help="Template name.")
    s.add_argument("-d", "--directory", default=".",
                   help="The template folder (default: .); '-' reads a tar from stdin.")
    s.add_argument("-m", "--message", default="", help="A message describing the version.")
    s.add_argument("--name", dest="version_name", default="",
                   help="The new version's name (default: generated).")
    s.add_argument("--variable", "--var", action="append", default=[], metavar="NAME=VALUE",
                   help="A value for a terraform variable of the template (repeatable); "
                        "over --variables-file, which is over the folder's tfvars files.")
    s.add_argument("--variables-file", type=Path, metavar="FILE",
                   help="A YAML file of terraform variable values (name: value).")
    s.add_argument("--provisioner-tag", action="append", default=[], metavar="KEY=VALUE",
                   help="A tag the provisioner daemon that imports it must have (repeatable; "
                        "default: the active version's tags).")
    s.add_argument("--activate", nargs="?", const=True, default=True, type=_go_bool,
                   metavar="true|false", help="Make the new version active (default: true); "
                                              "--activate=false uploads it inactive.")
    connect.add_org_option(s)
    s.set_defaults(_action=_push)

    s = connect.leaf_parser(sub, "list", "List templates.", "List the templates you can see.",
                            aliases=["ls"])
    add_table_options(s, ("name", "display_name", "active_version", "used_by", "created_by",
                          "created_at", "id"), ("name", "active_version", "used_by", "created_by"))
    s.set_defaults(_action=_list)

    s = connect.leaf_parser(sub, "versions", "List a template's versions.",
                            "coder templates versions list NAME")
    vsub = s.add_subparsers(metavar="SUBCOMMAND", title="subcommands")
    v = connect.leaf_parser(vsub, "list", "List versions.", "List a template's versions.",
                            aliases=["ls"])
    v.add_argument("template", metavar="NAME")
    v.add_argument("--include-archived", action="store_true",
                   help="Also list archived versions.")
    add_table_options(v, ("name", "created_at", "created_by", "status", "active", "archived",
                          "id"), ("name", "created_at", "created_by", "status", "active"))
    connect.add_org_option(v)
    v.set_defaults(_action=_versions)
    v = connect.leaf_parser(vsub, "promote", "Make a version active.",
                            "Make the version named --template-version of --template active.")
    v.add_argument("-t", "--template", required=True, help="Template name.")
    v.add_argument("--template-version", required=True, help="Version name.")
    connect.add_org_option(v)
    v.set_defaults(_action=_promote)
    for verb in ("archive", "unarchive"):
        v = connect.leaf_parser(vsub, verb, f"{verb.capitalize()} template versions.",
                                f"{verb.capitalize()} versions of template NAME by name"
                                + (" (one in use cannot be)." if verb == "archive" else "."))
        v.add_argument("template", metavar="NAME")
        v.add_argument("versions", nargs="+", metavar="VERSION")
        connect.add_org_option(v)
        v.set_defaults(_action=_set_archived, archive=verb == "archive")

    s = connect.leaf_parser(sub, "delete", "Delete a template.",
                            "Delete templates by name; refused while workspaces use them.",
                            aliases=["rm"])
    s.add_argument("names", nargs="+", metavar="NAME")
    connect.add_org_option(s)
    s.set_defaults(_action=_delete)


run = connect.run_group


def _go_bool(text: str) -> bool:
    """A boolean flag's value as Coder's CLI reads it (Go's strconv.ParseBool)."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}: use true or false")


def _init(args: argparse.Namespace) -> int:
    shipped = {e.id: e for e in examples.examples()}
    if not args.id:
        if not shipped:
            raise CommandError(f"no example templates found in {examples.EXAMPLES_DIR}")
        print("Example templates (coder templates init --id ID [DIR]):")
        width = max(len(i) for i in shipped)
        for e in shipped.values():
            print(f"  {e.id:<{width}}  {e.description}".rstrip())
        return 0
    if args.id not in shipped:
        raise CommandError(f"no example template {args.id!r}",
                           hint=f"Choose from: {', '.join(shipped) or '(none)'}.", code=USAGE)
    dest = Path(args.directory or args.id)
    if dest.exists() and any(dest.iterdir()):
        raise CommandError(f"{dest} exists and is not empty", hint="Choose another folder.")
    dest.mkdir(parents=True, exist_ok=True)
    # What a push would upload, so no local state or .terraform of the example comes along.
    archives.extract(_template_tar(shipped[args.id].path), dest)
    print(f"Extracted {args.id} to {dest}\nRun 'coder templates push -d {dest}' to upload it.")
    return 0


def _template_or_none(client: Client, org: uuid.UUID, name: str) -> types.Template | None:
    try:
        return client.template_by_name(org, name)
    except APIError as exc:
        if exc.status == 404:
            return None
        raise


def _template_tar(directory: Path, left_out: list[tuple[str, str]] | None = None) -> bytes:
    try:
        return archives.template_tar(directory, left_out)
    except archives.TemplateFolderError as exc:
        raise CommandError(str(exc), hint=exc.hint) from None


def _stdin_tar() -> bytes:
    """``-d -``: the template's tar, read from stdin as Coder's push reads it."""
    if sys.stdin is None or sys.stdin.isatty():
        raise CommandError("-d - reads the template's tar from stdin, which is a terminal",
                           hint="Pipe a tar in: tar -cf - -C DIR . | coder templates push "
                                "NAME -d -", code=USAGE)
    data = sys.stdin.buffer.read(archives.UPLOAD_LIMIT + 1)
    if len(data) > archives.UPLOAD_LIMIT:
        raise CommandError(f"Archive too big. Must be <= {archives.UPLOAD_LIMIT} bytes")
    try:
        archives.check(data)  # the checks coderd makes of an upload, said before sending it
    except archives.ArchiveError as exc:
        raise CommandError(f"stdin is not a tar archive coderd takes: {exc}",
                           hint="Pipe an uncompressed tar of the template folder.") from None
    return data


def _folder_tar(directory: Path) -> bytes:
    left_out: list[tuple[str, str]] = []
    data = _template_tar(directory, left_out)
    data_files = [rel for rel, why in left_out if why != "hidden"]
    if data_files:  # Coder logs these at debug level; said here, being someone's data
        print("Left out of the upload, as Coder does (terraform state and variable values): "
              + ", ".join(data_files))
    return data


def _variable_values(args: argparse.Namespace, directory: Path | None
                     ) -> list[types.VariableValue]:
    """The folder's tfvars files (read here: the upload leaves them out), then
    --variables-file, then --variable, a later one winning, as Coder's push has it."""
    try:
        found = tfvariables.discover_vars_files(directory) if directory else []
        if found:
            print(tfvariables.AUTO_DISCOVERED)
        return tfvariables.combine(
            tfvariables.values_from_vars_files(found),
            tfvariables.values_from_yaml(args.variables_file) if args.variables_file else {},
            jobs.parse_assignments(args.variable))
    except tfvariables.VariablesError as exc:
        raise CommandError(str(exc)) from None


def _provisioner_tags(args: argparse.Namespace, client: Client,
                      existing: types.Template | None) -> dict[str, str] | None:
    """The tags given, else the active version's (as Coder's push reuses them)."""
    tags = jobs.parse_assignments(args.provisioner_tag,
                                  'invalid tag format for "{}". must be key=value')
    if tags or existing is None:
        return tags or None
    print("Re-using provisioner tags from the active template version.", file=sys.stderr)
    return client.template_version(existing.active_version_id).job.tags


def _push(args: argparse.Namespace) -> int:
    stdin = args.directory == "-"
    if stdin and not args.name:
        raise CommandError("template name argument must be provided", code=USAGE)
    directory = None if stdin else Path(args.directory).resolve()
    name = args.name or directory.name
    client = connect.client(args)
    values = _variable_values(args, directory)
    org = connect.organization(args, client).id
    existing = _template_or_none(client, org, name)
    tags = _provisioner_tags(args, client, existing)
    data = _stdin_tar() if stdin else _folder_tar(directory)
    if not stdin and not prompt.agreed(
            args, f"Upload {directory} as {'a new version of' if existing else 'new template'} "
                  f"{name}?", default=True):
        raise CommandError("canceled")
    file_id = client.upload_file(data)
    version = client.create_template_version(org, types.CreateTemplateVersionRequest(
        file_id=file_id, template_id=existing.id if existing else None,
        name=args.version_name, message=args.message, tags=tags,
        user_variable_values=values))
    print(f"Queued version {version.name} of {name}; following its import:", flush=True)
    jobs.follow(client, f"templateversions/{version.id}",
                lambda: client.template_version(version.id).job, "Template import")
    if existing is None:
        client.create_template(org, types.CreateTemplateRequest(name=name,
                                                                template_version_id=version.id))
        print(f"Template {name!r} has been created with version {version.name}.")
    elif args.activate:
        client.update_active_template_version(existing.id, version.id)
        print(f"Updated version at {name!r}: {version.name} is now active.")
    else:
        print(f"Uploaded version {version.name} of {name!r} (not active).")
    return 0


def _list(args: argparse.Namespace) -> int:
    client = connect.client(args)
    templates = client.templates()
    rows = []
    for t in templates:
        active = client.template_version(t.active_version_id)
        rows.append({"name": t.name, "display_name": t.display_name, "active_version": active.name,
                     "used_by": f"{t.active_user_count} developer"
                                + ("s" if t.active_user_count != 1 else ""),
                     "created_by": t.created_by_name, "created_at": t.created_at, "id": t.id})
    print_rows(args, templates, rows)
    return 0


def _versions(args: argparse.Namespace) -> int:
    client = connect.client(args)
    tmpl = client.template_by_name(connect.organization(args, client).id, args.template)
    versions = client.template_versions(tmpl.id, include_archived=args.include_archived)
    if args.include_archived:  # Coder's table then shows the column too
        args._default_columns += ("archived",)
    rows = [{"name": v.name, "created_at": v.created_at, "created_by": v.created_by.username,
             "status": v.job.status, "active": "Active" if v.id == tmpl.active_version_id else "",
             "archived": "Archived" if v.archived else "", "id": v.id} for v in versions]
    print_rows(args, versions, rows)
    return 0


def _promote(args: argparse.Namespace) -> int:
    client = connect.client(args)
    tmpl = client.template_by_name(connect.organization(args, client).id, args.template)
    version = client.template_version_by_name(tmpl.id, args.template_version)
    client.update_active_template_version(tmpl.id, version.id)
    print(f"Successfully promoted version {version.name!r} for template {tmpl.name!r}")
    return 0


def _set_archived(args: argparse.Namespace) -> int:
    client = connect.client(args)
    tmpl = client.template_by_name(connect.organization(args, client).id, args.template)
    versions = [client.template_version_by_name(tmpl.id, name) for name in args.versions]
    verb = "archive" if args.archive else "unarchive"
    if not prompt.agreed(args, f"{verb.capitalize()} {', '.join(args.versions)} of {tmpl.name}?"):
        raise CommandError("canceled")
    for v in versions:
        client.set_template_version_archived(v.id, args.archive)
        print(f"Version {v.name!r} {verb}d.")
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = connect.client(args)
    org = connect.organization(args, client).id
    templates = [client.template_by_name(org, n) for n in args.names]
    if not prompt.agreed(args, f"Delete these templates: {', '.join(args.names)}?"):
        raise CommandError("canceled")
    for t in templates:
        client.delete_template(t.id)
        print(f"Deleted template {t.name!r}.")
    return 0
