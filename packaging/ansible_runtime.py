"""Build the bundle's ``ansible/python/``: ansible-core and its dependencies for the host's python3.

    .venv/bin/python packaging/ansible_runtime.py DEST [--force]

The air-gapped host runs the playbook with its own ``/usr/bin/python3``
(Debian 12: CPython 3.11.2) and no Python package installed, as
``PYTHONPATH=DEST python3 -m ansible playbook ...``. So the tree holds binary
wheels for CPython 3.11 on manylinux x86_64 only (cryptography, MarkupSafe and
PyYAML have C parts), installed by ``pip install --target`` with
``--only-binary=:all:``: no wheel is built here, and this machine's own
Python or libraries never leak in. ansible-core's version is the one pinned in
``requirements-build.txt``; its dependencies are whatever pip resolves for it
(their versions are returned, for the bundle's MANIFEST.json).

A tree is cached per ansible-core version under ``.cache/ansible-runtime/``,
so a second build copies it without asking PyPI. ``DEST`` is written
atomically: built in a temporary sibling, then renamed into place.

Run as a script (see build_provider.py: a ``packaging`` package would shadow
PyPI's).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_provider import REPO, BuildError  # noqa: E402

CACHE = REPO / ".cache" / "ansible-runtime"
REQUIREMENTS = REPO / "requirements-build.txt"
PLATFORM = ("--only-binary=:all:", "--platform", "manylinux2014_x86_64",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")
VERSIONS = "versions.json"


def pinned_version() -> str:
    """ansible-core's version as pinned in requirements-build.txt."""
    found = re.search(r"^ansible-core==(\S+)", REQUIREMENTS.read_text(), re.M)
    if not found:
        raise BuildError(f"{REQUIREMENTS} pins no ansible-core==VERSION")
    return found.group(1)


def installed_versions(tree: Path) -> dict[str, str]:
    """{distribution: version} of what pip installed into ``tree`` (from its .dist-info names)."""
    versions = {}
    for info in sorted(tree.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        versions[name.lower().replace("_", "-")] = version
    return versions


def _install(version: str, tree: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
         "--disable-pip-version-check", "--target", str(tree), *PLATFORM,
         f"ansible-core=={version}"],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"pip could not install ansible-core {version} for CPython 3.11 "
                         f"manylinux x86_64:\n{done.stderr.strip()}")
    shutil.rmtree(tree / "bin", ignore_errors=True)  # entry scripts naming this machine's python


def cached_tree(version: str, force: bool = False,
                progress: Callable[[str], None] | None = None) -> Path:
    """The cached tree for ``version``, installed from PyPI first if missing (or ``force``)."""
    tree = CACHE / version
    if tree.is_dir() and not force:
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"ansible runtime: installing ansible-core {version} and its dependencies")
    with tempfile.TemporaryDirectory(prefix=f"{version}-", dir=CACHE) as tmp:
        built = Path(tmp) / "tree"
        _install(version, built)
        (built / VERSIONS).write_text(json.dumps(installed_versions(built), indent=1) + "\n")
        old = Path(tmp) / "old"
        if tree.exists():
            tree.rename(old)
        os.replace(built, tree)
    for stale in CACHE.iterdir():  # keep only the pinned version's tree
        if stale != tree:
            shutil.rmtree(stale, ignore_errors=True)
    return tree


def build(dest: Path, progress: Callable[[str], None] | None = None,
          force: bool = False) -> dict:
    """Write ``dest`` (the bundle's ``ansible/python/``); return {"ansible-core": ..., "python": {...}}."""
    version = pinned_version()
    tree = cached_tree(version, force, progress)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as tmp:
        staged = Path(tmp) / dest.name
        shutil.copytree(tree, staged, symlinks=True, ignore=shutil.ignore_patterns(VERSIONS))
        if dest.exists():
            dest.rename(Path(tmp) / "old")
        os.replace(staged, dest)
    if progress:
        progress(f"ansible runtime: ansible-core {version} in {dest}")
    return {"ansible-core": version,
            "python": json.loads((tree / VERSIONS).read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="Folder to write (the bundle's ansible/python).")
    parser.add_argument("--force", action="store_true",
                        help=f"Install from PyPI again even if {CACHE} has the tree.")
    args = parser.parse_args(argv)
    try:
        versions = build(args.dest, progress=print, force=args.force)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(versions, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
