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
import collections.abc
import getpass
import os
import re

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


class _UrlOrSubcommand(argparse._SubParsersAction):
    """Coder's ``coder login [URL]`` also has a subcommand, ``coder login token``: a word
    that names no subcommand is the URL, and the flags after it are login's own."""

    class _AnyWord(collections.abc.Mapping):
        """The subcommands, where argparse checks a word is one before calling: any is."""

        def __init__(self, subcommands: dict) -> None:
            self.subcommands = subcommands

        def __getitem__(self, name: str) -> argparse.ArgumentParser:
            return self.subcommands[name]

        def __iter__(self):
            return iter(self.subcommands)

        def __len__(self) -> int:
            return len(self.subcommands)

        def __contains__(self, word: object) -> bool:
            return True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = self._AnyWord(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values[0] in self._name_parser_map:
            return super().__call__(parser, namespace, values, option_string)
        namespace.login_url = values[0]
        parser.parse_known_args(values[1:], namespace)
        if namespace.login_url != values[0]:
            parser.error(f"unrecognized arguments: {namespace.login_url}")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.set_defaults(login_url=None, _action=_login)
    p.register("action", "parsers", _UrlOrSubcommand)
    sub = p.add_subparsers(metavar="[URL | token]", title="arguments",
                           description="URL: the deployment, e.g. https://coder.example.com "
                                       "(default: --url, CODER_URL, or the URL stored by the "
                                       "last login).")
    s = connect.leaf_parser(sub, "token", "Print the current session token.",
                            "Print the session token stored by 'coder login', for use in "
                            "scripts and automation.")
    s.set_defaults(_action=_token)
    for name, text in FIRST_USER_FLAGS:
        flag = name.replace("_", "-")
        p.add_argument(f"--first-user-{flag}", dest=f"first_user_{name}", metavar=name.upper(),
                       help=f"{text} Env CODER_FIRST_USER_{name.upper()}.")
    p.add_argument("--use-token-as-session", action="store_true",
                   help="Store the token given with --token itself instead of a new session "
                        "key made from it ('coder logout' will then revoke that token).")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _token(args: argparse.Namespace) -> int:
    token = connect.config_dir(args).read(SESSION_FILE)
    if not token:
        raise CommandError("no session token found - run 'coder login' first")
    print(token)
    return 0


def _login(args: argparse.Namespace) -> int:
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
            password = prompt.new_password("Enter a password:")
    client.create_first_user(types.CreateFirstUserRequest(
        email=email, username=username, password=password, name=name))
    client.token = client.login_with_password(email, password)
    return client.token, username


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
