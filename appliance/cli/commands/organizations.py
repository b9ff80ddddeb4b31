"""``coder organizations``: show an organization, and list and manage its members.

Shaped as Coder's ``cli/organization.go`` and ``cli/organizationmembers.go``: the
organization acted on is the one ``-O/--org`` selects (the default one otherwise),
and the messages are Coder's so that its docs read true here.
"""
from __future__ import annotations

import argparse

from appliance.sdk import model, types
from appliance.sdk.errors import APIError

from .. import connect
from ..base import CommandError
from ..output import add_table_options, print_rows

MEMBER_COLUMNS = ("username", "name", "email", "organization_roles", "global_roles", "user_id")
MEMBER_DEFAULT_COLUMNS = ("username", "organization_roles")
ORG_COLUMNS = ("id", "name", "display_name", "default", "created_at")
ORG_DEFAULT_COLUMNS = ("id", "name", "default")
# members add|remove: the client's method, and Coder's words for a failure and a success
MEMBERSHIP_CHANGES = {
    "add": ("add_organization_member", "could not add member to organization",
            "Organization member added to"),
    "remove": ("remove_organization_member", "could not remove member from organization",
               "Organization member removed from"),
}


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Show organizations and manage their members."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(
        sub, "show", "Show the organization.",
        "Show an organization: 'selected' (the default), the one --org selects; 'me', those you "
        "are a member of; or one by name or ID.")
    s.add_argument("which", nargs="?", default="selected", metavar="selected|me|NAME",
                   help="Which organization to show (default: selected).")
    s.add_argument("--only-id", action="store_true", help="Only print the organization ID.")
    s.add_argument("-o", "--output", choices=("text", "table", "json"), default="text",
                   help="Output format (default: text).")
    s.add_argument("-c", "--column", action="append", metavar="COLUMNS",
                   help=f"Table columns, comma-separated; from: {', '.join(ORG_COLUMNS)}.")
    s.set_defaults(_action=_show, _columns=ORG_COLUMNS, _default_columns=ORG_DEFAULT_COLUMNS)
    connect.add_org_option(s)

    members = sub.add_parser("members", aliases=["member"], help="Manage organization members.",
                             description="Manage the members of the organization --org selects.")
    msub = connect.add_subcommands(members)
    s = connect.leaf_parser(msub, "list", "List all organization members.",
                            "List the members of the organization and their roles in it.")
    add_table_options(s, MEMBER_COLUMNS, MEMBER_DEFAULT_COLUMNS)
    s.set_defaults(_action=_members_list)
    s = connect.leaf_parser(msub, "edit-roles", "Edit organization member's roles.",
                            "Set a member's organization roles to those given (none: remove "
                            "them all).", aliases=["edit-role"])
    s.add_argument("user", metavar="USER", help="Username or user ID.")
    s.add_argument("roles", nargs="*", metavar="ROLE", help="Organization roles to give.")
    s.set_defaults(_action=_edit_roles)
    for change, summary, aliases in (("add", "Add a new member to the current organization.", []),
                                     ("remove", "Remove a member from the current organization.",
                                      ["rm"])):
        s = connect.leaf_parser(msub, change, summary, summary, aliases=aliases)
        s.add_argument("user", metavar="USER", help="Username or user ID.")
        s.set_defaults(_action=_change_membership, _change=change)
    for parser in {id(p): p for p in msub.choices.values()}.values():  # aliases share one
        connect.add_org_option(parser)


run = connect.run_group


def _human_name(org: types.Organization) -> str:
    return org.display_name or org.name


def _show(args: argparse.Namespace) -> int:
    client = connect.client(args)
    which = args.which.lower()
    if which == "me":
        orgs = client.user_organizations("me")
        text = "Organizations you are a member of:\n" + "".join(
            f"\t{o.name} ({o.id})\n" for o in orgs)
    else:
        org = (connect.organization(args, client) if which == "selected"
               else client.organization_by_name(args.which))
        orgs = [org]
        label = "Current CLI Organization" if which == "selected" else "Organization"
        text = f"{label}: {org.name} ({org.id})\n"
    if args.only_id:
        print("\n".join(str(o.id) for o in orgs))
    elif args.output == "text":
        print(text, end="")
    else:
        print_rows(args, orgs, [{**model.encode(o), "default": o.is_default} for o in orgs])
    return 0


def _members_list(args: argparse.Namespace) -> int:
    client = connect.client(args)
    members = client.organization_members(connect.organization(args, client).id)
    print_rows(args, members, [{**model.encode(m), "organization_roles": model.encode(m.roles)}
                               for m in members])
    return 0


def _edit_roles(args: argparse.Namespace) -> int:
    client = connect.client(args)
    org = connect.organization(args, client)
    member = _acting("update member roles",
                     lambda: client.update_organization_member_roles(org.id, args.user, args.roles))
    print(f"Member roles updated to [{', '.join(r.name for r in member.roles)}]")
    return 0


def _change_membership(args: argparse.Namespace) -> int:
    client = connect.client(args)
    org = connect.organization(args, client)
    method, failed, done = MEMBERSHIP_CHANGES[args._change]
    name = f'"{_human_name(org)}"'
    _acting(f"{failed} {name}", lambda: getattr(client, method)(org.id, args.user))
    print(f"{done} {name}")
    return 0


def _acting(what: str, call):
    """``call``'s result; a refusal is reported as Coder's CLI does: ``what: the reason``."""
    try:
        return call()
    except APIError as exc:
        reason = connect.translate(exc)
        raise CommandError(f"{what}: {reason.message}", hint=reason.hint) from None
