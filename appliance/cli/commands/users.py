"""``coder users``: list, show, create, edit-roles, suspend, activate and delete users.

Users are named by username, ID or ``me``, as Coder's API takes them. The
messages follow Coder's CLI so that its docs read true here.
"""
from __future__ import annotations

import argparse
import secrets
import string

from appliance.sdk import types

from .. import connect, prompt
from ..base import CommandError
from ..output import add_table_options, print_objects

COLUMNS = ("id", "username", "name", "email", "created_at", "updated_at", "last_seen_at",
           "status", "login_type", "roles", "organization_ids")
LIST_COLUMNS = ("username", "email", "created_at", "status")
SHOW_COLUMNS = ("username", "name", "email", "status", "login_type", "roles", "created_at",
                "last_seen_at", "id")
PASSWORD_LENGTH = 20
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl1")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Manage users: list, show, create, suspend, activate and delete them."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(sub, "list", "List users.", "List the deployment's users.",
                            aliases=["ls"])
    add_table_options(s, COLUMNS, LIST_COLUMNS)
    s.set_defaults(_action=_list)

    s = connect.leaf_parser(sub, "show", "Show one user.", "Show a user by username, ID or 'me'.")
    s.add_argument("user", metavar="USER", help="Username, user ID or 'me'.")
    add_table_options(s, COLUMNS, SHOW_COLUMNS)
    s.set_defaults(_action=_show)

    s = connect.leaf_parser(
        sub, "create", "Create a user.",
        "Create a user in an organization (--org; default: the default one). Missing --username and --email are asked "
        "for on a terminal. With login type password and no --password, a random password is "
        "generated and printed, to hand over to the new user.")
    s.add_argument("-u", "--username", help="Username (letters, digits, single hyphens).")
    s.add_argument("-e", "--email", help="Email address.")
    s.add_argument("-n", "--full-name", default="", help="Full name (optional).")
    s.add_argument("-p", "--password", help="Password (login type password only).")
    s.add_argument("--login-type", choices=("password", "none"), default="password",
                   help="'password' (default), or 'none' for a user that only uses API tokens "
                        "made for them by an administrator.")
    connect.add_org_option(s)
    s.set_defaults(_action=_create)

    s = connect.leaf_parser(sub, "edit-roles", "Edit a user's roles by username or id.",
                            "Edit a user's site roles. --roles replaces them all; without it "
                            "a terminal asks which to keep or give.")
    s.add_argument("user", metavar="USER", help="Username or user ID.")
    s.add_argument("--roles", action="append", metavar="ROLES",
                   help="The roles to give the user, comma-separated or repeated; this removes "
                        "any existing roles the user may have.")
    s.set_defaults(_action=_edit_roles)

    for name, verb, status in (("suspend", "suspended", "suspended"),
                               ("activate", "activated", "active")):
        s = connect.leaf_parser(
            sub, name, f"{name.capitalize()} a user.",
            f"{name.capitalize()} a user." + (" A suspended user cannot log in, and their "
                                              "sessions and tokens stop working at once."
                                              if status == "suspended" else ""))
        s.add_argument("user", metavar="USER", help="Username or user ID.")
        s.set_defaults(_action=_set_status, _status=status, _verb=verb)

    s = connect.leaf_parser(sub, "delete", "Delete a user.", "Delete a user by username or ID.",
                            aliases=["rm"])
    s.add_argument("user", metavar="USER", help="Username or user ID.")
    s.set_defaults(_action=_delete)


run = connect.run_group


def _list(args: argparse.Namespace) -> int:
    print_objects(args, connect.client(args).users().users)
    return 0


def _show(args: argparse.Namespace) -> int:
    print_objects(args, connect.client(args).user(args.user))
    return 0


def _create(args: argparse.Namespace) -> int:
    client = connect.client(args)
    username, email, password = args.username, args.email, args.password
    if not (username and email):
        prompt.require_terminal("Creating a user without --username and --email",
                                "--username and --email")
        username = username or prompt.ask("Username:", validate=prompt.required)
        email = email or prompt.ask("Email:", validate=prompt.required)
    if args.login_type == "password" and not password:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
    user = client.create_user(types.CreateUserRequest(
        email=email, username=username, password=password or "", name=args.full_name,
        login_type=args.login_type, organization_ids=[connect.organization(args, client).id]))
    print("A new user has been created!\nShare the instructions below to get them started.\n---")
    print(f"Run 'coder login {client.url}' to authenticate.\n")
    print(f"Your username is: {user.username}\nYour email is: {user.email}")
    print(f"Your password is: {password}" if password else
          "You log in with an API token that an administrator creates for you.")
    return 0


def _edit_roles(args: argparse.Namespace) -> int:
    """As Coder's: given roles are checked against the site roles; none given, a terminal
    picks from them with the user's current roles preselected."""
    client = connect.client(args)
    user = client.user(args.user)
    site_roles = [r.name for r in client.site_roles()]
    given = [r.strip() for spec in args.roles or [] for r in spec.split(",") if r.strip()]
    for role in given:
        if role not in site_roles:
            raise CommandError(f"The role {role} is not valid. Please use one or more of the "
                               f"following roles: {', '.join(site_roles)}")
    if args.roles is None:
        prompt.require_terminal("Choosing roles without --roles", "--roles ROLE,ROLE")
        given = prompt.multi_select("Select the roles you'd like to assign to the user",
                                    site_roles, [r.name for r in user.roles])
    client.update_user_roles(user.username, given)
    return 0


def _set_status(args: argparse.Namespace) -> int:
    user = connect.client(args).update_user_status(args.user, args._status)
    print(f"User {user.username} has been {args._verb}!")
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = connect.client(args)
    user = client.user(args.user)
    client.delete_user(user.id)
    print(f"Successfully deleted {user.username}.")
    return 0
