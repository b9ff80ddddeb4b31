"""``coder provisioner list`` and ``coder provisioner jobs list|cancel``: the
organization's provisioner daemons and jobs, with Coder's columns and flags
(cli/provisioners.go, cli/provisionerjobs.go). A job is canceled as what it builds: a
template version import or a workspace build, through that one's cancel call."""
from __future__ import annotations

import argparse

from appliance.sdk import model

from .. import connect
from ..base import USAGE, CommandError
from ..output import add_table_options, print_rows

COLUMNS = ("id", "organization_id", "created_at", "last_seen_at", "name", "version",
           "api_version", "tags", "key_name", "status", "current_job_id", "current_job_status",
           "previous_job_id", "previous_job_status", "organization")
DEFAULT_COLUMNS = ("created_at", "last_seen_at", "key_name", "name", "version", "status", "tags")
JOB_COLUMNS = ("id", "created_at", "started_at", "completed_at", "canceled_at", "error",
               "error_code", "status", "worker_id", "file_id", "tags", "queue_position",
               "queue_size", "organization_id", "template_version_id", "workspace_build_id",
               "type", "queue", "organization")
JOB_DEFAULT_COLUMNS = ("created_at", "id", "type", "status", "queue", "tags")
JOB_STATUSES = ("pending", "running", "succeeded", "canceling", "canceled", "failed")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "View and manage provisioner daemons and jobs."
    sub = connect.add_subcommands(p)
    s = connect.leaf_parser(sub, "list", "List provisioner daemons in an organization.",
                            "List the provisioner daemons of an organization.", aliases=["ls"])
    add_table_options(s, COLUMNS, DEFAULT_COLUMNS)
    connect.add_org_option(s)
    s.set_defaults(_action=_list)

    jobs = sub.add_parser("jobs", help="View and manage provisioner jobs.",
                          description="View and manage provisioner jobs.")
    jobs_sub = connect.add_subcommands(jobs)
    s = connect.leaf_parser(jobs_sub, "list", "List provisioner jobs.",
                            "List an organization's provisioner jobs, newest first.",
                            aliases=["ls"])
    s.add_argument("-s", "--status", action="append", metavar="STATUS",
                   help=f"Only jobs in these statuses, comma-separated or repeated: "
                        f"{', '.join(JOB_STATUSES)}.")
    s.add_argument("-l", "--limit", type=int, default=50, help="At most this many (default 50).")
    add_table_options(s, JOB_COLUMNS, JOB_DEFAULT_COLUMNS)
    connect.add_org_option(s)
    s.set_defaults(_action=_jobs_list)
    s = connect.leaf_parser(jobs_sub, "cancel", "Cancel a provisioner job.",
                            "Cancel a template version import or a workspace build by its job ID.")
    s.add_argument("job_id", metavar="JOB_ID")
    connect.add_org_option(s)
    s.set_defaults(_action=_jobs_cancel)


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


def _jobs_list(args: argparse.Namespace) -> int:
    statuses = [x.strip() for spec in args.status or [] for x in spec.split(",") if x.strip()]
    unknown = [x for x in statuses if x not in JOB_STATUSES]
    if unknown:
        raise CommandError(f"invalid status {unknown[0]!r}",
                           hint=f"Choose from: {', '.join(JOB_STATUSES)}.", code=USAGE)
    client = connect.client(args)
    org = connect.organization(args, client)
    found = client.provisioner_jobs(org.id, statuses, args.limit)
    if not found and args.output == "table":
        print("No provisioner jobs found")
        return 0
    rows = [{**model.encode(j), "template_version_id": j.input.template_version_id,
             "workspace_build_id": j.input.workspace_build_id, "tags": _tags(j.tags),
             "queue": f"{j.queue_position}/{j.queue_size}" if j.queue_size else "",
             "organization": org.name} for j in found]
    print_rows(args, found, rows)
    return 0


def _jobs_cancel(args: argparse.Namespace) -> int:
    client = connect.client(args)
    job = client.provisioner_job(connect.organization(args, client).id, args.job_id)
    if job.type == "template_version_import":
        client.cancel_template_version(job.input.template_version_id)
    elif job.type == "workspace_build":
        client.cancel_workspace_build(job.input.workspace_build_id)
    else:
        raise CommandError(f"cannot cancel a {job.type} job")
    print("Job canceled")
    return 0
