"""``coder whoami``: which deployment and which user this CLI talks as."""
from __future__ import annotations

import argparse

from appliance.sdk import model

from .. import connect
from ..base import write_output


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Show the deployment URL and the user you are authenticated as."
    p.add_argument("-o", "--output", choices=("text", "json"), default="text",
                   help="Output format (default: text).")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    client = connect.client(args)
    user = client.user("me")
    if args.output == "json":
        write_output("json", {"url": client.url, **model.encode(user)})
    else:
        print(f"Coder is running at {client.url}, You're authenticated as {user.username} !")
    return 0
