"""POST/GET /api/v2/files and the archive checks in server/files.py."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest
import requests

from appliance.sdk.client import APIError
from server import files

from ..coderdtest import create_another_user
from .provisioning import make_tar


def _tar(*members: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for m in members:
            content = (data or {}).get(m.name)
            tar.addfile(m, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


def _member(name: str, type=tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = type, linkname, size
    return info


BAD_ARCHIVES = {
    "traversal": (_tar(_member("../evil.tf")), "'../evil.tf' points outside"),
    "nested traversal": (_tar(_member("a/../../evil")), "'a/../../evil' points outside"),
    "absolute": (_tar(_member("/etc/passwd")), "'/etc/passwd' has an absolute path"),
    "symlink out": (_tar(_member("link", tarfile.SYMTYPE, "../../etc/passwd")),
                    "'link' is a symlink pointing outside"),
    "symlink absolute": (_tar(_member("link", tarfile.SYMTYPE, "/etc/passwd")),
                         "'link' is a symlink to an absolute path"),
    "hardlink out": (_tar(_member("hl", tarfile.LNKTYPE, "../x")),
                     "'hl' is a hard link pointing outside"),
    "char device": (_tar(_member("dev", tarfile.CHRTYPE)), "'dev' is a device, fifo"),
    "fifo": (_tar(_member("pipe", tarfile.FIFOTYPE)), "'pipe' is a device, fifo"),
    "garbage": (b"this is not a tar archive at all" * 40, "corrupt or unreadable tar"),
    "truncated": (make_tar({"main.tf": "x" * 5000, "b.tf": "y" * 5000})[:3000],
                  "corrupt or unreadable tar"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_check_tar_refuses(case):
    data, message = BAD_ARCHIVES[case]
    with pytest.raises(files.ArchiveError, match=message.replace("(", r"\(")):
        files.check_tar(data)


def test_decompression_bomb_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(files, "MAX_EXTRACTED_SIZE", 1024 * 1024)
    bomb = gzip.compress(make_tar({"a": b"\0" * (600 * 1024), "b": b"\0" * (600 * 1024)}))
    assert len(bomb) < 10_000
    with pytest.raises(files.ArchiveError, match="'b' takes the archive past 1048576"):
        files.check_tar(bomb)


def test_member_count_limit(monkeypatch):
    monkeypatch.setattr(files, "MAX_MEMBERS", 3)
    with pytest.raises(files.ArchiveError, match="'f3' is past the limit of 3 members"):
        files.check_tar(make_tar({f"f{i}": "" for i in range(5)}))


def test_safe_symlinks_and_zip_conversion(tmp_path):
    ok = _tar(_member("dir", tarfile.DIRTYPE), _member("dir/main.tf", size=3),
              _member("dir/link.tf", tarfile.SYMTYPE, "main.tf"), data={"dir/main.tf": b"abc"})
    files.safe_extract(ok, tmp_path)
    assert (tmp_path / "dir" / "link.tf").read_text() == "abc"
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("README.md", "# hi")
        zf.writestr("sub/main.tf", "terraform {}")
    tar = files.normalize_upload(z.getvalue(), files.ZIP_MIMETYPE)
    assert files.readme(tar) == "# hi"
    assert sorted(m.name for m in files.check_tar(tar)) == ["README.md", "sub/main.tf"]
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../x", "boom")
    with pytest.raises(files.ArchiveError, match="'../x' points outside"):
        files.normalize_upload(z.getvalue(), files.ZIP_MIMETYPE)


def _post(coderd, token, data, content_type="application/x-tar"):
    return requests.post(coderd.url + "/api/v2/files", data=data, timeout=10,
                         headers={"Coder-Session-Token": token, "Content-Type": content_type})


def test_upload_is_content_addressed(shared_coderd, shared_owner):
    data = make_tar({"main.tf": "# content addressed\n"})
    first = _post(shared_coderd, shared_owner.token, data)
    assert first.status_code == 201, first.text
    again = _post(shared_coderd, shared_owner.token, data)
    assert again.status_code == 200 and again.json() == first.json()
    assert shared_owner.download_file(first.json()["hash"]) == data
    # Another uploader gets their own file.
    admin, _ = create_another_user(shared_owner, roles=["template-admin"])
    assert admin.upload_file(data) != first.json()["hash"]


def test_upload_refusals_over_http(shared_coderd, shared_owner):
    for case in ("traversal", "symlink out", "char device", "garbage"):
        data, message = BAD_ARCHIVES[case]
        resp = _post(shared_coderd, shared_owner.token, data)
        assert resp.status_code == 400, (case, resp.text)
        assert message in resp.json()["detail"], (case, resp.json())
    resp = _post(shared_coderd, shared_owner.token, make_tar({"a": "b"}), "text/plain")
    assert resp.status_code == 400 and "Unsupported content type" in resp.json()["message"]
    resp = _post(shared_coderd, shared_owner.token, b"\0" * (files.MAX_FILE_SIZE + 1))
    assert resp.status_code == 413
    resp = _post(shared_coderd, "", make_tar({"a": "b"}))
    assert resp.status_code == 401


def test_members_cannot_upload_or_read_others_files(shared_owner):
    member, _ = create_another_user(shared_owner)
    file_id = shared_owner.upload_file(make_tar({"main.tf": "# private\n"}))
    with pytest.raises(APIError) as err:
        member.upload_file(make_tar({"a": "b"}))
    assert err.value.status == 403
    with pytest.raises(APIError) as err:
        member.download_file(file_id)
    assert err.value.status == 404
