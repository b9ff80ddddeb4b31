"""Configuration checks, with the messages Coder's provider (terraform-plugin-sdk) gives.

Every check skips a value that is still unknown (it is checked again once
known) or unset. Errors carry the attribute path, so terraform points at the
offending line of the template.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tf.types import Unknown
from tf.utils import Diagnostics

Path = list
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def known(value: Any) -> bool:
    return value is not None and value is not Unknown


def one_of(diags: Diagnostics, config: dict, name: str, choices: Iterable[str],
           path: Path | None = None) -> None:
    """``validation.StringInSlice``."""
    value = config.get(name)
    choices = list(choices)
    if known(value) and value not in choices:
        quoted = " ".join(f'"{c}"' for c in choices)
        diags.add_error(f"expected {name} to be one of [{quoted}], got {value}",
                        path=path or [name])


def at_least(diags: Diagnostics, config: dict, name: str, minimum: int,
             path: Path | None = None) -> None:
    """``validation.IntAtLeast``."""
    value = config.get(name)
    if known(value) and value < minimum:
        diags.add_error(f"expected {name} to be at least ({minimum}), got {_num(value)}",
                        path=path or [name])


def between(diags: Diagnostics, config: dict, name: str, low: int, high: int,
            path: Path | None = None) -> None:
    """``validation.IntBetween``."""
    value = config.get(name)
    if known(value) and not low <= value <= high:
        diags.add_error(f"expected {name} to be in the range ({low} - {high}), got {_num(value)}",
                        path=path or [name])


def matches(diags: Diagnostics, config: dict, name: str, pattern: str, message: str) -> None:
    """``validation.StringMatch``."""
    value = config.get(name)
    if known(value) and not re.search(pattern, value):
        diags.add_error(f"invalid value for {name} ({message})", path=[name])


def not_empty(diags: Diagnostics, config: dict, name: str, path: Path | None = None) -> None:
    """``validation.StringIsNotEmpty``."""
    if config.get(name) == "":
        diags.add_error(f'expected "{name}" to not be an empty string, got ', path=path or [name])


def length_between(diags: Diagnostics, config: dict, name: str, low: int, high: int) -> None:
    """``validation.StringLenBetween``."""
    value = config.get(name)
    if known(value) and not low <= len(value) <= high:
        diags.add_error(f"expected length of {name} to be in the range ({low} - {high}), got {value}",
                        path=[name])


def is_uuid(diags: Diagnostics, config: dict, name: str, path: Path | None = None) -> None:
    """``validation.IsUUID``."""
    value = config.get(name)
    if known(value) and not _UUID.match(value):
        diags.add_error(f'expected "{name}" to be a valid UUID, got {value}', path=path or [name])


def max_length(diags: Diagnostics, config: dict, name: str, limit: int, what: str) -> None:
    value = config.get(name)
    if known(value) and len(value) > limit:
        diags.add_error(f"{what} is too long (max {limit} characters)", path=[name])


def conflicts(diags: Diagnostics, config: dict, name: str, others: Iterable[str]) -> None:
    """``ConflictsWith``: set together with any of ``others`` (set meaning non-null)."""
    if not _set(config.get(name)):
        return
    for other in others:
        if _set(config.get(other)):
            diags.add_error(f'"{name}": conflicts with {other}', path=[name])


def unique_keys(diags: Diagnostics, items, what: str, block: str) -> None:
    """Coder's ``duplicate ... key`` check over a list block's ``key`` attributes."""
    if not known(items):
        return
    seen = set()
    for i, item in enumerate(items):
        key = item.get("key") if item is not Unknown else None
        if not known(key):
            continue
        if key in seen:
            diags.add_error(f"duplicate {what} key {quote(key)}", path=[block, (i,), "key"])
        seen.add(key)


def _set(value: Any) -> bool:
    """Set in the configuration: not null and, for a block, not absent."""
    return value is not None and value != []


def _num(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def quote(text: str) -> str:
    """Go's ``%q`` for ordinary strings."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

