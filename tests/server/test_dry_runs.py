"""Template version dry runs with the real provisioner daemons, terraform and provider:
what ``coder create`` and Coder's dashboard ask before a workspace is built.

Requests are sent as Coder's client marshals them and answers read as JSON, with
Coder's field names (codersdk.ProvisionerJob, WorkspaceResource, MatchedProvisioners).
"""
from __future__ import annotations

import time
import uuid

import pytest

from appliance.sdk import types

from tests.kit.coderd import create_another_user, create_first_user, raw
from tests.kit.provisioning import TEMPLATE, push_template

# codersdk.ProvisionerJob's JSON fields that this coderd sends.
JOB_FIELDS = {"id", "created_at", "started_at", "completed_at", "canceled_at", "error",
              "error_code", "status", "worker_id", "file_id", "tags", "queue_position",
              "queue_size", "organization_id", "input", "type"}


def finished(coderd, token, version_id, job_id, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = raw(coderd, "GET", f"/api/v2/templateversions/{version_id}/dry-run/{job_id}",
                  token).json()
        if job["completed_at"]:
            return job
        assert time.monotonic() < deadline, "the dry run did not finish"
        time.sleep(0.3)


@pytest.fixture
def setup(provisioning_coderd):
    owner, _ = create_first_user(provisioning_coderd)
    template = push_template(owner, {"main.tf": TEMPLATE})
    return provisioning_coderd, owner, template.active_version_id


def test_dry_run_plans_the_resources_with_the_values_given(setup):
    coderd, owner, version_id = setup
    member, member_user = create_another_user(owner)
    body = {"workspace_name": "preview",
            "rich_parameter_values": [{"name": "region", "value": "there"},
                                      {"name": "size", "value": "5"}]}
    resp = raw(coderd, "POST", f"/api/v2/templateversions/{version_id}/dry-run", member.token,
               json=body)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert set(job) >= JOB_FIELDS and job["type"] == "template_version_dry_run"
    assert job["status"] in ("pending", "running")
    job = finished(coderd, member.token, version_id, job["id"])
    assert job["status"] == "succeeded", job["error"]

    base = f"/api/v2/templateversions/{version_id}/dry-run/{job['id']}"
    resources = raw(coderd, "GET", base + "/resources", member.token).json()
    by_name = {f"{r['type']}.{r['name']}": r for r in resources}
    assert set(by_name) == {"null_resource.box", "null_resource.home"}
    box = by_name["null_resource.box"]
    assert box["workspace_transition"] == "start" and box["job_id"] == job["id"]
    assert [(m["key"], m["value"]) for m in box["metadata"]] == [("size", "5")]
    (agent,) = box["agents"]
    assert agent["name"] == "main" and [a["slug"] for a in agent["apps"]] == ["web"]
    # The plan ran as a workspace of the member's: the owner's name reached terraform.
    assert agent["environment_variables"]["GREETING"] == f"hi {member_user.username}"

    logs = raw(coderd, "GET", base + "/logs", member.token).json()
    assert "Planning infrastructure" in {log["stage"] for log in logs}
    followed = list(member.follow_job_logs(f"templateversions/{version_id}/dry-run/{job['id']}"))
    assert [log.id for log in followed] == [log["id"] for log in logs]
    matched = raw(coderd, "GET", base + "/matched-provisioners", member.token).json()
    assert matched["count"] >= 1 and matched["available"] >= 1 and matched["most_recently_seen"]
    resp = raw(coderd, "PATCH", base + "/cancel", member.token)
    assert (resp.status_code, resp.json()["message"]) == (400, "Job has already completed.")

    # The version's import is not a dry run of it; a job ID must be a UUID.
    import_id = owner.template_version(version_id).job.id
    resp = raw(coderd, "GET", f"/api/v2/templateversions/{version_id}/dry-run/{import_id}",
               member.token)
    assert resp.status_code == 403
    resp = raw(coderd, "GET", f"/api/v2/templateversions/{version_id}/dry-run/nope", member.token)
    assert (resp.status_code, resp.json()["message"]) == (400, 'Job ID "nope" must be a valid UUID.')
    missing = uuid.uuid4()
    resp = raw(coderd, "GET", f"/api/v2/templateversions/{version_id}/dry-run/{missing}",
               member.token)
    assert (resp.status_code, resp.json()["message"]) == (
        404, f'Provisioner job "{missing}" not found.')


def test_a_bad_value_fails_the_dry_run_and_cancel_works(setup):
    coderd, owner, version_id = setup
    job = owner.create_template_version_dry_run(version_id, types.CreateTemplateVersionDryRunRequest(
        workspace_name="x", rich_parameter_values=[
            types.WorkspaceBuildParameter(name="region", value="there"),
            types.WorkspaceBuildParameter(name="size", value="99")]))
    job = finished(coderd, owner.token, version_id, job.id)
    assert job["status"] == "failed" and "size" in job["error"]
    assert raw(coderd, "GET", f"/api/v2/templateversions/{version_id}/dry-run/{job['id']}"
               "/resources", owner.token).json() == []

    job = owner.create_template_version_dry_run(version_id, types.CreateTemplateVersionDryRunRequest(
        rich_parameter_values=[types.WorkspaceBuildParameter(name="region", value="here")]))
    owner.cancel_template_version_dry_run(version_id, job.id)
    assert finished(coderd, owner.token, version_id, job.id)["status"] in ("canceled", "canceling")


def test_dry_runs_are_their_initiators_own(setup):
    """Attack: another member, and a client without a session, against a dry run."""
    coderd, owner, version_id = setup
    job = owner.create_template_version_dry_run(version_id, types.CreateTemplateVersionDryRunRequest(
        rich_parameter_values=[types.WorkspaceBuildParameter(name="region", value="here")]))
    member, _ = create_another_user(owner)
    base = f"/api/v2/templateversions/{version_id}/dry-run/{job.id}"
    for method, path in (("GET", ""), ("GET", "/resources"), ("GET", "/logs"),
                         ("GET", "/matched-provisioners"), ("PATCH", "/cancel")):
        resp = raw(coderd, method, base + path, member.token)
        assert resp.status_code == 404, (path, resp.text)
        resp = raw(coderd, method, base + path)
        assert resp.status_code == 401, (path, resp.text)
    resp = raw(coderd, "POST", f"/api/v2/templateversions/{version_id}/dry-run", json={})
    assert resp.status_code == 401
    assert owner.template_version_dry_run(version_id, job.id).status != "canceled"
