"""The provisioner tags a template asks for with ``data "coder_workspace_tags"``.

As Coder does (its tfparse ``WorkspaceTagDefaults`` at the version's creation, and its
wsbuilder at each build), each tag's value is computed from the template's HCL before any
job runs, so the job goes to a daemon with those tags. The HCL is read once, when the
version is made (``tag_expressions``): a literal or ``var.NAME`` (with the values given at
push, else the defaults) becomes its value, ``data.coder_parameter.NAME.value`` the
parameter's name and default; any other expression is refused with one line. The version
keeps that, and a build only fills in its parameter values (``evaluate``).
"""
from __future__ import annotations

import re

from appliance import archives
from appliance.tfvariables import VariablesError, parse_hcl

from ..files import LIMITS

REFERENCE = re.compile(r"^\$\{(?:var\.(?P<var>[\w-]+)|data\.coder_parameter\.(?P<param>[\w-]+)\.value)\}$")


class TagError(Exception):
    """A workspace tag this evaluator cannot compute; the message names it."""


def _root_sources(archive: bytes) -> dict[str, str]:
    """The ``.tf`` files of the archive's root module, by name (read by the rules and limits
    the upload was checked by)."""
    sources = {}
    for _, path, reader in archives.members(archive, LIMITS):
        if reader is not None and path.endswith(".tf") and "/" not in path:
            sources[path] = reader.read().decode(errors="replace")
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


def tag_expressions(archive: bytes, variables: dict[str, str]) -> dict[str, dict]:
    """What the archive's workspace tags need at a build, by tag: ``{"value": TEXT}``, or
    ``{"parameter": NAME, "default": TEXT}``; empty for a template without tags."""
    sources = _root_sources(archive)
    if not any("coder_workspace_tags" in text for text in sources.values()):
        return {}  # not parsed: most templates have none, and the parser has quirks
    docs = _parsed(sources)
    values = {name: _text(body.get("default")) for name, body in _blocks(docs, "variable")}
    values.update(variables)
    parameters = {label: {"parameter": body.get("name", label),
                          "default": _text(body.get("default"))}
                  for label, body in _blocks(docs, "data", "coder_parameter")}
    return {key: _expression(key, expr, values, parameters)
            for _, body in _blocks(docs, "data", "coder_workspace_tags")
            for key, expr in (body.get("tags") or {}).items()}


def evaluate(expressions: dict[str, dict], parameters: dict[str, str]) -> dict[str, str]:
    """The tags for a build with ``parameters`` (by parameter name; defaults for the rest)."""
    return {key: e["value"] if "value" in e else parameters.get(e["parameter"], e["default"])
            for key, e in expressions.items()}


def _expression(key: str, expr, variables: dict[str, str], parameters: dict[str, dict]) -> dict:
    if not isinstance(expr, str) or "${" not in expr:
        return {"value": _text(expr)}
    ref = REFERENCE.match(expr)
    if ref and ref["var"] in variables:
        return {"value": variables[ref["var"]]}
    if ref and ref["param"] in parameters:
        return parameters[ref["param"]]
    raise TagError(f"workspace tag {key!r}: cannot evaluate {expr[2:-1]} (literals, var.NAME and "
                   "data.coder_parameter.NAME.value are)")
