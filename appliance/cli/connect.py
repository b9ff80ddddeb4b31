"""What every ``coder`` command shares: the global flags, the SDK client built
from them and the config folder, and the translation of failures into one
message plus a hint.

Precedence is Coder's: a flag beats its environment variable, which beats the
value stored by ``coder login``. The flags are accepted before the command
(``coder --url U whoami``) and after it (``coder whoami --url U``).
"""
from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Mapping
from urllib.parse import urlsplit

from appliance.sdk.errors import APIError
from appliance.sdk.trust import system_ca

from . import headers
from .base import USAGE, CommandError
from .config import SESSION_FILE, URL_FILE, ConfigDir, default_dir

if TYPE_CHECKING:
    from appliance.sdk import types
    from appliance.sdk.client import Client

NOT_LOGGED_IN = "You are not logged in."
LOGIN_HINT = "Try logging in using 'coder login <url>'."
TLS_HINT = ("Trust the deployment's CA with --ca-cert FILE or CODER_CA_CERT (e.g. the bundle.pem "
            "from 'appliance ca bundle').")


def add_global_options(parser: argparse.ArgumentParser, *, leaf: bool = False) -> None:
    """The flags every command takes; on ``leaf`` parsers they only override when given."""
    unset = argparse.SUPPRESS if leaf else None
    group = parser.add_argument_group("global options")
    if leaf:
        group.add_argument("-v", "--verbose", action="store_true", default=unset,
                           help="Show debug output, and tracebacks on errors.")
    group.add_argument("--url", default=unset, metavar="URL",
                       help="URL of the deployment (env CODER_URL; default: the URL stored by "
                            "'coder login').")
    group.add_argument("--token", default=unset, metavar="TOKEN",
                       help="Session or API token to authenticate with (env CODER_SESSION_TOKEN; "
                            "default: the session stored by 'coder login').")
    group.add_argument("--global-config", default=unset, metavar="DIR",
                       help="Config folder holding the url and session files (env "
                            "CODER_CONFIG_DIR; default: $XDG_CONFIG_HOME/coderv2 or "
                            "~/.config/coderv2).")
    group.add_argument("--ca-cert", default=unset, metavar="FILE",
                       help="PEM bundle of the CA(s) to trust for an HTTPS deployment (env "
                            "CODER_CA_CERT; default: the system trust store, or SSL_CERT_FILE).")
    headers.add_options(group, unset)
    group.add_argument("-y", "--yes", action="store_true", default=unset,
                       help="Answer yes to every confirmation prompt (needed without a terminal).")


def leaf_parser(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
                **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser that also takes the global flags."""
    p = sub.add_parser(name, help=summary, description=description, **kwargs)
    add_global_options(p, leaf=True)
    return p


def add_subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """Subcommands of a group; the group alone prints its help (see ``run_group``)."""
    parser.set_defaults(_group_help=parser.print_help, _action=None)
    return parser.add_subparsers(metavar="SUBCOMMAND", title="subcommands")


def run_group(args: argparse.Namespace) -> int:
    if args._action is None:
        args._group_help()
        return USAGE
    return args._action(args)


def config_dir(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> ConfigDir:
    flag = getattr(args, "global_config", None)
    return ConfigDir(os.path.expanduser(flag) if flag else default_dir(env))


def ca_bundle(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> str | bool:
    """The CA bundle to verify HTTPS with.

    Like Coder's Go CLI, trust the system store by default (where ``appliance
    ca install-trust`` puts the deployment's root) rather than requests' own
    public-CA bundle, which knows nothing of a private CA.
    """
    explicit = getattr(args, "ca_cert", None) or env.get("CODER_CA_CERT")
    if explicit:
        if not os.path.isfile(explicit):
            raise CommandError(f"CA certificate file {explicit} does not exist",
                               hint="Pass the PEM bundle of the deployment's CA, e.g. the "
                                    "bundle.pem written by 'appliance ca bundle'.", code=USAGE)
        return explicit
    return system_ca()


def normalize_url(raw: str) -> str:
    """Coder's rule: no scheme means https, except for a local address."""
    raw = raw.strip().rstrip("/")
    if "://" not in raw:
        local = raw.startswith(("localhost", "127.", "[::1]"))
        raw = ("http://" if local else "https://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"{raw!r} is not a deployment URL",
                           hint="Give it as https://coder.example.com", code=USAGE)
    return raw


def new_client(args: argparse.Namespace, url: str, token: str = "") -> Client:
    # Imported here: ``coder ssh --stdio`` (started for every ssh) needs neither.
    from appliance.sdk.client import Client
    from appliance.sdk.httpsession import session as http_session

    verify = ca_bundle(args)
    # The shared session keeps our CA bundle even when REQUESTS_CA_BUNDLE is set.
    return Client(url, token, verify=verify, headers=headers.from_flags(args, url),
                  session=http_session(None if verify is True else verify, retries=0))


def flag_token(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> str:
    return getattr(args, "token", None) or env.get("CODER_SESSION_TOKEN", "")


def flag_url(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> str:
    return getattr(args, "url", None) or env.get("CODER_URL", "")


def credentials(args: argparse.Namespace) -> tuple[str, str]:
    """The URL of the deployment the user is logged in to (or that the flags name), and
    the token to use there."""
    conf = config_dir(args)
    url = flag_url(args) or conf.read(URL_FILE)
    token = flag_token(args) or conf.read(SESSION_FILE)
    if not url or not token:
        raise CommandError(NOT_LOGGED_IN, hint=LOGIN_HINT)
    return normalize_url(url), token


def client(args: argparse.Namespace) -> Client:
    """A client for the deployment the user is logged in to (or that the flags name)."""
    return new_client(args, *credentials(args))


def add_org_option(parser: argparse.ArgumentParser) -> None:
    """Coder's ``-O/--org`` (cli/organization.go), on the commands that act in one organization."""
    parser.add_argument("-O", "--org", default=os.environ.get("CODER_ORGANIZATION", ""),
                        metavar="ORG", help="Select which organization (uuid or name) to use "
                                            "(env CODER_ORGANIZATION; default: the default "
                                            "organization).")


def organization(args: argparse.Namespace, client: Client) -> types.Organization:
    """The organization ``--org`` names among the caller's, in Coder's words when it is not
    one of them; without the flag, the default organization (or the caller's only one)."""
    orgs = client.user_organizations("me")
    names = ", ".join(o.name for o in orgs)
    if args.org:
        chosen = [o for o in orgs if args.org in (o.name, str(o.id))]
        if not chosen:
            raise CommandError(f'organization "{args.org}" not found, are you sure you are a '
                               f"member of this organization? Valid options for '--org=' are "
                               f"[{names}].")
        return chosen[0]
    chosen = [o for o in orgs if o.is_default] or (orgs if len(orgs) == 1 else [])
    if not chosen:
        raise CommandError(f"Must select an organization with --org=<org_name>. Choose from: "
                           f"{names}")
    return chosen[0]


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "<url>"


def translate(exc: Exception) -> CommandError:
    """Any failure of a command -> one message and a hint (the traceback goes to -v)."""
    if isinstance(exc, APIError):
        hint = exc.hint.replace("<url>", _origin(exc.url))
        if exc.status == 401 and "logged in" not in hint:
            hint = LOGIN_HINT.replace("<url>", _origin(exc.url))
        return CommandError(exc.describe(), hint=hint)
    if isinstance(exc, ssl.SSLError):  # from a connection made without requests
        reason = getattr(exc, "verify_message", "") or exc.reason or exc
        return CommandError(f"TLS verification failed: {reason}", hint=TLS_HINT)
    requests = sys.modules.get("requests")  # not imported: none of its errors can be here
    if requests is None:
        return _unexpected(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        url = _origin(exc.request.url if exc.request else "")
        return CommandError(f"TLS verification of {url} failed: {_reason(exc)}", hint=TLS_HINT)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        url = _origin(exc.request.url if exc.request else "")
        return CommandError(f"Could not reach Coder at {url}: {_reason(exc)}",
                            hint="Check the URL and that coderd is running and reachable.")
    if isinstance(exc, requests.RequestException):
        return CommandError(f"Request failed: {exc}", hint="Check the deployment URL.")
    return _unexpected(exc)


def _unexpected(exc: Exception) -> CommandError:
    if isinstance(exc, OSError) and exc.filename:
        return CommandError(f"{exc.filename}: {exc.strerror}")
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):  # made without requests
        return CommandError(f"Could not reach Coder: {exc.strerror or exc}",
                            hint="Check the URL and that coderd is running and reachable.")
    return CommandError(f"unexpected error: {type(exc).__name__}: {exc}",
                        hint="Run again with -v to see the traceback.", code=USAGE)


def _reason(exc) -> str:
    """What the socket or TLS layer said, without urllib3's wrappers and reprs."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the real error
    text = str(cause)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(">: ", 1)[-1]  # drop "<urllib3...Connection object at 0x...>: "
