"""Build coder-agent into the folder coderd serves at ``/bin/`` (``CODER_AGENT_BINARY_DIR``).

    .venv/bin/python packaging/build_agent.py [--out DIR] [--wrapper | --pyinstaller] [--force]

``--pyinstaller`` builds what ships: ``executables.py``'s coder-agent, one
``--onefile --strip`` executable (entries stored uncompressed; server/ and
coderd's dependencies excluded), cached there by the hash of what goes in, so
an unchanged agent is not rebuilt. ``--wrapper`` (the default, and what most
tests use) writes a shell script that execs this venv's Python with
``-m agent``: no build, but it only works on this machine. Either lands,
atomically, as ``DIR/coder-agent-linux-amd64`` (default ``.cache/agent-bin/``).

Run as a script (see build_provider.py: a ``packaging`` package would shadow PyPI's).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_provider import add_variant_options, write_executable  # noqa: E402
from executables import AGENT_NAME, REPO, BuildError  # noqa: E402

DEFAULT_OUT = REPO / ".cache" / "agent-bin"


def build(out: Path, variant: str = "wrapper") -> Path:
    """Write ``out/coder-agent-linux-amd64`` (always: copying a cached build is cheap)."""
    dest = out / AGENT_NAME
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agent-build-", dir=out) as tmp:
        built = Path(tmp) / dest.name
        write_executable(built, variant, "coder-agent", "agent")
        os.replace(built, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"Folder coderd serves agents from (default: {DEFAULT_OUT}).")
    add_variant_options(parser)
    args = parser.parse_args(argv)
    try:
        dest = build(args.out, args.variant)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dest}: {dest.stat().st_size} bytes ({args.variant})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
