"""Build coder-agent into the folder coderd serves at ``/bin/`` (``CODER_AGENT_BINARY_DIR``).

    .venv/bin/python packaging/build_agent.py [--out DIR] [--wrapper | --pyinstaller] [--force]

``--pyinstaller`` builds what ships: one ``--onefile --strip`` executable
(``coder-agent.spec``: entries stored uncompressed, ``server/`` and coderd's
dependencies excluded). ``--wrapper`` (the default, and what most tests use)
writes a shell script that execs this venv's Python with ``-m agent``: no
build, but it only works on this machine. Either lands, atomically, as
``DIR/coder-agent-linux-amd64`` (default ``.cache/agent-bin/``); PyInstaller
builds are cached by the hash of the agent's and the SDK's sources under
``.cache/agent-build/``, so an unchanged agent is not rebuilt.

Run as a script (see build_provider.py: a ``packaging`` package would shadow
PyPI's). The build helpers are build_provider's, shared.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_provider import (REPO, BuildError, add_variant_options,  # noqa: E402
                            build_pyinstaller, source_hash, write_wrapper)

DEFAULT_OUT = REPO / ".cache" / "agent-bin"
BUILD_CACHE = REPO / ".cache" / "agent-build"
SPEC = REPO / "packaging" / "coder-agent.spec"
PLATFORM = "linux-amd64"
PACKAGES = ("agent", "appliance")


def build(out: Path, variant: str = "wrapper", force: bool = False) -> Path:
    """Write ``out/coder-agent-linux-amd64``; return its path."""
    dest = out / f"coder-agent-{PLATFORM}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agent-build-", dir=out) as tmp:
        built = Path(tmp) / dest.name
        if variant == "pyinstaller":
            digest = source_hash(variant, SPEC, PACKAGES)
            if force:
                digest += "-forced"
            build_pyinstaller(built, digest, SPEC, BUILD_CACHE, "coder-agent")
        else:
            write_wrapper(built, "agent", "coder-agent")
        os.replace(built, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"Folder coderd serves agents from (default: {DEFAULT_OUT}).")
    add_variant_options(parser)
    args = parser.parse_args(argv)
    try:
        dest = build(args.out, args.variant, args.force)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dest}: {dest.stat().st_size} bytes ({args.variant})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
