"""Read the routes out of a Go file that declares them with go-chi (Coder's coderd/coderd.go).

Used once per reference update, on a saved copy of the file, to rebuild ``coder_api.txt``:

    python -m tests.compat.chi_routes coderd.go > tests/compat/coder_api.txt.new

A Go parser would be exact, but none is among this project's dependencies and the router
is written in a narrow style: ``r.Route("/p", func(r chi.Router) {``, ``r.Group(func(r
chi.Router) {``, ``r.Get("/p", ...)`` (also after ``r.With(...)``) and ``r.Method("GET",
"/p", ...)``. Braces are matched outside strings and comments, so a route's prefix ends
where its function does.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROUTE = re.compile(r'\br\.Route\(\s*"([^"]*)"\s*,\s*func\s*\(\s*r\s+chi\.Router\s*\)\s*\{')
GROUP = re.compile(r'\br\.Group\(\s*func\s*\(\s*r\s+chi\.Router\s*\)\s*\{')
VERB = re.compile(r'(?:\br|\))\.(Get|Post|Put|Patch|Delete)\(\s*"([^"]*)"')
METHOD = re.compile(r'\br\.Method\(\s*"([A-Z]+)"\s*,\s*"([^"]*)"')


def routes(source: str, under: str = "/api/v2") -> list[str]:
    """``METHOD PATH`` for every route whose path starts with ``under``, in file order."""
    found: list[str] = []
    stack: list[str] = []  # one entry per open brace: the path prefix it adds ("" for most)
    i = 0
    while i < len(source):
        c = source[i]
        if source.startswith("//", i):
            i = _past(source, "\n", i)
            continue
        if source.startswith("/*", i):
            i = _past(source, "*/", i + 2)
            continue
        if c in "\"`'":
            i = _string_end(source, i)
            continue
        opened = ROUTE.match(source, i) or GROUP.match(source, i)
        if opened:
            stack.append(opened.group(1) if opened.re is ROUTE else "")
            i = opened.end()
            continue
        call = VERB.match(source, i) or METHOD.match(source, i)
        if call:
            method, path = call.groups()
            full = _join("".join(stack), path)
            if full == under or full.startswith(under + "/"):
                found.append(f"{method.upper()} {full}")
            i = call.end()
            continue
        if c == "{":
            stack.append("")
        elif c == "}" and stack:
            stack.pop()
        i += 1
    return found


def _past(source: str, end: str, start: int) -> int:
    """The index just past the next ``end`` from ``start`` (the text's end if there is none)."""
    at = source.find(end, start)
    return len(source) if at < 0 else at + len(end)


def _string_end(source: str, start: int) -> int:
    """The index just past the Go string or rune literal opening at ``start``."""
    quote = source[start]
    i = start + 1
    while i < len(source) and source[i] != quote:
        i += 2 if source[i] == "\\" and quote != "`" else 1
    return i + 1


def _join(prefix: str, path: str) -> str:
    """chi's joining: "/a" + "/" is "/a", a route's own "/" adds nothing."""
    full = (prefix + path).replace("//", "/")
    return full.rstrip("/") if len(full) > 1 else full


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.compat.chi_routes CODERD_GO", file=sys.stderr)
        return 2
    try:
        source = Path(argv[0]).read_text()
    except OSError as exc:
        print(f"error: cannot read {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    print("\n".join(routes(source)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
