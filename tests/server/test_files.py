"""POST/GET /api/v2/files: uploads checked by appliance.archives' rules, zips converted."""
from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
import requests

from appliance.sdk.client import APIError
from appliance import archives
from server import files

from ..coderdtest import create_another_user
from .provisioning import make_tar, make_tar_of, tar_member


def test_zip_conversion():
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("README.md", "# hi")
        zf.writestr("sub/main.tf", "terraform {}")
    tar = files.normalize_upload(z.getvalue(), files.ZIP_MIMETYPE)
    assert files.readme(tar) == "# hi"
    assert sorted(m.name for m in archives.check(tar)) == ["README.md", "sub/main.tf"]
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
    refused = {
        "'../evil.tf' points outside": make_tar_of(tar_member("../evil.tf")),
        "'link' is a symlink pointing outside": make_tar_of(
            tar_member("link", tarfile.SYMTYPE, "../../etc/passwd")),
        "'dev' is a device, fifo": make_tar_of(tar_member("dev", tarfile.CHRTYPE)),
        "corrupt or unreadable tar": b"this is not a tar archive at all" * 40,
    }
    for message, data in refused.items():
        case = message
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
