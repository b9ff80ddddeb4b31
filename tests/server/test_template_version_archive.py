"""Template versions by name, the previous one, archive and unarchive, with Coder's
paths, statuses and words (coderd/templateversions.go); jobs completed by hand."""
from __future__ import annotations

import uuid

from appliance.sdk import types

from tests.kit.coderd import create_another_user, raw
from tests.kit.provisioning import complete_job, imported_version, make_template, push_version


def test_versions_by_name_previous_and_archive(shared_coderd, shared_owner):
    owner, dsn = shared_owner, shared_coderd.dsn
    template = make_template(owner, dsn)
    first = owner.template_version(template.active_version_id)
    second = imported_version(owner, dsn, template_id=template.id)
    failed = push_version(owner, template_id=template.id)
    complete_job(dsn, failed.job.id, error="terraform said no")

    def call(method, path, token=owner.token, **kw):
        resp = raw(shared_coderd, method, "/api/v2" + path, token, **kw)
        return resp.status_code, resp.json()

    assert call("GET", f"/templates/{template.id}/versions/{second.name}")[1]["id"] == str(second.id)
    org_path = f"/organizations/default/templates/{template.name}/versions"
    assert call("GET", f"{org_path}/{second.name}")[1]["id"] == str(second.id)
    assert call("GET", f"{org_path}/{second.name}/previous")[1]["id"] == str(first.id)
    status, body = call("GET", f"{org_path}/{first.name}/previous")
    assert (status, body["message"]) == (
        404, f'No previous template version found for "{first.name}".')
    status, body = call("GET", f"/templates/{template.id}/versions/nope")
    assert (status, body["message"]) == (404, 'No template version found by name "nope".')

    status, body = call("POST", f"/templateversions/{first.id}/archive")
    assert status == 400 and "currently set to the active version" in body["message"]
    assert call("POST", f"/templateversions/{second.id}/archive") == (
        200, f'template version "{second.id}" archived')
    status, body = call("POST", f"/templateversions/{second.id}/archive")
    assert (status, body["message"]) == (400, "Template version already archived")
    listed = call("GET", f"/templates/{template.id}/versions")[1]
    assert str(second.id) not in [v["id"] for v in listed]
    listed = call("GET", f"/templates/{template.id}/versions?include_archived=true")[1]
    assert {v["id"]: v["archived"] for v in listed}[str(second.id)] is True
    status, body = call("PATCH", f"/templates/{template.id}/versions", json={"id": str(second.id)})
    assert (status, body["message"]) == (400, "The provided template version is archived.")
    assert call("POST", f"/templateversions/{second.id}/unarchive") == (
        200, f'template version "{second.id}" unarchived')

    # Unused ones: the failed import only, unless all.
    assert call("POST", f"/templates/{template.id}/versions/archive", json={}) == (
        200, {"template_id": str(template.id), "archived_ids": [str(failed.id)]})
    assert call("POST", f"/templates/{template.id}/versions/archive", json={"all": True}) == (
        200, {"template_id": str(template.id), "archived_ids": [str(second.id)]})

    # A workspace cannot start on an archived version; it still can be stopped.
    ws = owner.create_workspace(types.CreateWorkspaceRequest(name="w" + uuid.uuid4().hex[:8],
                                                             template_id=template.id))
    complete_job(dsn, ws.latest_build.job.id)
    status, body = call("POST", f"/workspaces/{ws.id}/builds",
                        json={"transition": "start", "template_version_id": str(second.id)})
    assert (status, body["message"]) == (400, "cannot use archived template versions")


def test_archive_attacks(shared_coderd, shared_owner):
    """A member reads versions by name but archives nothing; no session, nothing."""
    template = make_template(shared_owner, shared_coderd.dsn)
    version = imported_version(shared_owner, shared_coderd.dsn, template_id=template.id)
    member, _ = create_another_user(shared_owner)
    assert raw(shared_coderd, "GET", f"/api/v2/templates/{template.id}/versions/{version.name}",
               member.token).status_code == 200
    for path in (f"/templateversions/{version.id}/archive",
                 f"/templates/{template.id}/versions/archive"):
        assert raw(shared_coderd, "POST", "/api/v2" + path, member.token, json={}).status_code == 403
        assert raw(shared_coderd, "POST", "/api/v2" + path, json={}).status_code == 401
    assert raw(shared_coderd, "GET", f"/api/v2/templates/{template.id}/versions/{version.name}"
               ).status_code == 401
    assert not shared_owner.template_version(version.id).archived
