"""Files: template archives, uploaded once and addressed by their sha256."""
from __future__ import annotations

from flask import current_app, g, request

from appliance.sdk import types

from .. import audit, files
from ..authz.rbac import Action, Object, Resource, authorize
from ..httpapi import APIError, not_found, parse_uuid, read_body, write
from ..httpmw import store
from .router import Router

router = Router("files", "Files")
route = router.route


@route("POST", "/files", summary="Upload a template archive (application/x-tar or "
       "application/zip); the same bytes from the same user give the same ID (200)",
       response=types.UploadResponse, status=201)
def upload_file():
    # As Coder: uploading needs the site-wide right to create files (template admins,
    # owners), checked before a byte of the body is read or unpacked.
    authorize_upload()
    mimetype = (request.mimetype or "").lower()
    if mimetype not in files.MIMETYPES:
        raise APIError(400, f"Unsupported content type {mimetype or '(none)'!r}.",
                       f"Upload a tar ({files.TAR_MIMETYPE}) or a zip ({files.ZIP_MIMETYPE}).")
    row = upload(read_body(files.MAX_FILE_SIZE, "File"), mimetype)
    return write(201 if row["created"] else 200, types.UploadResponse(hash=row["id"]))


def authorize_upload() -> None:
    authorize(g.subject, Action.CREATE, Object(Resource.FILE, owner_id=g.subject.id))


def upload(data: bytes, mimetype: str) -> dict:
    """Store a template archive as the caller (the API's upload and the dashboard's): its
    row (``created`` when new, and audited then). APIError (400) when refused."""
    authorize_upload()
    try:
        row = files.store_upload(store(), data, mimetype, g.subject.id)
    except files.ArchiveError as exc:
        raise APIError(400, "The archive was refused.", str(exc)) from None
    if row["created"]:
        audit.record("create", "file", row["id"], row["hash"], status=201)
    return row


@route("GET", "/files/<fileid>", summary="Download an uploaded file", content_type=files.TAR_MIMETYPE)
def get_file(fileid: str):
    row = store().get_file_by_id(parse_uuid(fileid, "fileid"))
    if row is None:
        raise not_found("File")
    return current_app.response_class(row["data"], mimetype=row["mimetype"], headers={
        "Content-Disposition": f'attachment; filename="{row["id"]}.tar"'})
