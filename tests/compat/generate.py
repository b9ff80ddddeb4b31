"""Build docs/compatibility.md's tables from the reference, the code and the reasons."""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import surface

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "compatibility.md"
BEGIN = "<!-- BEGIN GENERATED: python -m tests.compat (./dev compat); do not edit by hand -->"
END = "<!-- END GENERATED -->"
NOT_YET = "Not implemented yet."
KIND_TITLES = {"core": "Coder's commands (open-source edition)",
               "enterprise": "Enterprise/Premium commands",
               "server": "Server-side commands (Coder's `coder server ...`)"}


class StaleReasons(Exception):
    """reasons.toml names something that does not exist, or a reason that no longer holds."""


@dataclass(frozen=True)
class Row:
    name: str     # as Coder's reference writes it
    status: str   # yes, differs or no
    note: str


def reference(path: Path) -> list[tuple[str, str]]:
    """(first word, rest) of each data line of a reference file."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [tuple(line.split(" ", 1)) for line in lines if line and not line.startswith("#")]


def load_reasons(path: Path = HERE / "reasons.toml") -> dict:
    return tomllib.loads(path.read_text())


def rows(names: list[str], implemented: set[str], reasons: dict, key=lambda n: n) -> list[Row]:
    """One row per reference name; ``key`` turns a name into what ``implemented`` holds."""
    out = []
    for name in names:
        if key(name) in implemented:
            note = _reason(reasons.get("differs", {}), name)
            out.append(Row(name, "differs" if note else "yes", note or ""))
        else:
            out.append(Row(name, "no", _reason(reasons.get("missing", {}), name) or NOT_YET))
    return out


def _reason(table: dict[str, str], name: str) -> str | None:
    """The reason whose key is the name itself or, failing that, the longest pattern matching it."""
    keys = sorted((k for k in table if fnmatch.fnmatchcase(name, k)), key=lambda k: (k != name, -len(k)))
    return table[keys[0]] if keys else None


def stale(section: str, names: list[str], implemented: set[str], reasons: dict,
          extras: list[str], key=lambda n: n) -> list[str]:
    """Reasons that no longer hold: each names something, and says something true of it."""
    problems = []
    for kind, wanted in (("missing", False), ("differs", True)):
        for pattern in reasons.get(kind, {}):
            matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                problems.append(f"{section}.{kind} {pattern!r} names nothing in Coder's reference")
            elif not any((key(n) in implemented) == wanted for n in matched):
                now = "is implemented" if not wanted else "is not implemented"
                problems.append(f"{section}.{kind} {pattern!r} {now}: remove or move the reason")
    for pattern in reasons.get("extra", {}):
        if not any(fnmatch.fnmatchcase(e, pattern) for e in extras):
            problems.append(f"{section}.extra {pattern!r} names none of the appliance's own")
    return problems


def build(reasons: dict | None = None) -> str:
    """The generated block of docs/compatibility.md; StaleReasons if a reason went stale."""
    reasons = load_reasons() if reasons is None else reasons
    cmd_reasons, api_reasons = reasons.get("commands", {}), reasons.get("endpoints", {})
    cli_ref = reference(HERE / "coder_cli.txt")
    api_ref = list(dict.fromkeys(" ".join(r) for r in reference(HERE / "coder_api.txt")))
    commands = surface.commands()
    endpoints = surface.endpoints()
    cli_names = [path for _, path in cli_ref]
    shaped = {surface.shape(e) for e in api_ref}
    extra_cmds = sorted(typed for path, typed in commands.items() if path not in cli_names)
    extra_api = sorted(typed for e, typed in endpoints.items() if e not in shaped)
    problems = stale("commands", cli_names, set(commands), cmd_reasons, extra_cmds)
    problems += stale("endpoints", api_ref, set(endpoints), api_reasons, extra_api, key=surface.shape)
    if problems:
        raise StaleReasons("; ".join(problems))
    by_kind = {kind: rows([p for k, p in cli_ref if k == kind], set(commands), cmd_reasons)
               for kind in KIND_TITLES}
    api_rows = rows(api_ref, set(endpoints), api_reasons, key=surface.shape)
    core, api_done = by_kind["core"], _done(api_rows)
    out = [BEGIN, "",
           f"**{_done(core)} of {len(core)} commands, {api_done} of {len(api_rows)} endpoints** "
           f"of Coder's open-source edition ({_count(core, 'differs')} commands and "
           f"{_count(api_rows, 'differs')} endpoints of them with a difference noted); "
           + ", ".join(f"{_done(by_kind[k])} of {len(by_kind[k])} {t.split(' (')[0].lower()}"
                       for k, t in KIND_TITLES.items() if k != "core") + "."]
    for kind, title in KIND_TITLES.items():
        out += _table(f"### {title}", "command", by_kind[kind], code=True)
    out += _table("### API v2 endpoints (open-source edition)", "endpoint", api_rows, code=True)
    out += ["", "### The appliance's own commands", "",
            "Not in Coder's reference: the appliance's own programs and additions.", "",
            "| command | why |", "|---|---|"]
    out += [f"| `{c}` | {_reason(cmd_reasons.get('extra', {}), c) or ''} |" for c in extra_cmds]
    out += ["", "### The appliance's own endpoints", "", "| endpoint | why |", "|---|---|"]
    out += [f"| `{e}` | {_reason(api_reasons.get('extra', {}), e) or ''} |" for e in extra_api]
    return "\n".join(out + ["", END])


def _done(table: list[Row]) -> int:
    return sum(r.status != "no" for r in table)


def _count(table: list[Row], status: str) -> int:
    return sum(r.status == status for r in table)


def _table(title: str, what: str, table: list[Row], code: bool) -> list[str]:
    lines = ["", title, "", f"{_done(table)} of {len(table)}.", "",
             f"| {what} | status | note |", "|---|---|---|"]
    return lines + [f"| `{r.name}` | {r.status} | {r.note} |" for r in table]


def render(document: str, block: str) -> str:
    """The document with the text between the markers replaced by ``block``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC.name} lacks the markers {BEGIN!r} and {END!r}")
    return document[:start] + block + document[end + len(END):]
