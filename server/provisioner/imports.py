"""Queuing a template version's import: what ``POST .../templateversions`` and the
installer's check (``coderd check-import``) both do, so the check proves the API's path.

The version and its job are written in one transaction; the job's notification goes
out on commit, and a provisioner daemon waiting for work takes it as any other.
"""
from __future__ import annotations

import uuid

from .. import files
from ..authz.querier import AuthzQuerier
from .workspacetags import evaluate, tag_expressions

# Any daemon of the organization may run it (Coder's default tags for a version).
DEFAULT_TAGS = {"scope": "organization", "owner": ""}


def queue_import(s: AuthzQuerier, *, organization_id: uuid.UUID, file_id: uuid.UUID,
                 archive: bytes, created_by: uuid.UUID, name: str, message: str = "",
                 template_id: uuid.UUID | None = None,
                 tags: dict[str, str] | None = None,
                 user_variable_values: list | None = None) -> dict:
    """A new template version of the stored ``archive`` (file ``file_id``) and its queued
    import job; the version's row. A name the template already has raises
    ``psycopg2.errors.UniqueViolation``, with nothing written. ``user_variable_values``
    (``VariableValue``s) ride in the job's input, as in Coder, until the import reads
    the template's variables and stores each one's value. The job's tags: the template's
    workspace tags (with its parameters' defaults), ``tags`` over them; a workspace tag
    that cannot be computed raises ``TagError``, with nothing written."""
    version_id = uuid.uuid4()
    given = {v.name: v.value for v in user_variable_values or []}
    expressions = tag_expressions(archive, given)
    job_input: dict = {"template_version_id": str(version_id)}
    if user_variable_values:  # omitted when empty, as Coder's omitempty does
        job_input["user_variable_values"] = [{"name": v.name, "value": v.value}
                                             for v in user_variable_values]
    with s.transaction():
        job = s.insert_provisioner_job(
            organization_id=organization_id, initiator_id=created_by,
            type="template_version_import", input=job_input,
            file_id=file_id, tags={**DEFAULT_TAGS, **evaluate(expressions, {}), **(tags or {})})
        return s.insert_template_version(
            id=version_id, template_id=template_id, organization_id=organization_id, name=name,
            message=message, readme=files.readme(archive), job_id=job["id"],
            created_by=created_by, workspace_tags=expressions)
