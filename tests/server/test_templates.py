"""Templates and template versions through the SDK, with jobs completed by hand
(tests/kit/provisioning.py): what needs no provisioner daemon."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest
import websocket

from appliance.sdk import types
from appliance.sdk.client import APIError

from tests.kit.coderd import create_another_user
from tests.kit.provisioning import (UNBUILT_TAGS, complete_job, imported_version, make_template,
                           push_version, sql)


def _status(exc_info) -> int:
    return exc_info.value.status


def test_version_queues_an_import_job(shared_coderd, shared_owner):
    version = push_version(shared_owner, files={"main.tf": "terraform {}\n",
                                                "README.md": "# Hello\nA template."})
    assert re.fullmatch(types.TEMPLATE_VERSION_NAME_PATTERN, version.name)
    assert version.readme == "# Hello\nA template."
    assert version.template_id is None and version.created_by.username == "admin"
    job = version.job
    assert job.status == "pending" and job.type == "template_version_import"
    assert job.input.template_version_id == version.id
    assert job.tags == {"scope": "organization", "owner": "", **UNBUILT_TAGS}
    assert job.queue_position >= 1 and job.queue_size >= job.queue_position
    (row,) = sql(shared_coderd.dsn, "SELECT input, initiator_id, file_id FROM provisioner_jobs "
                 "WHERE id = %s", (str(job.id),))
    assert row[0] == {"template_version_id": str(version.id)}
    assert str(row[2]) == str(job.file_id)
    assert shared_owner.template_version(version.id).job.status == "pending"
    with pytest.raises(APIError) as err:
        shared_owner.template_version_parameters(version.id)
    assert _status(err) == 400 and "hasn't completed" in err.value.message


def test_version_refusals(shared_owner):
    with pytest.raises(APIError) as err:
        shared_owner.create_template_version("default", types.CreateTemplateVersionRequest(
            file_id=uuid.uuid4()))
    assert _status(err) == 404 and "File not found" in err.value.message
    with pytest.raises(APIError) as err:
        shared_owner.create_template_version("default", types.CreateTemplateVersionRequest())
    assert _status(err) == 400
    with pytest.raises(APIError) as err:
        push_version(shared_owner, name="bad name!")
    assert _status(err) == 400 and err.value.validations[0].field == "name"


def test_cancel_pending_import(shared_owner):
    version = push_version(shared_owner)
    shared_owner.cancel_template_version(version.id)
    job = shared_owner.template_version(version.id).job
    assert job.status == "canceled" and job.canceled_at and job.completed_at
    with pytest.raises(APIError) as err:
        shared_owner.cancel_template_version(version.id)
    assert _status(err) == 400 and "already completed" in err.value.message


def _append_log(dsn, job_id, output, level="info"):
    (row,) = sql(dsn, """INSERT INTO provisioner_job_logs (job_id, source, level, stage, output)
                         VALUES (%s, 'provisioner', %s, 'Planning', %s) RETURNING id""",
                 (str(job_id), level, output))
    sql(dsn, "SELECT pg_notify(%s, %s)", (f"provisioner_job_logs:{job_id}", str(row[0])))


def test_logs_listed_and_followed(shared_coderd, shared_owner):
    version = push_version(shared_owner)
    dsn = shared_coderd.dsn
    _append_log(dsn, version.job.id, "first")
    _append_log(dsn, version.job.id, "second", "warn")
    logs = shared_owner.template_version_logs(version.id)
    assert [(log.output, log.log_level, log.stage) for log in logs] == [
        ("first", "info", "Planning"), ("second", "warn", "Planning")]
    assert [log.output for log in shared_owner.template_version_logs(version.id, after=logs[0].id)] \
        == ["second"]
    got = []

    def follow():
        got.extend(log.output for log in
                   shared_owner.follow_job_logs(f"templateversions/{version.id}", after=logs[0].id))

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)
    _append_log(dsn, version.job.id, "live")
    time.sleep(0.3)
    complete_job(dsn, version.job.id)
    follower.join(10)
    assert not follower.is_alive(), "the websocket did not close when the job completed"
    assert got == ["second", "live"]
    # follow=true without a websocket is a clear 400; a stranger's websocket gets nothing.
    with pytest.raises(APIError) as err:
        shared_owner._request("GET", f"/api/v2/templateversions/{version.id}/logs",
                              params={"follow": "true"})
    assert _status(err) == 400 and "websocket" in err.value.message
    ws = websocket.create_connection(shared_coderd.url.replace("http", "ws") +
                                     f"/api/v2/templateversions/{version.id}/logs?follow=true",
                                     timeout=10)
    try:
        received = ws.recv()
    except websocket.WebSocketException as exc:
        received = repr(exc)
    ws.close()
    assert "second" not in received and "live" not in received, received


def test_template_lifecycle(shared_coderd, shared_owner):
    dsn = shared_coderd.dsn
    pending = push_version(shared_owner)
    req = types.CreateTemplateRequest(name="lifecycle", template_version_id=pending.id,
                                      default_ttl_ms=3_600_000, description="Life")
    with pytest.raises(APIError) as err:
        shared_owner.create_template("default", req)
    assert _status(err) == 400 and "has not succeeded (it is pending)" in err.value.message
    complete_job(dsn, pending.job.id, error="terraform: boom")
    with pytest.raises(APIError) as err:
        shared_owner.create_template("default", req)
    assert "it is failed" in err.value.message

    version = imported_version(shared_owner, dsn, params=[{"name": "region", "default_value": "eu"}])
    req.template_version_id = version.id
    tmpl = shared_owner.create_template("default", req)
    assert tmpl.active_version_id == version.id and tmpl.default_ttl_ms == 3_600_000
    assert tmpl.created_by_name == "admin" and tmpl.organization_name == "coder"
    assert shared_owner.template_version(version.id).template_id == tmpl.id
    with pytest.raises(APIError) as err:
        shared_owner.create_template("default", req)
    assert _status(err) == 400 and "already belongs" in err.value.message
    other = imported_version(shared_owner, dsn)
    with pytest.raises(APIError) as err:
        shared_owner.create_template("default", types.CreateTemplateRequest(
            name="Lifecycle", template_version_id=other.id))
    assert _status(err) == 409

    assert shared_owner.template_by_name("default", "lifecycle").id == tmpl.id
    assert tmpl.id in [t.id for t in shared_owner.templates()]
    assert tmpl.id in [t.id for t in shared_owner.templates("default")]
    params = shared_owner.template_version_parameters(version.id)
    assert [(p.name, p.default_value) for p in params] == [("region", "eu")]
    assert shared_owner.template_version_resources(version.id) == []

    updated = shared_owner.update_template_meta(tmpl.id, types.UpdateTemplateMeta(
        display_name="Life Cycle", default_ttl_ms=0, deprecation_message="use another"))
    assert (updated.display_name, updated.default_ttl_ms, updated.deprecated) == ("Life Cycle", 0, True)
    assert updated.description == "Life"

    # Promotion: only a succeeded version of this very template.
    v2 = push_version(shared_owner, template_id=tmpl.id, name="v2")
    with pytest.raises(APIError) as err:
        shared_owner.update_active_template_version(tmpl.id, v2.id)
    assert _status(err) == 400 and "pending" in err.value.message
    with pytest.raises(APIError) as err:
        shared_owner.update_active_template_version(tmpl.id, other.id)
    assert _status(err) == 400
    with pytest.raises(APIError) as err:
        push_version(shared_owner, template_id=tmpl.id, name="V2")
    assert _status(err) == 409
    complete_job(dsn, v2.job.id)
    shared_owner.update_active_template_version(tmpl.id, v2.id)
    assert shared_owner.template(tmpl.id).active_version_id == v2.id
    assert [v.name for v in shared_owner.template_versions(tmpl.id)][-1] == "v2"

    shared_owner.delete_template(tmpl.id)
    with pytest.raises(APIError) as err:
        shared_owner.template(tmpl.id)
    assert _status(err) == 404


def test_members_read_but_do_not_manage_templates(shared_coderd, shared_owner):
    tmpl = make_template(shared_owner, shared_coderd.dsn)
    member, _ = create_another_user(shared_owner)
    assert member.template(tmpl.id).name == tmpl.name
    assert tmpl.id in [t.id for t in member.templates()]
    with pytest.raises(APIError) as err:
        member.update_template_meta(tmpl.id, types.UpdateTemplateMeta(description="mine"))
    assert _status(err) == 403
    with pytest.raises(APIError) as err:
        member.create_template_version("default", types.CreateTemplateVersionRequest(
            file_id=tmpl.active_version_id))
    assert _status(err) in (403, 404)
    admin, _ = create_another_user(shared_owner, roles=["template-admin"])
    made = make_template(admin, shared_coderd.dsn)
    assert made.created_by_name != "admin"
    audit = json.dumps([a.resource_type for a in shared_owner.audit_logs(q="", limit=200).audit_logs])
    assert "template" in audit
