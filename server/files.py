"""Template uploads: the size of an upload, zips converted to tars, and the README.

An uploaded template is a tar (or a zip, converted to a tar as Coder does).
coderd refuses, before storing anything, what could escape or exhaust the
folder a provisioner later extracts it into, by ``appliance.archives``' rules
(the ones the provisioners extract by), with this module's limits.
"""
from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import time
import uuid
import zipfile
import zlib
from typing import TYPE_CHECKING

from appliance import archives
from appliance.archives import ArchiveError

if TYPE_CHECKING:
    from .authz.querier import AuthzQuerier

TAR_MIMETYPE = "application/x-tar"
ZIP_MIMETYPE = "application/zip"
MIMETYPES = (TAR_MIMETYPE, ZIP_MIMETYPE)
# The upload limit, as Coder's: the one ``coder templates push`` packs a folder within.
MAX_FILE_SIZE = archives.UPLOAD_LIMIT
# What one archive may expand to, and how many entries it may hold.
MAX_EXTRACTED_SIZE = 100 * 1024 * 1024
MAX_MEMBERS = 10_000
README = "README.md"
LIMITS = archives.Limits(max_bytes=MAX_EXTRACTED_SIZE, max_members=MAX_MEMBERS)


def zip_to_tar(data: bytes) -> bytes:
    """A zip converted to an uncompressed tar, checked as tars are; links in zips are refused.
    As in Coder, the tar may be no larger than an upload (members are counted by the sizes
    the zip declares, which zipfile holds them to), and it is written piece by piece."""
    out = io.BytesIO()
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf, tarfile.open(fileobj=out, mode="w") as tar:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"member {infos[MAX_MEMBERS].filename!r} is past the limit "
                                   f"of {MAX_MEMBERS} members")
            for info in infos:
                archives.check_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise ArchiveError(f"member {info.filename!r} is a link or special file; "
                                       "only files and folders are accepted in a zip")
                total += info.file_size
                if total > MAX_FILE_SIZE:  # what is stored is a tar no larger than an upload
                    raise ArchiveError(f"member {info.filename!r} takes the tar made of the zip "
                                       f"past {MAX_FILE_SIZE} bytes, the upload limit")
                entry = tarfile.TarInfo(info.filename.rstrip("/"))
                entry.mtime = int(time.mktime(info.date_time + (0, 0, -1)))
                if info.is_dir():
                    entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(entry)
                    continue
                entry.size, entry.mode = info.file_size, (mode & 0o777) or 0o644
                with zf.open(info) as content:  # copied in pieces; the CRC checked at its end
                    tar.addfile(entry, content)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
            NotImplementedError) as exc:
        raise ArchiveError(f"corrupt or unreadable zip archive: {exc}") from None
    return out.getvalue()


def normalize_upload(data: bytes, mimetype: str) -> bytes:
    """The bytes to store for an upload: a checked tar. Raises ArchiveError."""
    if len(data) > MAX_FILE_SIZE:
        raise ArchiveError(f"the upload is {len(data)} bytes; the limit is {MAX_FILE_SIZE}")
    if mimetype == ZIP_MIMETYPE:
        data = zip_to_tar(data)
    archives.check(data, LIMITS)
    return data


def store_upload(s: AuthzQuerier, data: bytes, mimetype: str, created_by: uuid.UUID) -> dict:
    """Store an upload as ``POST /files`` does (and the install check, as coderd's user):
    checked, a zip made a tar, addressed by its sha256 per uploader. The file's row, whose
    ``created`` says whether it is new. Raises ArchiveError with nothing stored."""
    data = normalize_upload(data, mimetype)
    return s.insert_file(hash=hashlib.sha256(data).hexdigest(), created_by=created_by,
                         mimetype=TAR_MIMETYPE, data=data)


def readme(data: bytes) -> str:
    """The archive's top-level README.md (Coder shows it with the template version)."""
    content = archives.read_file(data, README, LIMITS)
    return content.decode("utf-8", "replace") if content is not None else ""
