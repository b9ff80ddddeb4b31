"""The provisioner tags a template asks for with ``data "coder_workspace_tags"``.

As Coder does (its tfparse ``WorkspaceTagDefaults`` at the version's creation, and its
wsbuilder at each build), each tag's value is evaluated from the template's HCL before any
job runs, so the job goes to a daemon with those tags: at creation with the variables'
values (given at push, else defaults) and the parameters' defaults, at a build with the
build's parameter values. Evaluated here: a literal, ``var.NAME`` and
``data.coder_parameter.NAME.value``; any other expression is refused with one line.
"""
from __future__ import annotations

import io
import re
import tarfile

from appliance.tfvariables import VariablesError, parse_hcl

REFERENCE = re.compile(r"^\$\{(?:var\.(?P<var>[\w-]+)|data\.coder_parameter\.(?P<param>[\w-]+)\.value)\}$")


class TagError(Exception):
    """A workspace tag this evaluator cannot compute; the message names it."""


def _root_sources(archive: bytes) -> dict[str, str]:
    """The ``.tf`` files of the archive's root module, by name."""
    sources = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("./")
            if member.isfile() and name.endswith(".tf") and "/" not in name:
                sources[name] = tar.extractfile(member).read().decode(errors="replace")
    return sources


def _parsed(sources: dict[str, str]) -> list[dict]:
    try:
        return [parse_hcl(text, name) for name, text in sources.items()]
    except VariablesError as exc:
        raise TagError(str(exc)) from None


def _blocks(docs: list[dict], section: str, type_name: str | None = None):
    for doc in docs:
        for entry in doc.get(section, []):
            for label, body in entry.items():
                if type_name is None:
                    yield label, body
                elif label == type_name:
                    yield from body.items()


def _text(value) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def workspace_tags(archive: bytes, variables: dict[str, str],
                   parameters: dict[str, str] | None = None) -> dict[str, str]:
    """The archive's workspace tags, evaluated; ``parameters`` (by parameter name) over the
    parameters' defaults."""
    sources = _root_sources(archive)
    # Parsed only when asked for: every build of every template comes through here.
    if not any("coder_workspace_tags" in text for text in sources.values()):
        return {}
    docs = _parsed(sources)
    tags_blocks = list(_blocks(docs, "data", "coder_workspace_tags"))
    if not tags_blocks:
        return {}
    values = {name: _text(body.get("default")) for name, body in _blocks(docs, "variable")}
    values.update(variables)
    defaults = {}
    for label, body in _blocks(docs, "data", "coder_parameter"):
        name = body.get("name", label)
        defaults[label] = (parameters or {}).get(name, _text(body.get("default")))
    found: dict[str, str] = {}
    for _, body in tags_blocks:
        for key, expr in (body.get("tags") or {}).items():
            found[key] = _evaluate(key, expr, values, defaults)
    return found


def _evaluate(key: str, expr, variables: dict[str, str], parameters: dict[str, str]) -> str:
    if not isinstance(expr, str) or "${" not in expr:
        return _text(expr)
    ref = REFERENCE.match(expr)
    if ref and ref["var"] in variables:
        return variables[ref["var"]]
    if ref and ref["param"] in parameters:
        return parameters[ref["param"]]
    raise TagError(f"workspace tag {key!r}: cannot evaluate {expr[2:-1]} (literals, var.NAME and "
                   "data.coder_parameter.NAME.value are)")
