"""``coder tokens``: create, list and remove long-lived API tokens.

``create`` prints the token alone on stdout, so that scripts can capture it
(``TOKEN=$(coder tokens create)``), as Coder's does.
"""
from __future__ import annotations

import argparse
import os

from appliance.sdk.client import APIError, Client
from appliance import durations

from .. import connect
from ..base import CommandError, duration
from ..output import add_table_options, print_objects

COLUMNS = ("id", "name", "owner", "scope", "last_used", "expires_at", "created_at",
           "lifetime_seconds")
LIST_COLUMNS = ("id", "name", "last_used", "expires_at", "created_at")
DEFAULT_LIFETIME = "30d"
RENAME = {"token_name": "name", "username": "owner"}


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Manage personal API tokens: create, list and remove them."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(sub, "create", "Create a token and print it.",
                            "Create an API token and print it (alone, for scripts).")
    s.add_argument("-n", "--name", default=os.environ.get("CODER_TOKEN_NAME", ""),
                   help="Token name, unique per user (env CODER_TOKEN_NAME; default: a "
                        "generated name).")
    s.add_argument("--lifetime", default=os.environ.get("CODER_TOKEN_LIFETIME", DEFAULT_LIFETIME),
                   type=duration(durations.parse_extended),
                   help="How long the token lives, e.g. 30d, 720h, 90m (env "
                        f"CODER_TOKEN_LIFETIME; default: {DEFAULT_LIFETIME}; the deployment "
                        "sets a maximum).")
    s.add_argument("-u", "--user", default="me",
                   help="Create the token for this user (needs the right to; default: me).")
    s.set_defaults(_action=_create)

    s = connect.leaf_parser(sub, "list", "List tokens.",
                            "List your API tokens, or everyone's with --all (owners only).",
                            aliases=["ls"])
    s.add_argument("-a", "--all", action="store_true",
                   help="List the tokens of all users (adds the owner column).")
    add_table_options(s, COLUMNS, LIST_COLUMNS)
    s.set_defaults(_action=_list)

    s = connect.leaf_parser(sub, "remove", "Remove a token.",
                            "Remove (revoke) one of your API tokens, given by name or ID.",
                            aliases=["rm", "delete"])
    s.add_argument("token_ref", metavar="NAME|ID", help="The token's name or ID.")
    s.set_defaults(_action=_remove)


run = connect.run_group


def _create(args: argparse.Namespace) -> int:
    client = connect.client(args)
    print(client.create_token(args.user, token_name=args.name,
                              lifetime_seconds=int(args.lifetime)))
    return 0


def _list(args: argparse.Namespace) -> int:
    tokens = connect.client(args).tokens(include_all=args.all)
    if args.all and not args.column:
        args._default_columns = ("id", "name", "owner") + LIST_COLUMNS[2:]
    if not tokens and args.output == "table":
        print("No tokens found.")
        return 0
    print_objects(args, tokens, rename=RENAME)
    return 0


def _remove(args: argparse.Namespace) -> int:
    client = connect.client(args)
    key = _find(client, args.token_ref)
    client.delete_api_key(key.id)
    print("Token has been deleted.")
    return 0


def _find(client: Client, name_or_id: str):
    """By name first, then by ID, as Coder's ``tokens remove`` looks it up."""
    for lookup in (client.token_by_name, client.api_key):
        try:
            return lookup(name_or_id)
        except APIError as exc:
            if exc.status not in (400, 404):
                raise
    raise CommandError(f"No token named or with ID {name_or_id!r}.",
                       hint="See 'coder tokens list'.")
