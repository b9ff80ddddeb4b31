"""``coder provisioner list``: the organization's provisioner daemons, with Coder's
columns (cli/provisioners.go)."""
from __future__ import annotations

import argparse

from .. import connect
from ..output import add_table_options, print_rows

COLUMNS = ("id", "organization_id", "created_at", "last_seen_at", "name", "version",
           "api_version", "tags", "key_name", "status", "current_job_id", "current_job_status",
           "previous_job_id", "previous_job_status", "organization")
DEFAULT_COLUMNS = ("created_at", "last_seen_at", "key_name", "name", "version", "status", "tags")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "View and manage provisioner daemons and jobs."
    sub = connect.add_subcommands(p)
    s = connect.leaf_parser(sub, "list", "List provisioner daemons in an organization.",
                            "List the provisioner daemons of an organization.", aliases=["ls"])
    add_table_options(s, COLUMNS, DEFAULT_COLUMNS)
    connect.add_org_option(s)
    s.set_defaults(_action=_list)


run = connect.run_group


def _list(args: argparse.Namespace) -> int:
    client = connect.client(args)
    org = connect.organization(args, client)
    daemons = client.provisioner_daemons(org.id)
    if not daemons and args.output == "table":
        print("No provisioner daemons found")
        return 0
    rows = [{"id": d.id, "organization_id": d.organization_id, "created_at": d.created_at,
             "last_seen_at": d.last_seen_at, "name": d.name, "version": d.version,
             "api_version": d.api_version, "tags": _tags(d.tags), "key_name": d.key_name,
             "status": d.status,
             "current_job_id": d.current_job.id if d.current_job else "",
             "current_job_status": d.current_job.status if d.current_job else "",
             "previous_job_id": d.previous_job.id if d.previous_job else "",
             "previous_job_status": d.previous_job.status if d.previous_job else "",
             "organization": org.name} for d in daemons]
    print_rows(args, daemons, rows)
    return 0


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()))
