"""Template archives: checking an upload, and extracting it safely.

An uploaded template is a tar (or a zip, converted to a tar as Coder does).
coderd refuses, before storing anything, what could escape or exhaust the
folder a provisioner later extracts it into: absolute paths, ``..``, links
pointing outside, device and fifo files, too many members, more extracted
bytes than the limit (a decompression bomb is stopped while reading, not
after), and archives that do not read to the end. The provisioner side calls
``safe_extract``, which runs the same checks and then tarfile's ``data``
filter as a second guard.
"""
from __future__ import annotations

import io
import posixpath
import stat
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

TAR_MIMETYPE = "application/x-tar"
ZIP_MIMETYPE = "application/zip"
MIMETYPES = (TAR_MIMETYPE, ZIP_MIMETYPE)
# The upload limit, as Coder's: a template is Terraform files, not data.
MAX_FILE_SIZE = 10 * 1024 * 1024
# What one archive may expand to, and how many entries it may hold.
MAX_EXTRACTED_SIZE = 100 * 1024 * 1024
MAX_MEMBERS = 10_000
README = "README.md"


class ArchiveError(ValueError):
    """The archive is refused; the message names the member when there is one."""


def _check_name(name: str) -> str:
    """The member's normalized relative path, or ArchiveError."""
    if not name or "\x00" in name:
        raise ArchiveError(f"member {name!r} has an empty or invalid name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise ArchiveError(f"member {name!r} points outside the archive (..)")
    return posixpath.normpath(name)


def _check_link(name: str, target: str, hard: bool) -> None:
    kind = "hard link" if hard else "symlink"
    if not target or target.startswith("/"):
        raise ArchiveError(f"member {name!r} is a {kind} to an absolute path {target!r}")
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise ArchiveError(f"member {name!r} is a {kind} pointing outside the archive ({target!r})")


def check_tar(data: bytes) -> list[tarfile.TarInfo]:
    """Every member of a tar (plain or compressed), checked; ArchiveError otherwise."""
    members: list[tarfile.TarInfo] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            while True:
                member = tar.next()  # reads one header at a time: a bomb stops at the limit
                if member is None:
                    break
                name = _check_name(member.name)
                if member.isdev() or member.isfifo() or not (
                        member.isreg() or member.isdir() or member.issym() or member.islnk()):
                    raise ArchiveError(f"member {member.name!r} is a device, fifo or special file")
                if member.issym() or member.islnk():
                    _check_link(name, member.linkname, member.islnk())
                total += member.size
                if total > MAX_EXTRACTED_SIZE:
                    raise ArchiveError(f"member {member.name!r} takes the archive past "
                                       f"{MAX_EXTRACTED_SIZE} extracted bytes")
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise ArchiveError(f"member {member.name!r} is past the limit of "
                                       f"{MAX_MEMBERS} members")
            # Read every byte of the last member too: a truncated archive fails here.
            for member in members:
                if member.isreg():
                    f = tar.extractfile(member)
                    if f is not None and len(f.read()) != member.size:
                        raise ArchiveError(f"member {member.name!r} is truncated")
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        last = f" after member {members[-1].name!r}" if members else ""
        raise ArchiveError(f"corrupt or unreadable tar archive{last}: {exc}") from None
    return members


def zip_to_tar(data: bytes) -> bytes:
    """A zip converted to an uncompressed tar, checked as tars are; links in zips are refused."""
    out = io.BytesIO()
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf, tarfile.open(fileobj=out, mode="w") as tar:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"member {infos[MAX_MEMBERS].filename!r} is past the limit "
                                   f"of {MAX_MEMBERS} members")
            for info in infos:
                _check_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise ArchiveError(f"member {info.filename!r} is a link or special file; "
                                       "only files and folders are accepted in a zip")
                total += info.file_size
                if total > MAX_EXTRACTED_SIZE:
                    raise ArchiveError(f"member {info.filename!r} takes the archive past "
                                       f"{MAX_EXTRACTED_SIZE} extracted bytes")
                entry = tarfile.TarInfo(info.filename.rstrip("/"))
                entry.mtime = int(time.mktime(info.date_time + (0, 0, -1)))
                if info.is_dir():
                    entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(entry)
                    continue
                content = zf.read(info)  # checks the CRC
                entry.size, entry.mode = len(content), (mode & 0o777) or 0o644
                tar.addfile(entry, io.BytesIO(content))
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
    check_tar(data)
    return data


def readme(data: bytes) -> str:
    """The archive's top-level README.md (Coder shows it with the template version)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            if member.isreg() and posixpath.normpath(member.name) == README:
                f = tar.extractfile(member)
                return f.read().decode("utf-8", "replace") if f else ""
    return ""


def safe_extract(data: bytes, dest: str | Path) -> None:
    """Extract a stored template archive into ``dest`` (an empty folder)."""
    check_tar(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        tar.extractall(dest, filter="data")
