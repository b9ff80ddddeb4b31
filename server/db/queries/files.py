"""Uploaded files (template archives), content-addressed per uploader."""
from __future__ import annotations

import uuid

from .base import QueriesBase


class FileQueries(QueriesBase):
    def insert_file(self, *, hash: str, created_by: uuid.UUID, mimetype: str, data: bytes) -> dict:
        """The file with this hash for this user: made now, or the one already there.

        ``created`` tells which, so the API can answer 201 or 200 as Coder does;
        two concurrent uploads of the same bytes end with one row.
        """
        row = self._one(
            """INSERT INTO files (hash, created_by, mimetype, data) VALUES (%s, %s, %s, %s)
               ON CONFLICT (hash, created_by) DO NOTHING
               RETURNING id, hash, created_at, created_by, mimetype, true AS created""",
            (hash, created_by, mimetype, data))
        if row is None:
            row = self._one("""SELECT id, hash, created_at, created_by, mimetype, false AS created
                               FROM files WHERE hash = %s AND created_by = %s""", (hash, created_by))
        return row

    def get_file_by_id(self, file_id: uuid.UUID) -> dict | None:
        row = self._one("SELECT * FROM files WHERE id = %s", (file_id,))
        if row is not None:
            row["data"] = bytes(row["data"])
        return row
