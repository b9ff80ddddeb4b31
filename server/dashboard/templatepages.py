"""The templates pages, at Coder's URLs: ``/templates`` (the list), ``/templates/{name}``
(summary, README, parameters and versions; for the template's admins, an upload of a new
version) and ``/templates/{name}/versions/{version}`` (its README, files and import,
followed live, and a promote button once it succeeded).

Everything is read and written through the API's own functions (``server.api.templates``,
``server.api.files``): a page lists what ``GET /api/v2/templates`` answers its viewer,
an upload is refused to whoever ``POST /files`` refuses (before its body is read), and an
uploaded folder is packed by ``appliance.archives``' template packer, then checked as any
upload. A README is rendered and sanitised by ``readme``.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, redirect, request, url_for

from appliance import archives
from appliance.sdk import types

from .. import files
from ..api import jobs
from ..api.files import authorize_upload, upload
from ..api.organizations import organization_param
from ..api.templates import (create_version, parameter, promote, template_response, variable,
                             version_by_name, versions)
from ..authz.querier import template_obj
from ..authz.rbac import Action, NotAuthorized
from ..httpapi import APIError, decode, found
from ..httpmw import store
from . import readme
from .forms import read_form, read_upload
from .pages import blueprint, page, same_origin_path, signed_in

# An upload's body: the archive (or a folder's files) and the form's fields beside it.
UPLOAD_BODY_LIMIT = files.MAX_FILE_SIZE + 1024 * 1024
UPLOAD_MAX_PARTS = files.MAX_MEMBERS + 100
LIVE_SECONDS = 2  # how often a version's page asks again while its import runs
VARIABLE_FIELD = "var."


def template_by_name(name: str) -> dict:
    """The default organization's template ``name`` as the viewer may see it (else 404)."""
    org = organization_param("default")
    return found(store().get_template_by_organization_and_name(org["id"], name), "Template")


def icon_url(icon: str) -> str:
    """A template's icon as a page may load it: a path on coderd only (a remote icon is
    not shown: the browser reaches no other host)."""
    return same_origin_path(icon, default="")


def may_manage(row: dict) -> bool:
    """Whether the viewer may upload and promote versions of the template ``row``."""
    s = store()
    try:
        authorize_upload()
    except NotAuthorized:
        return False
    return s.can(Action.UPDATE, template_obj(row))


@blueprint.get("/templates")
@signed_in
def templates():
    s = store()
    rows = s.get_templates()
    active = {r["active_version_id"]: s.get_template_version_by_id(r["active_version_id"])["name"]
              for r in rows}
    listed = [dict(template=template_response(r), icon=icon_url(r["icon"]),
                   active_version=active[r["active_version_id"]],
                   workspaces=s.get_workspace_count_by_template_id(r["id"]),
                   build_seconds=s.get_template_build_time(r["id"])) for r in rows]
    return page("templates.html", rows=listed, now=dt.datetime.now(dt.timezone.utc))


@blueprint.get("/templates/<name>")
@signed_in
def template(name: str):
    return _template_page(template_by_name(name))


def _template_page(row: dict, status: int = 200, **form):
    s = store()
    active_id = row["active_version_id"]
    active = versions([s.get_template_version_by_id(active_id)])[0]
    manage = may_manage(row)
    return page("template.html", status, template=template_response(row), icon=icon_url(row["icon"]),
                active_version=active, readme=readme.render(active.readme),
                parameters=[parameter(p) for p in s.get_template_version_parameters(active_id)],
                versions=versions(s.get_template_versions_by_template_id(row["id"])),
                workspaces=s.get_workspace_count_by_template_id(row["id"]),
                build_seconds=s.get_template_build_time(row["id"]), manage=manage,
                variables=[variable(v) for v in s.get_template_version_variables(active_id)]
                if manage else [],
                form=form.get("form", {}), errors=form.get("errors", {}),
                error=form.get("error", ""), now=dt.datetime.now(dt.timezone.utc))


@blueprint.post("/templates/<name>/versions")
@signed_in
def upload_version(name: str):
    row = template_by_name(name)
    authorize_upload()  # before a byte of the body is read, as POST /files
    fields, uploads = read_upload(UPLOAD_BODY_LIMIT, UPLOAD_MAX_PARTS)
    try:
        version = create_version(_version_request(row, fields, uploads), organization_param("default"))
    except APIError as exc:
        errors = {v.field: v.detail for v in exc.validations or ()}
        return _template_page(row, exc.status, form=fields, errors=errors,
                              error=exc.message + (f" {exc.detail}" if exc.detail else ""))
    return redirect(url_for("dashboard.template_version", name=row["name"],
                            version=version["name"]), code=303)


def _version_request(row: dict, fields: dict[str, str], uploads: list
                     ) -> types.CreateTemplateVersionRequest:
    """The API's request for the upload: the archive stored (a folder packed first)."""
    archive = [f for f in uploads if f.name == "archive"]
    folder = [f for f in uploads if f.name == "folder"]
    if bool(archive) == bool(folder):
        raise APIError(400, "Choose either a .tar or .zip file, or a folder.",
                       validations=[types.ValidationError("file_id", "choose one")])
    if archive:
        mimetype = files.ZIP_MIMETYPE if archive[0].filename.lower().endswith(".zip") \
            else files.TAR_MIMETYPE
        data = archive[0].read()
    else:
        try:
            data = archives.uploaded_template_tar([(f.filename, f.read()) for f in folder])
        except (archives.TemplateFolderError, archives.ArchiveError) as exc:
            hint = getattr(exc, "hint", "")
            raise APIError(400, "The folder was refused.", f"{exc}. {hint}".strip(),
                           [types.ValidationError("file_id", str(exc))]) from None
        mimetype = files.TAR_MIMETYPE
    try:
        stored = upload(data, mimetype)
    except APIError as exc:  # the archive's problem, said at the file field
        raise APIError(exc.status, exc.message, exc.detail,
                       [types.ValidationError("file_id", exc.detail or exc.message)]) from None
    given = [{"name": k[len(VARIABLE_FIELD):], "value": v} for k, v in fields.items()
             if k.startswith(VARIABLE_FIELD) and v != ""]
    return decode(types.CreateTemplateVersionRequest, {
        "file_id": str(stored["id"]), "template_id": str(row["id"]),
        "name": fields.get("name", ""), "message": fields.get("message", ""),
        "user_variable_values": given})


@blueprint.get("/templates/<name>/versions/<version>")
@signed_in
def template_version(name: str, version: str):
    row = template_by_name(name)
    tv = versions([version_by_name(row, version)])[0]
    live = tv.job.status in ("pending", "running", "canceling")
    if request.headers.get("HX-Request"):
        if not live:  # done: the whole page again, with what the import found
            resp = current_app.response_class("", status=200)
            resp.headers["HX-Refresh"] = "true"
            return resp
        return page("version_status.html", version=tv, live=live, live_seconds=LIVE_SECONDS)
    s = store()
    succeeded = tv.job.status == "succeeded"
    return page("template_version.html", template=template_response(row), version=tv, live=live,
                live_seconds=LIVE_SECONDS, readme=readme.render(tv.readme),
                files=_files(tv.job.file_id),
                logs=[jobs.log(r) for r in s.get_provisioner_job_logs_after(tv.job.id, 0)],
                parameters=[parameter(p) for p in s.get_template_version_parameters(tv.id)]
                if succeeded else [],
                promotable=succeeded and not tv.archived and tv.id != row["active_version_id"]
                and may_manage(row),
                is_active=tv.id == row["active_version_id"])


def _files(file_id) -> list[tuple[str, int]] | None:
    """The version's files (path, size), for those who may read its archive; None for others."""
    try:
        stored = store().get_file_by_id(file_id)
    except NotAuthorized:
        return None
    return [(path, member.size) for member, path, _ in archives.members(stored["data"], files.LIMITS)
            if member.isreg()]


@blueprint.post("/templates/<name>/versions/<version>/promote")
@signed_in
def promote_version(name: str, version: str):
    read_form()
    row = template_by_name(name)
    promote(row, version_by_name(row, version)["id"])
    return redirect(url_for("dashboard.template", name=row["name"]), code=303)
