"""The example templates the appliance ships (``examples/templates``), read from their own
files: coderd serves them (``/templates/examples``) and ``coder templates init`` extracts
them, from this one list. Each README starts with Coder's front matter
(``display_name``, ``description``, ``icon``, ``tags``), the rest is its markdown."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# Beside the packages in a checkout, and where the executables' builds put it.
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples" / "templates"


@dataclass(frozen=True)
class Example:
    id: str
    name: str
    description: str
    icon: str
    tags: tuple[str, ...]
    markdown: str
    path: Path


def _front_matter(text: str) -> tuple[dict, str]:
    """(the YAML between the leading ``---`` lines, the markdown after them)."""
    if not text.startswith("---\n"):
        return {}, text
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        return {}, text
    meta = yaml.safe_load(head)
    return (meta if isinstance(meta, dict) else {}), body.lstrip("\n")


def load(path: Path) -> Example:
    readme = path / "README.md"
    meta, markdown = _front_matter(readme.read_text() if readme.is_file() else "")
    return Example(id=path.name, name=str(meta.get("display_name") or path.name),
                   description=str(meta.get("description") or ""), icon=str(meta.get("icon") or ""),
                   tags=tuple(str(t) for t in meta.get("tags") or ()), markdown=markdown, path=path)


def examples(root: Path = EXAMPLES_DIR) -> list[Example]:
    """Every example, by id; none when the folder is missing."""
    if not root.is_dir():
        return []
    return [load(d) for d in sorted(root.iterdir(), key=lambda d: d.name) if d.is_dir()]
