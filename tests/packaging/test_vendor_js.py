"""packaging/vendor_js.py against a registry served on loopback: files written whole or not
at all, a tarball with another hash refused, and a bad ``--pin`` a one-line error."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

from tests.kit.httpserve import GetServer
from tests.kit.provisioning import make_tar

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import vendor_js  # noqa: E402


def tarball(files: dict[str, bytes]) -> bytes:
    """An npm tarball: gzipped, its files under ``package/``."""
    return make_tar(files, prefix="package/", gzipped=True)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A registry whose every tarball is ``served[0]``; the files land under ``tmp_path``."""
    served = [b""]
    with GetServer(lambda request: (200, "application/octet-stream", served[0])) as server:
        monkeypatch.setattr(vendor_js, "REGISTRY", f"http://127.0.0.1:{server.port}")
        monkeypatch.setattr(vendor_js, "REPO", tmp_path)
        yield served


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_files_are_replaced_whole_and_a_wrong_hash_writes_nothing(registry, tmp_path):
    registry[0] = tarball({"lib/pkg.js": b"new();", "LICENSE": b"MIT"})
    package = {"name": "@scope/pkg", "version": "1.0.0", "into": "out",
               "integrity": vendor_js.integrity_of(registry[0]),
               "files": {"lib/pkg.js": "pkg.js", "LICENSE": "LICENSE"}}
    out = tmp_path / "out"
    out.mkdir()
    (out / "pkg.js").write_bytes(b"old();")
    with requests.Session() as session:
        assert vendor_js.write(session, package) == out
        assert (out / "pkg.js").read_bytes() == b"new();" and (out / "LICENSE").read_bytes() == b"MIT"
        registry[0] = tarball({"lib/pkg.js": b"evil();", "LICENSE": b"MIT"})
        with pytest.raises(vendor_js.VendorError, match="not the pinned"):
            vendor_js.write(session, package)
    assert (out / "pkg.js").read_bytes() == b"new();" and leftovers(out) == []


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "pkg.js"
    target.write_bytes(b"old();")
    with pytest.raises(TypeError):
        vendor_js.write_atomically(target, "not bytes")
    assert target.read_bytes() == b"old();" and leftovers(tmp_path) == []


def test_a_bad_pin_is_a_one_line_error(capsys):
    assert vendor_js.main(["--pin", "no-version"]) == 1
    err = capsys.readouterr().err
    assert err == "vendor_js: --pin takes NAME@VERSION, not 'no-version'\n"
