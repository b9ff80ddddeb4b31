"""Helpers for the offline-bundle tests: a throwaway signing key, small bundles
sealed by the real builder from a hand-made folder, and the two verifiers
(install.sh under bash, ``appliance bundle verify``) run on them.

The signing key is tf_registry's (a real GnuPG EdDSA key in its own home, no
passphrase); the builder signs with python-gnupg from that home.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "packaging") not in sys.path:   # its scripts import each other by bare name
    sys.path.insert(0, str(REPO / "packaging"))

import bundle as builder  # noqa: E402  (packaging/bundle.py)

from appliance.admin.main import main as appliance  # noqa: E402
from tests.kit import tf_registry  # noqa: E402

VERSION = "0.1.0"


def make_stage(root: Path, files: dict[str, bytes | tuple[str, str]],
               version: str = VERSION) -> Path:
    """A staged bundle folder: path -> content, or ("link", target) for a symbolic link."""
    stage = root / f"coder-appliance-{version}"
    stage.mkdir(parents=True)
    for rel, content in files.items():
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            path.symlink_to(content[1])
        else:
            path.write_bytes(content)
            if rel.startswith("bin/"):
                path.chmod(0o755)
    return stage


def seal(stage: Path, out: Path, key: tf_registry.SigningKey, since: Path | None = None,
         versions: dict | None = None):
    """The builder's own seal step: MANIFEST.json (with ``versions``), signature, tar."""
    signer = builder.Signer(key.home, key.fingerprint)
    return builder.seal(stage, out, signer, versions=versions or {}, since=since,
                        phases=builder.Phases(io.StringIO(), tty=False),
                        hash_cache=out / f".hashes-{stage.parent.name}.json")


def extract(tar: Path, dest: Path) -> Path:
    """``tar -xf`` as the administrator runs it; the bundle's folder."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xf", str(tar), "-C", str(dest)], check=True)
    with tarfile.open(tar) as t:
        return dest / t.getmembers()[0].name.split("/")[0]


@dataclass
class Outcome:
    code: int
    error: str   # the error line, "" on success

    @property
    def kind(self) -> str:
        """The rule broken: the word after 'error: ' (bundle_manifest.KINDS)."""
        return self.error.split("error: ", 1)[1].split(":", 1)[0] if self.error else ""


def install_sh(folder: Path, fingerprint: str, *args: str, verify_only: bool = True,
               path: str = "/usr/bin:/bin", environ: dict[str, str] | None = None) -> Outcome:
    """install.sh (--verify-only unless told) under bash, with the environment of a minimal
    host (its commands from ``path``, and ``environ``)."""
    done = subprocess.run(["bash", str(folder / "install.sh"), "--fingerprint", fingerprint,
                           *(["--verify-only"] if verify_only else []), *args],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": path, "HOME": "/nonexistent", **(environ or {})}, cwd="/")
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert done.returncode == 0 or len(errors) == 1, done.stderr
    return Outcome(done.returncode, errors[0] if errors else "")


def install_sh_vars(*args: str) -> str:
    """The playbook's vars file install.sh writes for these options: its own parse_args and
    play_vars, the script sourced (no bundle, nothing verified or installed)."""
    done = subprocess.run(["bash", "-c", 'source "$1"; shift; parse_args --fingerprint - '
                           '--verify-only "$@"; play_vars; cat -- "$VARS_FILE"; rm -- "$VARS_FILE"',
                           "bash", str(REPO / "packaging" / "install.sh"), *args],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}, cwd="/")
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout


def verify(path: Path, fingerprint: str, *args: str) -> Outcome:
    """``appliance bundle verify`` in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = appliance(["bundle", "verify", str(path), "--fingerprint", fingerprint, *args])
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    return Outcome(code, errors[0] if errors else "")


def tree(folder: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every entry under ``folder``: kind, content (or link target), permission bits."""
    out = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(dirpath, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path), 0)
            elif path.is_file():
                out[rel] = ("file", path.read_bytes(), path.stat().st_mode & 0o777)
    return out
