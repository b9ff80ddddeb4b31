"""``coder wsproxy``: create, list and delete workspace proxies (Coder's names and output).

``create`` prints the proxy's token once (``--only-token``: the token alone, for scripts
that hand it to ``coderd wsproxy server``), as Coder's does; coderd keeps only its hash.
"""
from __future__ import annotations

import argparse

from appliance.sdk import types

from .. import connect, prompt
from ..output import add_table_options, print_rows

COLUMNS = ("name", "display_name", "url", "wildcard_hostname", "proxy_status", "healthy", "id",
           "created_at")
LIST_COLUMNS = ("name", "url", "proxy_status")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Manage workspace proxies: create, list and delete them (owners)."
    sub = connect.add_subcommands(p)

    s = connect.leaf_parser(sub, "create", "Create a workspace proxy.",
                            "Create a workspace proxy and print its token (shown only once).")
    s.add_argument("--name", required=True, help="The proxy's name (letters, digits, hyphens).")
    s.add_argument("--display-name", default="", help="Shown in the regions (default: the name).")
    s.add_argument("--icon", default="", help="The icon's URL or /emojis/ path.")
    s.add_argument("--only-token", action="store_true", help="Print the token alone.")
    s.set_defaults(_action=_create)

    s = connect.leaf_parser(sub, "list", "List workspace proxies.",
                            "List the workspace proxies with their URL and health.",
                            aliases=["ls"])
    add_table_options(s, COLUMNS, LIST_COLUMNS)
    s.set_defaults(_action=_list)

    s = connect.leaf_parser(sub, "delete", "Delete a workspace proxy.",
                            "Delete a workspace proxy (its token stops working at once).",
                            aliases=["rm"])
    s.add_argument("proxy", metavar="NAME|ID", help="The proxy's name or ID.")
    s.set_defaults(_action=_delete)


run = connect.run_group


def _create(args: argparse.Namespace) -> int:
    made = connect.client(args).create_workspace_proxy(types.CreateWorkspaceProxyRequest(
        name=args.name, display_name=args.display_name, icon=args.icon))
    if args.only_token:
        print(made.proxy_token)
    else:
        print(f"Workspace Proxy {made.proxy.name!r} created successfully. Save this "
              f"authentication token, it will not be shown again.\nToken: {made.proxy_token}")
    return 0


def _list(args: argparse.Namespace) -> int:
    proxies = connect.client(args).workspace_proxies()
    if not proxies and args.output == "table":
        print("No workspace proxies found.")
        return 0
    rows = [{"name": p.name, "display_name": p.display_name, "url": p.path_app_url,
             "wildcard_hostname": p.wildcard_hostname, "proxy_status": p.status.status,
             "healthy": p.healthy, "id": p.id, "created_at": p.created_at} for p in proxies]
    print_rows(args, proxies, rows)
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = connect.client(args)
    proxy = client.workspace_proxy(args.proxy)
    if not prompt.agreed(args, f"Delete workspace proxy {proxy.name!r}?"):
        return 1
    client.delete_workspace_proxy(proxy.id)
    print(f"Workspace proxy {proxy.name!r} deleted successfully")
    return 0
