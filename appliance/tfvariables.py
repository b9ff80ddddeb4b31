"""Terraform variables as Coder reads them: declared in a template, given at push.

Two readers of HCL share this module: a provisioner daemon reads a template's
``variable`` blocks at import (as Coder's ``provisioner/terraform/parse.go`` does
with terraform-config-inspect), and ``coder templates push`` reads the folder's
``terraform.tfvars`` files and ``--variables-file`` (YAML), as Coder's
``codersdk.ParseUserVariableValues`` does. HCL is parsed
by python-hcl2 (lark), not by hand: terraform has no command that prints a
module's variable declarations without first being given their values, and its
``show -json`` leaves out their types.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .sdk.provisionerd import TemplateVariable
from .sdk.types import VariableValue

AUTO_DISCOVERED = ("Auto-discovered Terraform tfvars files. Make sure to review and clean up "
                   "any unused files.")  # what Coder's push prints when it reads them


class VariablesError(Exception):
    """A variables file or declaration that cannot be read; one line, no value in it."""


def parse_hcl(text: str, source: str) -> dict:
    """An HCL file's top level as Python values (strings unquoted, heredocs as strings,
    anything that is not a literal as ``${...}``)."""
    import hcl2  # lazily: lark builds its parser at import, and most commands never need it
    from hcl2.utils import SerializationOptions
    from lark.exceptions import LarkError

    options = SerializationOptions(with_comments=False, explicit_blocks=False,
                                   preserve_heredocs=False, strip_string_quotes=True)
    try:
        return hcl2.loads(text, serialization_options=options)
    except LarkError as exc:
        where = f" at line {exc.line}" if getattr(exc, "line", None) else ""
        raise VariablesError(f"{source}: not valid HCL{where}") from None


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _unwrap(expression: Any) -> str:
    """A type expression as written: ``string``, ``list(string)``."""
    text = str(expression)
    return text[2:-1] if _is_expression(text) else text


def _as_text(value: Any) -> str:
    """A value as Coder stores it: a string as is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"),
                                                           sort_keys=True)


# --- a template's declarations (the provisioner, at import) ---------------------------

def template_variables(folder: Path) -> list[TemplateVariable]:
    """The root module's ``variable`` blocks, by file name then order, as Coder's Parse:
    required when there is no default (``default = null`` included), as Coder has it."""
    found: list[TemplateVariable] = []
    for path in sorted(p for p in folder.iterdir() if p.name.endswith((".tf", ".tf.json"))):
        text = path.read_text(errors="replace")
        if path.name.endswith(".json"):
            try:
                blocks = _json_variable_blocks(json.loads(text))
            except (ValueError, AttributeError):
                raise VariablesError(f"{path.name}: not a terraform JSON file") from None
        else:
            blocks = [b for entry in parse_hcl(text, path.name).get("variable", [])
                      for b in entry.items()]
        found.extend(_declaration(name, body) for name, body in blocks)
    return found


def _json_variable_blocks(document: dict) -> list[tuple[str, dict]]:
    declared = document.get("variable", {})
    return list(declared.items()) if isinstance(declared, dict) else []


def _declaration(name: str, body: dict) -> TemplateVariable:
    default = body.get("default")
    return TemplateVariable(
        name=name, description=str(body.get("description", "")),
        type=_unwrap(body["type"]) if "type" in body else "",
        default_value="" if default is None else _as_text(default),
        required=default is None, sensitive=body.get("sensitive") is True)


# --- values given at push (the CLI) ----------------------------------------------------

def discover_vars_files(folder: Path) -> list[Path]:
    """The files terraform itself would read, in Coder's order: terraform.tfvars,
    terraform.tfvars.json, then *.auto.tfvars and *.auto.tfvars.json by name."""
    first = [folder / n for n in ("terraform.tfvars", "terraform.tfvars.json")
             if (folder / n).is_file()]
    auto = sorted(p for p in folder.iterdir()
                  if p.name.endswith((".auto.tfvars", ".auto.tfvars.json")))
    return first + auto


def values_from_vars_files(paths: list[Path]) -> dict[str, str]:
    values: dict[str, str] = {}
    for path in paths:
        text = _read(path)
        values.update(_json_values(text, path.name) if path.name.endswith(".json")
                      else _hcl_values(text, path.name))
    return values


def _hcl_values(text: str, source: str) -> dict[str, str]:
    """Coder reads a .tfvars' strings, numbers and lists of strings; nothing else."""
    values = {}
    for name, value in parse_hcl(text, source).items():
        if isinstance(value, str) and not _is_expression(value):
            values[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values[name] = _as_text(value)
        elif isinstance(value, list) and all(isinstance(v, str) and not _is_expression(v)
                                             for v in value):
            values[name] = json.dumps(value, separators=(",", ":"))
        else:
            raise VariablesError(f"{source}: unsupported value type (name: {name}): only "
                                 "strings, numbers and lists of strings are read")
    return values


def _json_values(text: str, source: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise VariablesError(f"{source}: unable to parse JSON content: {exc}") from None
    if not isinstance(data, dict):
        raise VariablesError(f"{source}: unable to parse JSON content: not an object")
    return {k: ("true" if v is True else "false" if v is False else _as_text(v))
            for k, v in data.items()}


def values_from_yaml(path: Path) -> dict[str, str]:
    """``--variables-file``: a YAML map of names to values, each scalar read as its text
    (as Go's yaml does into a map of strings)."""
    import yaml

    try:
        data = yaml.load(_read(path), Loader=yaml.BaseLoader)  # every scalar a string
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise VariablesError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise VariablesError(f"{path}: expected a map of variable names to values")
    return data


def push_values(directory: Path | None, variables_file: Path | None, flags: dict[str, str],
                on_discovered: Callable[[], None] = lambda: None) -> list[VariableValue]:
    """What ``coder templates push`` (and ``coderd check-import``) give a version: the
    folder's tfvars files (read here: the upload leaves them out; ``on_discovered`` when
    there are some), then ``--variables-file``, then ``--variable``, a later one winning."""
    found = discover_vars_files(directory) if directory else []
    if found:
        on_discovered()
    return combine(values_from_vars_files(found),
                   values_from_yaml(variables_file) if variables_file else {}, flags)


def combine(*sets: dict[str, str]) -> list[VariableValue]:
    """Later sets win, as in Coder: tfvars files, then the YAML file, then the flags."""
    merged: dict[str, str] = {}
    for values in sets:
        merged.update(values)
    return [VariableValue(name=n, value=v) for n, v in sorted(merged.items())]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise VariablesError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None
