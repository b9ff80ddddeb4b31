"""Templates and template versions, with Coder's paths and JSON.

A version is made from an uploaded archive and queues an import job; a
template is made from a version whose import succeeded, and later versions
are promoted to active the same way.
"""
from __future__ import annotations

from typing import Any

import psycopg2.errors
from flask import g, request

from appliance.sdk import types

from .. import audit
from ..httpapi import APIError, found, not_found, parse_uuid, read, write
from ..httpmw import store
from ..names import insert_named
from ..provisioner.imports import queue_import
from ..provisioner.workspacetags import TagError
from . import jobs
from .convert import from_row
from .organizations import organization_param
from .router import QueryParam, Router

router = Router("templates", "Templates")
route = router.route
NS_PER_MS = 1_000_000
TEMPLATE_AUDIT_FIELDS = ("name", "display_name", "description", "icon", "default_ttl",
                         "activity_bump", "active_version_id", "deprecated",
                         "allow_user_cancel_workspace_jobs", "require_active_version")


def template_param(value: str) -> dict:
    return found(store().get_template_by_id(parse_uuid(value, "template")), "Template")


def version_param(value: str) -> dict:
    row = store().get_template_version_by_id(parse_uuid(value, "templateversion"))
    return found(row, "Template version")


def require_imported(version: dict, field: str) -> None:
    """Templates are made from, and promoted to, only versions whose import succeeded."""
    status = store().get_provisioner_job_by_id(version["job_id"])["job_status"]
    if status != "succeeded":
        raise APIError(400, f"The template version's import has not succeeded (it is {status}).",
                       "Use a version once its import job has succeeded.",
                       [types.ValidationError(field, f"import is {status}")])


def template_response(row: dict) -> types.Template:
    return from_row(
        types.Template, row, deprecated=bool(row["deprecated"]),
        deprecation_message=row["deprecated"], default_ttl_ms=row["default_ttl"] // NS_PER_MS,
        activity_bump_ms=row["activity_bump"] // NS_PER_MS, created_by_id=row["created_by"],
        allow_user_autostart=True, allow_user_autostop=True)


def versions(rows: list[dict]) -> list[types.TemplateVersion]:
    by_id = jobs.jobs_by_id([r["job_id"] for r in rows])
    return [from_row(
        types.TemplateVersion, r, job=by_id[r["job_id"]],
        created_by=types.MinimalUser(id=r["created_by"], username=r["created_by_name"],
                                     avatar_url=r["created_by_avatar_url"])) for r in rows]


def parameter(row: dict) -> types.TemplateVersionParameter:
    return from_row(
        types.TemplateVersionParameter, row, description_plaintext=row["description"],
        options=[types.TemplateVersionParameterOption(
            name=o.get("name", ""), description=o.get("description", ""),
            value=o.get("value", ""), icon=o.get("icon", "")) for o in row["options"] or []])


# --- template versions ----------------------------------------------------------------

@route("POST", "/organizations/<organization>/templateversions",
       summary="Create a template version from an uploaded file (queues its import)",
       request=types.CreateTemplateVersionRequest, response=types.TemplateVersion, status=201)
def create_template_version(organization: str):
    org = organization_param(organization)
    return write(201, versions([create_version(read(types.CreateTemplateVersionRequest), org)])[0])


def create_version(req: types.CreateTemplateVersionRequest, org: dict) -> dict:
    """Make a template version of an uploaded file and queue its import (the API's and the
    dashboard's upload); the version's row. APIError naming the field when refused."""
    s = store()
    if req.file_id is None:
        raise APIError(400, "A file_id is required: example templates are not served here.",
                       validations=[types.ValidationError("file_id", "is required")])
    if req.template_id is not None:
        tmpl = s.get_template_by_id(req.template_id)
        if tmpl is None or tmpl["organization_id"] != org["id"]:
            raise APIError(404, "Template not found in this organization.",
                           validations=[types.ValidationError("template_id", "not found")])
    file = s.get_file_by_id(req.file_id)
    if file is None:
        raise APIError(404, "File not found.",
                       validations=[types.ValidationError("file_id", "not found")])
    try:
        # As Coder: the tags the template asks for, those of the request winning.
        row = insert_named(req.name, lambda name: queue_import(
            s, organization_id=org["id"], file_id=file["id"], archive=file["data"],
            created_by=g.subject.id, name=name, message=req.message, template_id=req.template_id,
            tags=req.tags, user_variable_values=req.user_variable_values or []))
    except TagError as exc:
        raise APIError(400, "Failed to parse workspace tags.", detail=str(exc)) from None
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"A template version named {req.name!r} already exists for this template.",
                       validations=[types.ValidationError("name", "is already taken")]) from None
    audit.record("create", "template_version", row["id"], row["name"], status=201,
                 organization_id=org["id"])
    return row


@route("GET", "/templateversions/<templateversion>", summary="Get a template version with its job",
       response=types.TemplateVersion)
def get_template_version(templateversion: str):
    return write(200, versions([version_param(templateversion)])[0])


@route("PATCH", "/templateversions/<templateversion>",
       summary="Rename a template version or change its message",
       request=types.PatchTemplateVersionRequest, response=types.TemplateVersion)
def update_template_version(templateversion: str):
    version = version_param(templateversion)
    req = read(types.PatchTemplateVersionRequest)
    name = req.name or version["name"]
    message = version["message"] if req.message is None else req.message
    s = store()
    name_taken = APIError(400, "template version name must be unique for a template",
                          validations=[types.ValidationError("name", "Name is already used")])
    if version["template_id"] is not None and name.lower() != version["name"].lower() \
            and s.get_template_version_by_template_and_name(version["template_id"], name):
        raise name_taken
    try:
        s.update_template_version(version["id"], name, message)
    except psycopg2.errors.UniqueViolation:  # taken by a version made meanwhile
        raise name_taken from None
    audit.record("write", "template_version", version["id"], name,
                 organization_id=version["organization_id"],
                 changes=audit.diff(version, {"name": name, "message": message},
                                    ("name", "message")))
    return write(200, versions([s.get_template_version_by_id(version["id"])])[0])


def _removed(templateversion: str):
    """Coder's answer to the parameter schema of its first versions, kept so that old clients
    are not stopped by an error: an empty list, for any version the caller may read."""
    version_param(templateversion)
    return write(200, [])


@route("GET", "/templateversions/<templateversion>/schema",
       summary="Removed in Coder: always an empty list", response=list[Any])
def template_version_schema(templateversion: str):
    return _removed(templateversion)


@route("GET", "/templateversions/<templateversion>/parameters",
       summary="Removed in Coder: always an empty list (see rich-parameters)", response=list[Any])
def template_version_legacy_parameters(templateversion: str):
    return _removed(templateversion)


def _completed_job(version: dict) -> dict:
    row = store().get_provisioner_job_by_id(version["job_id"])
    jobs.require_completed(row)
    return row


@route("GET", "/templateversions/<templateversion>/rich-parameters",
       summary="The parameters a template version declares (after its import)",
       response=list[types.TemplateVersionParameter])
def template_version_parameters(templateversion: str):
    version = version_param(templateversion)
    _completed_job(version)
    return write(200, [parameter(p) for p in store().get_template_version_parameters(version["id"])])


REDACTED = "*redacted*"  # what Coder shows of a sensitive variable's values


def variable(row: dict) -> types.TemplateVersionVariable:
    hidden = row["sensitive"]
    return from_row(types.TemplateVersionVariable, row, value=REDACTED if hidden else row["value"],
                    default_value=REDACTED if hidden else row["default_value"])


@route("GET", "/templateversions/<templateversion>/variables",
       summary="The terraform variables a template version declares, with their values "
               "(a sensitive one's redacted)",
       response=list[types.TemplateVersionVariable])
def template_version_variables(templateversion: str):
    version = version_param(templateversion)
    _completed_job(version)
    return write(200, [variable(v) for v in store().get_template_version_variables(version["id"])])


def preset(row: dict) -> types.Preset:
    # Coder's Preset has Go's field names (no json tags): no column is named like one.
    return from_row(
        types.Preset, row, ID=row["id"], Name=row["name"], Default=row["is_default"],
        Parameters=[types.PresetParameter(p["name"], p["value"]) for p in row["parameters"]],
        DesiredPrebuildInstances=row["desired_instances"], Description=row["description"],
        Icon=row["icon"])


@route("GET", "/templateversions/<templateversion>/presets",
       summary="The presets a template version's import read (coder_workspace_preset)",
       response=list[types.Preset])
def template_version_presets(templateversion: str):
    version = version_param(templateversion)
    return write(200, [preset(p) for p in store().get_template_version_presets(version["id"])])


@route("GET", "/templateversions/<templateversion>/resources",
       summary="The resources a template version's import planned",
       response=list[types.WorkspaceResource])
def template_version_resources(templateversion: str):
    version = version_param(templateversion)
    _completed_job(version)
    return write(200, jobs.resources([version["job_id"]])[version["job_id"]])


jobs.log_routes(route, "/templateversions/<templateversion>/logs", "a template version's import",
               lambda templateversion: version_param(templateversion)["job_id"])


@route("PATCH", "/templateversions/<templateversion>/cancel",
       summary="Cancel a template version's import", response=types.Response)
def cancel_template_version(templateversion: str):
    version = version_param(templateversion)
    resp = jobs.cancel(version["job_id"])
    audit.record("write", "template_version", version["id"], version["name"],
                 additional={"canceled": True})
    return resp


# --- templates ---------------------------------------------------------------------------

@route("POST", "/organizations/<organization>/templates",
       summary="Create a template from a template version whose import succeeded",
       request=types.CreateTemplateRequest, response=types.Template, status=201)
def create_template(organization: str):
    org = organization_param(organization)
    req = read(types.CreateTemplateRequest)
    s = store()
    version = s.get_template_version_by_id(req.template_version_id)
    if version is None or version["organization_id"] != org["id"]:
        raise APIError(404, "Template version not found in this organization.",
                       validations=[types.ValidationError("template_version_id", "not found")])
    if version["template_id"] is not None:
        raise APIError(400, "This template version already belongs to a template.",
                       validations=[types.ValidationError("template_version_id", "already used")])
    require_imported(version, "template_version_id")
    try:
        with s.transaction():
            row = s.insert_template(
                organization_id=org["id"], name=req.name, display_name=req.display_name,
                description=req.description, icon=req.icon, active_version_id=version["id"],
                created_by=g.subject.id, default_ttl=(req.default_ttl_ms or 0) * NS_PER_MS,
                activity_bump=(3_600_000 if req.activity_bump_ms is None
                               else req.activity_bump_ms) * NS_PER_MS,
                allow_user_cancel_workspace_jobs=req.allow_user_cancel_workspace_jobs
                is not False, require_active_version=req.require_active_version)
            s.update_template_version_template_id(version["id"], row["id"])
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"Template with name {req.name!r} already exists.",
                       validations=[types.ValidationError("name", "is already taken")]) from None
    audit.record("create", "template", row["id"], row["name"], status=201,
                 organization_id=org["id"], changes=audit.diff(None, row, TEMPLATE_AUDIT_FIELDS))
    return write(201, template_response(row))


@route("GET", "/organizations/<organization>/templates",
       summary="List an organization's templates", response=list[types.Template])
def list_organization_templates(organization: str):
    org = organization_param(organization)
    return write(200, [template_response(r) for r in store().get_templates(org["id"])])


@route("GET", "/templates", summary="List the templates the caller can see",
       response=list[types.Template])
def list_templates():
    return write(200, [template_response(r) for r in store().get_templates()])


@route("GET", "/organizations/<organization>/templates/<templatename>",
       summary="Get a template by name", response=types.Template)
def get_template_by_name(organization: str, templatename: str):
    org = organization_param(organization)
    row = store().get_template_by_organization_and_name(org["id"], templatename)
    if row is None:
        raise not_found("Template")
    return write(200, template_response(row))


@route("GET", "/templates/<template>", summary="Get a template", response=types.Template)
def get_template(template: str):
    return write(200, template_response(template_param(template)))


@route("PATCH", "/templates/<template>", summary="Update a template's settings",
       request=types.UpdateTemplateMeta, response=types.Template)
def update_template(template: str):
    row = template_param(template)
    req = read(types.UpdateTemplateMeta)
    changes = {k: v for k, v in {
        "name": req.name or None, "display_name": req.display_name,
        "description": req.description, "icon": req.icon,
        "default_ttl": None if req.default_ttl_ms is None else req.default_ttl_ms * NS_PER_MS,
        "activity_bump": None if req.activity_bump_ms is None else req.activity_bump_ms * NS_PER_MS,
        "allow_user_cancel_workspace_jobs": req.allow_user_cancel_workspace_jobs,
        "require_active_version": req.require_active_version,
        "deprecated": req.deprecation_message}.items() if v is not None}
    try:
        updated = store().update_template_meta(row["id"], changes)
    except psycopg2.errors.UniqueViolation:
        raise APIError(409, f"Template with name {req.name!r} already exists.",
                       validations=[types.ValidationError("name", "is already taken")]) from None
    audit.record("write", "template", row["id"], updated["name"],
                 organization_id=row["organization_id"],
                 changes=audit.diff(row, updated, TEMPLATE_AUDIT_FIELDS))
    return write(200, template_response(updated))


@route("DELETE", "/templates/<template>", summary="Delete a template without workspaces",
       response=types.Response)
def delete_template(template: str):
    row = template_param(template)
    s = store()
    if s.get_workspace_count_by_template_id(row["id"]):
        raise APIError(400, "All workspaces must be deleted before a template can be removed.")
    s.delete_template(row["id"])
    audit.record("delete", "template", row["id"], row["name"],
                 organization_id=row["organization_id"])
    return write(200, types.Response(message="Template has been deleted!"))


@route("GET", "/templates/<template>/versions", summary="List a template's versions",
       query=(QueryParam("include_archived", "Also list archived versions", "boolean"),),
       response=list[types.TemplateVersion])
def list_template_versions(template: str):
    row = template_param(template)
    include_archived = request.args.get("include_archived", "").lower() in ("true", "1")
    return write(200, versions(store().get_template_versions_by_template_id(
        row["id"], include_archived=include_archived)))


def version_by_name(template: dict, name: str) -> dict:
    row = store().get_template_version_by_template_and_name(template["id"], name)
    if row is None:
        raise APIError(404, f'No template version found by name "{name}".')
    return row


def _template_by_name(organization: str, templatename: str) -> dict:
    org = organization_param(organization)
    return found(store().get_template_by_organization_and_name(org["id"], templatename),
                 "Template")


@route("GET", "/templates/<template>/versions/<templateversionname>",
       summary="Get a template's version by name", response=types.TemplateVersion)
def template_version_by_name(template: str, templateversionname: str):
    return write(200, versions([version_by_name(template_param(template),
                                                 templateversionname)])[0])


@route("GET", "/organizations/<organization>/templates/<templatename>/versions/"
              "<templateversionname>",
       summary="Get a template's version by organization, template and version name",
       response=types.TemplateVersion)
def organization_template_version_by_name(organization: str, templatename: str,
                                          templateversionname: str):
    template = _template_by_name(organization, templatename)
    return write(200, versions([version_by_name(template, templateversionname)])[0])


@route("GET", "/organizations/<organization>/templates/<templatename>/versions/"
              "<templateversionname>/previous",
       summary="The version of the template made before the one named",
       response=types.TemplateVersion)
def previous_template_version(organization: str, templatename: str, templateversionname: str):
    template = _template_by_name(organization, templatename)
    version_by_name(template, templateversionname)
    row = store().get_previous_template_version(template["id"], templateversionname)
    if row is None:
        raise APIError(404, f'No previous template version found for "{templateversionname}".')
    return write(200, versions([row])[0])


@route("POST", "/templates/<template>/versions/archive",
       summary="Archive a template's unused versions (failed ones; all with all=true)",
       request=types.ArchiveTemplateVersionsRequest,
       response=types.ArchiveTemplateVersionsResponse)
def archive_unused_versions(template: str):
    row = template_param(template)
    req = read(types.ArchiveTemplateVersionsRequest)
    archived = store().archive_unused_template_versions(row["id"], failed_only=not req.all)
    audit.record("write", "template", row["id"], row["name"],
                 organization_id=row["organization_id"],
                 additional={"archived_versions": [str(a) for a in archived]})
    return write(200, types.ArchiveTemplateVersionsResponse(template_id=row["id"],
                                                            archived_ids=archived))


def _set_archived(templateversion: str, archive: bool):
    """Coder's setArchiveTemplateVersion: a version in use (active, or a workspace's latest
    build's) cannot be archived (Coder answers that with a 500; a 400 here); the answer is
    a JSON string, as Coder's."""
    version = version_param(templateversion)
    verb = "archived" if archive else "unarchived"
    if version["archived"] == archive:
        raise APIError(400, f"Template version already {verb}")
    if version["template_id"] is None:
        raise APIError(400, "Cannot archive template versions not associate with a template.")
    s = store()
    if archive:
        if not s.archive_unused_template_versions(version["template_id"], version["id"]):
            raise APIError(400, "Unable to archive specified version, the version is likely "
                                "in use by a workspace or currently set to the active version")
    else:
        s.unarchive_template_version(version["id"])
    audit.record("write", "template_version", version["id"], version["name"],
                 organization_id=version["organization_id"], additional={"archived": archive})
    return write(200, f'template version "{version["id"]}" {verb}')


@route("POST", "/templateversions/<templateversion>/archive",
       summary="Archive a template version nothing uses", response=str)
def archive_template_version(templateversion: str):
    return _set_archived(templateversion, True)


@route("POST", "/templateversions/<templateversion>/unarchive",
       summary="Unarchive a template version", response=str)
def unarchive_template_version(templateversion: str):
    return _set_archived(templateversion, False)


@route("PATCH", "/templates/<template>/versions",
       summary="Promote a succeeded version of this template to active",
       request=types.UpdateActiveTemplateVersion, response=types.Response)
def update_active_version(template: str):
    promote(template_param(template), read(types.UpdateActiveTemplateVersion).id)
    return write(200, types.Response(message="Updated the active template version!"))


def promote(row: dict, version_id) -> None:
    """Make a succeeded, unarchived version of the template ``row`` its active one (the API's
    and the dashboard's promote); APIError when refused."""
    s = store()
    version = s.get_template_version_by_id(version_id)
    if version is None or version["template_id"] != row["id"]:
        raise APIError(400, "The template version does not belong to this template.",
                       validations=[types.ValidationError("id", "not a version of this template")])
    require_imported(version, "id")
    if version["archived"]:
        raise APIError(400, "The provided template version is archived.")
    s.update_template_active_version(row["id"], version["id"])
    audit.record("write", "template", row["id"], row["name"],
                 organization_id=row["organization_id"],
                 changes=audit.diff(row, {"active_version_id": version["id"]},
                                    ("active_version_id",)))
