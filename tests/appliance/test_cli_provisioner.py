"""``coder provisioner list`` and ``GET /organizations/{org}/provisionerdaemons`` against a
coderd with its two built-in daemons: Coder's JSON fields (codersdk.ProvisionerDaemon),
a build shown as a daemon's previous job, members reading, no session refused."""
from __future__ import annotations

import json

import requests

from appliance.sdk import types

from tests.kit.cli import CoderCLI
from tests.kit.coderd import create_another_user, create_first_user

# codersdk.ProvisionerDaemon's JSON fields, as Coder sends them.
CODER_FIELDS = {"id", "organization_id", "key_id", "created_at", "last_seen_at", "name",
                "version", "api_version", "provisioners", "tags", "key_name", "status",
                "current_job", "previous_job"}


def test_provisioner_list(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "main.tf").write_text("terraform {}\n")
    c.run("templates", "push", "empty", "-d", str(tmp_path), "-y")

    daemons = json.loads(c.run("provisioner", "list", "-o", "json").stdout)
    assert len(daemons) == 2 and all(set(d) == CODER_FIELDS for d in daemons), daemons
    assert {d["key_name"] for d in daemons} == {"built-in"}
    assert {d["status"] for d in daemons} == {"idle"}
    assert all(d["provisioners"] == ["terraform"] and d["current_job"] is None for d in daemons)
    previous = [d["previous_job"] for d in daemons if d["previous_job"]]
    assert [p["status"] for p in previous] == ["succeeded"]  # the import of 'empty'

    header, *rows = c.run("provisioners", "ls").stdout.splitlines()
    assert header.split() == ["CREATED", "AT", "LAST", "SEEN", "AT", "KEY", "NAME", "NAME",
                              "VERSION", "STATUS", "TAGS"]
    assert len(rows) == 2 and all("built-in" in r and "idle" in r and "ago" in r for r in rows)
    proc = c.run("provisioner", "list", "-O", "elsewhere", expect=1)
    assert 'organization "elsewhere" not found' in proc.stderr

    # A member of the organization sees them too (as in Coder), and the template import
    # (a job is guarded as what it builds: members read the organization's templates).
    member, _ = create_another_user(owner)
    seen = json.loads(cli.log_in_as(provisioning_coderd.url, member.token)
                      .run("provisioner", "list", "-o", "json").stdout)
    assert {d["id"] for d in seen} == {d["id"] for d in daemons}
    assert [d["previous_job"] for d in seen if d["previous_job"]] == previous
    # Without a session: 401, Coder's error shape.
    resp = requests.get(f"{provisioning_coderd.url}/api/v2/organizations/default/provisionerdaemons",
                        timeout=10)
    assert resp.status_code == 401 and resp.json()["message"]


SLOW = """terraform {
  required_providers {
    null = { source = "hashicorp/null" }
  }
}
resource "null_resource" "slow" {
  provisioner "local-exec" {
    command = "sleep 60"
  }
}
"""


def test_provisioner_jobs_list_and_cancel(cli, provisioning_coderd, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    (tmp_path / "main.tf").write_text(SLOW)
    c.run("templates", "push", "slow", "-d", str(tmp_path), "-y")
    jobs = json.loads(c.run("provisioner", "jobs", "list", "-o", "json").stdout)
    assert [(j["type"], j["status"]) for j in jobs] == [("template_version_import", "succeeded")]
    assert "No provisioner jobs found" in c.run("provisioner", "jobs", "ls", "-s", "pending").stdout
    proc = c.run("provisioner", "jobs", "list", "--status", "done", expect=2)
    assert "invalid status 'done'" in proc.stderr

    template = owner.template_by_name("default", "slow")
    ws = owner.create_workspace(types.CreateWorkspaceRequest(name="slowpoke", template_id=template.id))
    job_id = str(ws.latest_build.job.id)
    header, row = c.run("provisioner", "jobs", "list", "-s", "pending,running").stdout.splitlines()
    assert header.split() == ["CREATED", "AT", "ID", "TYPE", "STATUS", "QUEUE", "TAGS"]
    assert job_id in row and "workspace_build" in row
    # A member sees no job list (Coder's: for owners and template admins), nor cancels it.
    member, _ = create_another_user(owner)
    m = CoderCLI(tmp_path / "member", dict(c.env, CODER_CONFIG_DIR=str(tmp_path / "member")))
    m.log_in_as(provisioning_coderd.url, member.token)
    proc = m.run("provisioner", "jobs", "list", expect=1)
    assert "Resource not found or you do not have access to this resource" in proc.stderr
    proc = m.run("provisioner", "jobs", "cancel", job_id, expect=1)
    assert "Resource not found or you do not have access to this resource" in proc.stderr

    assert c.run("provisioner", "jobs", "cancel", job_id).stdout == "Job canceled\n"
    status = owner.workspace_build(ws.latest_build.id).job.status
    assert status in ("canceling", "canceled")
    proc = c.run("provisioner", "jobs", "cancel", "not-a-uuid", expect=1)
    assert "Invalid UUID" in proc.stderr
