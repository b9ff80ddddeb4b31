"""``python -m tests.compat [--check]``: rewrite docs/compatibility.md's tables, or with
``--check`` only say whether they are current (exit 1 when not)."""
from __future__ import annotations

import sys

from .generate import DOC, StaleReasons, build, render


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: python -m tests.compat [--check]", file=sys.stderr)
        return 2
    try:
        current = DOC.read_text()
        wanted = render(current, build())
    except (StaleReasons, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if wanted == current:
        print(f"{DOC.name} is current")
        return 0
    if argv:
        print(f"error: {DOC.name} is out of date: run ./dev compat", file=sys.stderr)
        return 1
    DOC.write_text(wanted)
    print(f"{DOC.name} rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
