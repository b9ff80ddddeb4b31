"""Fetch the dashboard's pinned JavaScript from the npm registry (a developer's tool).

    .venv/bin/python packaging/vendor_js.py                  # (re)write every pinned package
    .venv/bin/python packaging/vendor_js.py --pin NAME@VER   # pin another version, then write

The pins live in ``packaging/vendored_js.json``: each package's version, the sha512
``integrity`` of its tarball (recorded from the registry's ``dist.integrity`` when it was
pinned), which files to take, and where they go. The files written are committed, so
nothing is fetched at install or build time, and a tarball whose hash is not the pinned
one writes nothing. ``npm`` need not be installed: the tarball comes over HTTPS from
registry.npmjs.org with requests, and is read with ``tarfile``, with no file of it
extracted except the ones named.

Run as a script (see build_provider.py: a ``packaging`` package would shadow PyPI's).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PINS = REPO / "packaging" / "vendored_js.json"
REGISTRY = "https://registry.npmjs.org"
TIMEOUT = 60


class VendorError(Exception):
    """A package could not be vendored as pinned; the message says which and why."""


def integrity_of(data: bytes) -> str:
    """npm's Subresource-Integrity form of a tarball's hash."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def registry_integrity(session: requests.Session, name: str, version: str) -> str:
    """The ``dist.integrity`` the registry publishes for ``name@version``."""
    resp = session.get(f"{REGISTRY}/{name}/{version}", timeout=TIMEOUT)
    if resp.status_code == 404:
        raise VendorError(f"{name}@{version} is not in the npm registry")
    resp.raise_for_status()
    integrity = resp.json().get("dist", {}).get("integrity", "")
    if not integrity.startswith("sha512-"):
        raise VendorError(f"{name}@{version} has no sha512 integrity in the registry")
    return integrity


def fetch(session: requests.Session, package: dict) -> dict[str, bytes]:
    """The pinned files of one package (destination name -> bytes), its tarball checked."""
    name, version = package["name"], package["version"]
    resp = session.get(tarball_url(name, version), timeout=TIMEOUT)
    resp.raise_for_status()
    got = integrity_of(resp.content)
    if got != package["integrity"]:
        raise VendorError(f"{name}@{version}: the tarball's hash is {got}, "
                          f"not the pinned {package['integrity']}")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        for source, dest in package["files"].items():
            try:
                member = tar.getmember("package/" + source)
            except KeyError:
                raise VendorError(f"{name}@{version} has no file {source}") from None
            if not member.isfile():
                raise VendorError(f"{name}@{version}: {source} is not a regular file")
            files[dest] = tar.extractfile(member).read()
    return files


def write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds the old bytes or the new ones, never a part: a temporary file in the
    same folder, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def without_leading_comment(dest: str, data: bytes) -> bytes:
    """A stylesheet as coderd serves it: its leading licence comment (kept whole in the
    package's LICENSE beside it) names hosts on the internet, which nothing served may."""
    return re.sub(rb"\A/\*.*?\*/\s*", b"", data, flags=re.S) if dest.endswith(".css") else data


def write(session: requests.Session, package: dict) -> Path:
    """Fetch and check every file first, then write them all."""
    files = {dest: without_leading_comment(dest, data)
             for dest, data in fetch(session, package).items()}
    into = REPO / package["into"]
    into.mkdir(parents=True, exist_ok=True)
    for dest, data in files.items():
        write_atomically(into / dest, data)
    return into


def pin(session: requests.Session, pins: dict, spec: str) -> None:
    """Set ``NAME@VERSION``'s version and the registry's integrity in ``pins``."""
    name, sep, version = spec.rpartition("@")
    if not sep or not name or not version:
        raise VendorError(f"--pin takes NAME@VERSION, not {spec!r}")
    package = next((p for p in pins["packages"] if p["name"] == name), None)
    if package is None:
        raise VendorError(f"{name} is not in {PINS.name}: add its files and folder there first")
    package["version"], package["integrity"] = version, registry_integrity(session, name, version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pin", action="append", default=[], metavar="NAME@VERSION")
    args = parser.parse_args(argv)
    pins = json.loads(PINS.read_text())
    try:
        with requests.Session() as session:
            for spec in args.pin:
                pin(session, pins, spec)
            for package in pins["packages"]:
                print(f"{package['name']}@{package['version']} -> "
                      f"{write(session, package).relative_to(REPO)}")
    except (VendorError, requests.RequestException) as exc:
        print(f"vendor_js: {exc}", file=sys.stderr)
        return 1
    if args.pin:
        write_atomically(PINS, (json.dumps(pins, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
