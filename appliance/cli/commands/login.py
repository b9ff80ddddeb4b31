"""``coder login``: authenticate to a deployment and keep the session.

As in Coder: on a new deployment it creates the first user (prompting, or from
the ``--first-user-*`` flags and ``CODER_FIRST_USER_*`` variables); otherwise
it takes a token (``--token``/``CODER_SESSION_TOKEN``, checked with
``GET /users/me``) and stores a fresh session key made from it, so that a later
``coder logout`` does not revoke the token the user passed. Where Coder opens
a browser on ``/cli-auth``, this prints that page's URL (coderd serves it) and
prompts for the token it shows or, on Enter, for an email and password: an
air-gapped workstation may have no browser.
"""
from __future__ import annotations

import argparse
import getpass
import os
import re

from appliance import passwords
from appliance.sdk import types
from appliance.sdk.client import APIError, Client

from .. import connect, prompt
from ..base import CommandError
from ..config import SESSION_FILE, URL_FILE

DESCRIPTION = """Authenticate with a Coder deployment and store the session in the config
folder (files 'url' and 'session'). On a deployment without users, create the first
user (an owner) first. With --token (or CODER_SESSION_TOKEN) the token is checked and
exchanged for a new session key; without it, you are asked for a token or, if you
press Enter, for your email (or username) and password."""

FIRST_USER_FLAGS = (
    ("username", "Username of the first user."),
    ("email", "Email of the first user."),
    ("password", "Password of the first user (prefer the environment variable)."),
    ("full_name", "Full name of the first user (optional)."),
)
TOKEN_ATTEMPTS = 3


def configure(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.add_argument("login_url", nargs="?", metavar="URL",
                   help="The deployment, e.g. https://coder.example.com (default: --url, "
                        "CODER_URL, or the URL stored by the last login).")
    for name, text in FIRST_USER_FLAGS:
        flag = name.replace("_", "-")
        p.add_argument(f"--first-user-{flag}", dest=f"first_user_{name}", metavar=name.upper(),
                       help=f"{text} Env CODER_FIRST_USER_{name.upper()}.")
    p.add_argument("--use-token-as-session", action="store_true",
                   help="Store the token given with --token itself instead of a new session "
                        "key made from it ('coder logout' will then revoke that token).")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    conf = connect.config_dir(args)
    raw = args.login_url or connect.flag_url(args) or conf.read(URL_FILE)
    if not raw:
        raise CommandError("No URL to log in to.", hint="Run 'coder login https://coder.example.com'.")
    url = connect.normalize_url(raw)
    client = connect.new_client(args, url)
    if not client.has_first_user():
        token, username = _create_first_user(args, client)
    else:
        token, username = _authenticate(args, client, url)
    conf.write(URL_FILE, url)
    conf.write(SESSION_FILE, token)
    print(f"Welcome to Coder, {username}! You're authenticated.")
    return 0


def _first_user_value(args: argparse.Namespace, name: str) -> str:
    return getattr(args, f"first_user_{name}") or os.environ.get(f"CODER_FIRST_USER_{name.upper()}", "")


def _create_first_user(args: argparse.Namespace, client: Client) -> tuple[str, str]:
    print("Your Coder deployment hasn't been set up!")
    username, email, password, name = (_first_user_value(args, n) for n, _ in FIRST_USER_FLAGS)
    if not (username and email and password):
        prompt.require_terminal("Creating the first user",
                                "--first-user-username, --first-user-email and --first-user-password")
        if not username:
            if not prompt.confirm("Would you like to create the first user?"):
                raise CommandError("The first user was not created.",
                                   hint="Run 'coder login' again to create it.")
            username = prompt.ask("What username would you like?", default=_os_username(),
                                  validate=prompt.required)
            if not name:
                name = prompt.ask("(Optional) What is your name?")
        if not email:
            email = prompt.ask("What's your email?", validate=_check_email)
        if not password:
            password = _new_password()
    client.create_first_user(types.CreateFirstUserRequest(
        email=email, username=username, password=password, name=name))
    client.token = client.login_with_password(email, password)
    return client.token, username


def _new_password() -> str:
    while True:
        password = prompt.ask("Enter a password:", secret=True, validate=passwords.problem)
        if prompt.ask("Confirm password:", secret=True) == password:
            return password
        print("Passwords do not match, try again.")


def _authenticate(args: argparse.Namespace, client: Client, url: str) -> tuple[str, str]:
    token = connect.flag_token(args)
    if token:
        user = _check_token(client, token)
        if user is None:
            raise CommandError("That's not a valid token!",
                               hint="Create one with 'coder tokens create' where you are logged in.")
    else:
        prompt.require_terminal("Logging in without --token", "--token TOKEN (or CODER_SESSION_TOKEN)")
        print(f"Open the following in your browser:\n\n\t{url}/cli-auth\n\n"
              "and paste the session token it shows (or one 'coder tokens create' printed), "
              "or press Enter to log in with a password here.")
        token, user = _prompt_token(client)
        if not token:
            email = prompt.ask("Email or username:", validate=prompt.required)
            password = prompt.ask("Password:", secret=True, validate=prompt.required)
            token = client.login_with_password(email, password)
            return token, _check_token(client, token).username
    if not args.use_token_as_session:
        client.token = token
        token = client.create_api_key("me")
    return token, user.username


def _prompt_token(client: Client) -> tuple[str, types.User | None]:
    for _ in range(TOKEN_ATTEMPTS):
        token = prompt.ask("Paste your token here:", secret=True).strip()
        if not token:
            return "", None
        user = _check_token(client, token)
        if user is not None:
            return token, user
        print("That's not a valid token!")
    raise CommandError("No valid token given.", hint="Create one with 'coder tokens create'.")


def _check_token(client: Client, token: str) -> types.User | None:
    client.token = token
    try:
        return client.user("me")
    except APIError as exc:
        if exc.status == 401:
            return None
        raise


def _check_email(answer: str) -> str:
    return "" if re.fullmatch(r"[^@\s]+@[^@\s]+", answer) else "That is not an email address."


def _os_username() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return ""
    return re.sub(r"[^a-zA-Z0-9-]", "", name)[:32]
