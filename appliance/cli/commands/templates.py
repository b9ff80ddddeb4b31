"""``coder templates``: init, push, create, edit, pull, archive, list,
versions list|promote|archive|unarchive, delete.

``push`` tars a folder as Coder does (without hidden files, terraform state and
variable values: ``archives.template_left_out``), or takes a tar on stdin
(``-d -``), uploads it, creates a template version with the terraform variables'
values (the folder's tfvars files, ``--variables-file``, ``--variable``), follows
its import live, then creates the template or makes the new version active.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import uuid
from pathlib import Path

from appliance import archives, examples, tfvariables
from appliance.sdk import types
from appliance.sdk.client import APIError, Client

from .. import connect, prompt
from ..base import USAGE, CommandError, boolean, duration
from ..output import add_table_options, print_rows
from . import jobs


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Manage templates: init, push, create, edit, pull, archive, list, "
                     "versions, delete.")
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
    _add_upload_options(s)
    s.add_argument("--name", dest="version_name", default="",
                   help="The new version's name (default: generated).")
    s.add_argument("--activate", nargs="?", const=True, default=True, type=boolean,
                   metavar="true|false", help="Make the new version active (default: true); "
                                              "--activate=false uploads it inactive.")
    s.set_defaults(_action=_push)

    s = connect.leaf_parser(
        sub, "create", "DEPRECATED: Create a template from the current directory or as "
        "specified by flag.", "As Coder's deprecated create: push a folder as a new template "
        "NAME (refused if it exists), ask 'Confirm create?' after the import, then create it.")
    s.add_argument("name", nargs="?", metavar="NAME", help="Template name.")
    _add_upload_options(s)
    s.add_argument("--default-ttl", type=_duration_ms, default=24 * 3600 * 1000,
                   metavar="DURATION", help="Default time before workspaces stop (default: 24h).")
    s.add_argument("--require-active-version", nargs="?", const=True, default=False,
                   type=boolean, metavar="true|false",
                   help="Workspace builds must use the active version (template admins aside).")
    s.add_argument("--ignore-lockfile", nargs="?", const=True, default=False, type=boolean,
                   metavar="true|false", help="Accepted as Coder's; no warning is given here "
                   "since every run gets a lock file from the mirror.")
    _add_unsupported(s, CREATE_UNSUPPORTED)
    s.set_defaults(_action=_create)

    s = connect.leaf_parser(
        sub, "edit", "Edit the metadata of a template by name.",
        "Change template NAME's settings; only the flags given change. "
        f"Coder's {', '.join('--' + f for f in EDIT_UNSUPPORTED)} are refused "
        "(settings this appliance does not have).")
    s.add_argument("template", metavar="NAME")
    s.add_argument("--name", dest="new_name", help="Edit the template name.")
    s.add_argument("--display-name", help="Edit the template display name.")
    s.add_argument("--description", help="Edit the template description.")
    s.add_argument("--icon", help="Edit the template icon path.")
    s.add_argument("--deprecated", metavar="MESSAGE",
                   help="Mark the template deprecated, saying why ('' undoes it).")
    s.add_argument("--default-ttl", type=_duration_ms, metavar="DURATION",
                   help="Default time before workspaces stop (Go duration: 8h, 30m).")
    s.add_argument("--activity-bump", type=_duration_ms, metavar="DURATION",
                   help="How far activity pushes a workspace's stop time.")
    s.add_argument("--allow-user-cancel-workspace-jobs", nargs="?", const=True, type=boolean,
                   metavar="true|false", help="Let users cancel their workspaces' jobs.")
    s.add_argument("--require-active-version", nargs="?", const=True, type=boolean,
                   metavar="true|false",
                   help="Workspace builds must use the active version (template admins aside).")
    connect.add_org_option(s)
    _add_unsupported(s, EDIT_UNSUPPORTED)
    s.set_defaults(_action=_edit)

    s = connect.leaf_parser(
        sub, "pull", "Download the active, latest, or specified version of a template.",
        "Extract a version of template NAME into DESTINATION (default: ./NAME), or write it "
        "to stdout with --tar or --zip. A folder that is not empty is only written to after "
        "'Continue extracting?' (or -y).")
    s.add_argument("template", metavar="NAME")
    s.add_argument("destination", nargs="?", metavar="DESTINATION")
    s.add_argument("--tar", action="store_true", help="Output the template as a tar archive "
                                                      "to stdout.")
    s.add_argument("--zip", action="store_true", help="Output the template as a zip archive "
                                                      "to stdout.")
    s.add_argument("--version", dest="version_name", default="", metavar="NAME",
                   help="'active' (the default), 'latest', or a version's name.")
    connect.add_org_option(s)
    s.set_defaults(_action=_pull)

    s = connect.leaf_parser(
        sub, "archive", "Archive unused or failed template versions from a given template(s).",
        "Archive the failed versions no workspace uses of each template NAME "
        "(--all: every unused version).")
    s.add_argument("names", nargs="*", metavar="NAME")
    s.add_argument("--all", action="store_true",
                   help="Include all unused template versions, not only failed ones.")
    connect.add_org_option(s)
    s.set_defaults(_action=_archive)

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

# Coder's flags for settings this appliance does not have (enterprise scheduling, group
# access), each with the value that leaves the setting off: given so, a flag is accepted.
CREATE_UNSUPPORTED = {"private": "false", "failure-ttl": "0h", "dormancy-threshold": "0h",
                      "dormancy-auto-deletion": "0h"}
EDIT_UNSUPPORTED = {"abstract": "", "autostart-requirement-weekdays": "all",
                    "autostop-requirement-weekdays": "none", "autostop-requirement-weeks": "0",
                    **CREATE_UNSUPPORTED, "allow-user-autostart": "true",
                    "allow-user-autostop": "true"}


def _add_upload_options(p: argparse.ArgumentParser) -> None:
    """The flags push and create share (Coder's templateUploadFlags and variables)."""
    p.add_argument("-d", "--directory", default=".",
                   help="The template folder (default: .); '-' reads a tar from stdin.")
    p.add_argument("-m", "--message", default="", help="A message describing the version.")
    p.add_argument("--variable", "--var", action="append", default=[], metavar="NAME=VALUE",
                   help="A value for a terraform variable of the template (repeatable); "
                        "over --variables-file, which is over the folder's tfvars files.")
    p.add_argument("--variables-file", type=Path, metavar="FILE",
                   help="A YAML file of terraform variable values (name: value).")
    p.add_argument("--provisioner-tag", action="append", default=[], metavar="KEY=VALUE",
                   help="A tag the provisioner daemon that imports it must have (repeatable; "
                        "default: the active version's tags).")
    connect.add_org_option(p)


def _add_unsupported(p: argparse.ArgumentParser, flags: dict[str, str]) -> None:
    group = p.add_argument_group("Coder's, for settings this appliance does not have "
                                 "(refused unless given the value that leaves them off)")
    for flag, off in flags.items():
        group.add_argument(f"--{flag}", dest=f"unsupported_{flag}", metavar="VALUE",
                           nargs="?" if off in ("true", "false") else None,
                           const="true" if off in ("true", "false") else None,
                           help=f"(off: {off!r})" if off else "(off: '')")


def _refuse_unsupported(args: argparse.Namespace, flags: dict[str, str]) -> None:
    """A clear error naming each such flag given a value that would turn its setting on."""
    given = [flag for flag, off in flags.items()
             if getattr(args, f"unsupported_{flag}") not in (None, off)
             and not _means_off(getattr(args, f"unsupported_{flag}"), off)]
    if given:
        raise CommandError(f"{', '.join('--' + f for f in given)}: this appliance has no such "
                           "template setting (Coder's enterprise scheduling and group access)",
                           hint="Leave the flag out.", code=USAGE)


def _means_off(value: str, off: str) -> bool:
    if off in ("true", "false"):
        try:
            return boolean(value) == (off == "true")
        except argparse.ArgumentTypeError:
            return False
    if off.endswith("h"):
        try:
            return _go_seconds(value) == 0
        except argparse.ArgumentTypeError:
            return False
    return value.strip().lower() == off


_go_seconds = duration()  # Go's time.ParseDuration, as Coder's duration flags


def _duration_ms(text: str) -> int:
    """A Go duration flag (``24h``, ``30m``) in milliseconds."""
    seconds = _go_seconds(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return int(seconds * 1000)


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
        return tfvariables.push_values(directory, args.variables_file,
                                       jobs.parse_assignments(args.variable),
                                       lambda: print(tfvariables.AUTO_DISCOVERED))
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


def _new_version(args: argparse.Namespace, client: Client, org: uuid.UUID, name: str,
                 existing: types.Template | None) -> types.TemplateVersion:
    """Upload the folder (or stdin's tar) and follow its import: push's and create's part."""
    stdin = args.directory == "-"
    directory = None if stdin else Path(args.directory).resolve()
    values = _variable_values(args, directory)
    tags = _provisioner_tags(args, client, existing)
    data = _stdin_tar() if stdin else _folder_tar(directory)
    if not stdin and not prompt.agreed(
            args, f"Upload {directory} as {'a new version of' if existing else 'new template'} "
                  f"{name}?", default=True):
        raise CommandError("canceled")
    file_id = client.upload_file(data)
    version = client.create_template_version(org, types.CreateTemplateVersionRequest(
        file_id=file_id, template_id=existing.id if existing else None,
        name=getattr(args, "version_name", ""), message=args.message, tags=tags,
        user_variable_values=values))
    print(f"Queued version {version.name} of {name}; following its import:", flush=True)
    jobs.follow(client, f"templateversions/{version.id}",
                lambda: client.template_version(version.id).job, "Template import")
    return version


def _template_name(args: argparse.Namespace) -> str:
    if args.directory == "-" and not args.name:
        raise CommandError("template name argument must be provided", code=USAGE)
    return args.name or Path(args.directory).resolve().name


def _push(args: argparse.Namespace) -> int:
    name = _template_name(args)
    client = connect.client(args)
    org = connect.organization(args, client).id
    existing = _template_or_none(client, org, name)
    version = _new_version(args, client, org, name, existing)
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


def _create(args: argparse.Namespace) -> int:
    """Coder's deprecated create: push's upload for a new template only, then a confirmation."""
    print("DEPRECATION WARNING: Use `coder templates push` command for creating and updating "
          "templates.\nUse `coder templates edit` command for editing template settings.",
          file=sys.stderr)
    _refuse_unsupported(args, CREATE_UNSUPPORTED)
    name = _template_name(args)
    if len(name) > 31:
        raise CommandError("Template name must be less than 32 characters")
    client = connect.client(args)
    org = connect.organization(args, client).id
    if _template_or_none(client, org, name) is not None:
        raise CommandError(f'A template already exists named "{name}"!')
    asks = args.directory != "-" and not args.yes
    if asks:  # before the upload, not after an import no one can confirm
        prompt.require_terminal("Creating a template", "--yes")
    version = _new_version(args, client, org, name, None)
    if asks and not prompt.confirm("Confirm create?", default=False):
        raise CommandError("canceled")
    client.create_template(org, types.CreateTemplateRequest(
        name=name, template_version_id=version.id, default_ttl_ms=args.default_ttl,
        require_active_version=args.require_active_version))
    print(f"\nThe {name} template has been created at {_stamp()}! Developers can provision a "
          f'workspace with this template using:\n\n  coder create --template="{name}" '
          "[workspace name]\n")
    return 0


def _stamp() -> str:
    """Now as Go's time.Stamp, which Coder's messages use."""
    now = dt.datetime.now()
    return f"{now:%b} {now.day:>2} {now:%H:%M:%S}"


def _edit(args: argparse.Namespace) -> int:
    _refuse_unsupported(args, EDIT_UNSUPPORTED)
    changes = {k: v for k, v in {
        "name": args.new_name, "display_name": args.display_name,
        "description": args.description, "icon": args.icon,
        "deprecation_message": args.deprecated, "default_ttl_ms": args.default_ttl,
        "activity_bump_ms": args.activity_bump,
        "allow_user_cancel_workspace_jobs": args.allow_user_cancel_workspace_jobs,
        "require_active_version": args.require_active_version}.items() if v is not None}
    client = connect.client(args)
    tmpl = client.template_by_name(connect.organization(args, client).id, args.template)
    if not changes:  # where Coder's server answers 304 and its CLI fails
        raise CommandError("update template metadata: template metadata not modified")
    client.update_template_meta(tmpl.id, types.UpdateTemplateMeta(**changes))
    print(f"Updated template metadata at {_stamp()}!")
    return 0


def _pull_version(client: Client, tmpl: types.Template, name: str) -> types.TemplateVersion:
    """Coder's choice: '' or 'active' the active version (warning when a newer one exists),
    'latest' the newest, else the version of that name."""
    if name not in ("", "active", "latest"):
        return client.template_version_by_name(tmpl.id, name)
    versions = client.template_versions(tmpl.id)
    if not versions:
        raise CommandError(f"no template versions for template {tmpl.name!r}")
    latest = max(versions, key=lambda v: v.created_at)
    if name == "latest":
        return latest
    if name == "" and latest.id != tmpl.active_version_id:
        jobs.warn("A newer template version than the active version exists. Pulling the "
                  "active version instead. Use --version latest to pull the latest version.")
    return client.template_version(tmpl.active_version_id)


def _pull(args: argparse.Namespace) -> int:
    if args.tar and args.zip:
        raise CommandError("--tar and --zip cannot be used together", code=USAGE)
    client = connect.client(args)
    tmpl = client.template_by_name(connect.organization(args, client).id, args.template)
    version = _pull_version(client, tmpl, args.version_name)
    print(f"Pulling template version {version.name}...", file=sys.stderr)
    raw = client.download_file(version.job.file_id)
    try:
        archives.check(raw)  # all of it before a byte is written
        if args.tar or args.zip:
            sys.stdout.buffer.write(archives.zip_from_tar(raw) if args.zip else raw)
            sys.stdout.flush()
            return 0
        dest = Path(args.destination or args.template)
        dest.mkdir(mode=0o750, parents=True, exist_ok=True)
        if any(dest.iterdir()) and not prompt.agreed(
                args, f'Directory "{dest}" is not empty, existing files may be overwritten.\n'
                      "Continue extracting?"):
            raise CommandError("canceled")
        print(f'Extracting template to "{dest}"', file=sys.stderr)
        archives.extract(raw, dest)
    except archives.ArchiveError as exc:
        raise CommandError(f"the version's archive cannot be unpacked: {exc}") from None
    except OSError as exc:
        raise CommandError(f"{args.destination or args.template}: {exc.strerror}") from None
    return 0


def _archive(args: argparse.Namespace) -> int:
    client = connect.client(args)
    names = args.names
    if not names:
        prompt.require_terminal("Choosing a template", "template names")
        names = [prompt.ask("Template to archive versions from:", validate=prompt.required)]
    org = connect.organization(args, client).id
    templates = [client.template_by_name(org, n) for n in names]
    if not prompt.agreed(args, f"Archive template versions of these templates: "
                               f"{', '.join(names)}?"):
        raise CommandError("canceled")
    for t in templates:
        archived = client.archive_unused_template_versions(t.id, all=args.all).archived_ids
        print(f"Archived {len(archived)} versions from {t.name} at {_stamp()}")
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
