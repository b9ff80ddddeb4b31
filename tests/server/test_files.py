"""POST/GET /api/v2/files: uploads checked by appliance.archives' rules, zips converted."""
from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zipfile
import zlib

import pytest
import requests

from appliance.sdk.client import APIError
from appliance import archives
from server import files

from tests.kit import rawhttp
from tests.kit.coderd import create_another_user
from tests.kit.provisioning import make_tar, make_tar_of, tar_member


def test_zip_conversion():
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("README.md", "# hi")
        zf.writestr("sub/main.tf", "terraform {}")
    tar = files.normalize_upload(z.getvalue(), files.ZIP_MIMETYPE)
    assert files.readme(tar) == "# hi"
    assert sorted(archives.check(tar)) == ["README.md", "sub/main.tf"]
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


BOMB_SIZE = files.MAX_EXTRACTED_SIZE + (20 << 20)  # past what an archive may expand to


def _compressed(head: bytes, fill: bytes, size: int, compressor) -> bytes:
    """``head``, then ``size`` bytes of ``fill``, compressed piece by piece."""
    piece = fill * (1 << 20)
    out = [compressor.compress(head)]
    for _ in range(size >> 20):
        out.append(compressor.compress(piece))
    out.append(compressor.flush())
    return b"".join(out)


def _member_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(tarfile.GNU_FORMAT)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Small uploads that expand past every limit: a member of zeros in gzip, bzip2 and xz,
    a GNU long name as long (tarfile reads one whole), and a zip."""
    zeros = _member_header("zeros", BOMB_SIZE)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("zeros", "w", force_zip64=True) as member:
        for _ in range(BOMB_SIZE >> 20):
            member.write(bytes(1 << 20))
    return {
        "gzip": _compressed(zeros, b"\0", BOMB_SIZE, zlib.compressobj(9, zlib.DEFLATED, 31)),
        "bzip2": _compressed(zeros, b"\0", BOMB_SIZE, bz2.BZ2Compressor()),
        "xz": _compressed(zeros, b"\0", BOMB_SIZE, lzma.LZMACompressor(preset=1)),
        "gzip long name": _compressed(_member_header("././@LongLink", BOMB_SIZE, tarfile.GNUTYPE_LONGNAME),
                                      b"a", BOMB_SIZE, zlib.compressobj(9, zlib.DEFLATED, 31)),
        "zip": zipped.getvalue(),
    }


def test_upload_bombs_are_refused_with_bounded_memory(shared_coderd, shared_owner, bombs):
    """A member may not upload: refused before coderd reads the body. An owner's bombs are
    read only as far as the limits, coderd's memory barely moves, and the answer is a 400."""
    member, _ = create_another_user(shared_owner)
    shared_coderd.reset_peak_memory()
    before = shared_coderd.peak_memory()
    for kind, data in bombs.items():
        content_type = files.ZIP_MIMETYPE if kind == "zip" else files.TAR_MIMETYPE
        refused = _post(shared_coderd, member.token, data, content_type)
        assert refused.status_code == 403, (kind, refused.text)
        resp = _post(shared_coderd, shared_owner.token, data, content_type)
        assert resp.status_code == 400, (kind, resp.text)
        assert "The archive was refused" in resp.json()["message"], kind
    grown = shared_coderd.peak_memory() - before
    assert grown < 48 << 20, f"coderd's peak memory grew by {grown >> 20} MiB"


def test_a_member_is_refused_before_the_body_is_read(shared_coderd, shared_owner):
    member, _ = create_another_user(shared_owner)
    answer = rawhttp.exchange(shared_coderd.url, rawhttp.request(
        "POST", "/api/v2/files", [("Coder-Session-Token", member.token),
                                  ("Content-Type", files.TAR_MIMETYPE),
                                  ("Content-Length", str(files.MAX_FILE_SIZE))], b"\0" * 1024), timeout=5)
    assert answer.first == 403, answer
