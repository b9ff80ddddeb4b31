"""``coder logout``: revoke the session on the server and forget it locally.

Like Coder's, it removes both the ``session`` and ``url`` files. The local
session is removed even when the server cannot be reached or no longer knows
the session, with a warning: logging out must never leave a user stuck.
"""
from __future__ import annotations

import argparse
import sys

import requests

from appliance.sdk.client import APIError

from .. import connect, prompt
from ..config import SESSION_FILE, URL_FILE


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Log out: delete the session on the server and the url and session files "
                     "in the config folder.")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    client = connect.client(args)
    if not prompt.agreed(args, "Are you sure you want to log out?", default=True):
        print("Still logged in.")
        return 0
    try:
        client.logout()
    except APIError as exc:
        if exc.status != 401:
            raise
        _warn("the server no longer knew this session")
    except requests.RequestException as exc:
        _warn(f"{connect.translate(exc).message}; the session stays valid on the server "
              "until it expires")
    conf = connect.config_dir(args)
    conf.delete(SESSION_FILE)
    conf.delete(URL_FILE)
    print("You are no longer logged in. You can log in using 'coder login <url>'.")
    return 0


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)
