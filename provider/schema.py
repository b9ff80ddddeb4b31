"""Schemas written once and used three ways: sent to terraform, planned, validated.

A resource or data source declares its attributes (``Attr``) and nested
blocks (``Block``) in Coder's terms: required, optional (with the SDK's
``Default`` when Coder has one), computed. From that one declaration come
the tfplugin6 schema (through PyPI's ``tf`` package), the planned value of a
new object (defaults filled in, outputs unknown) and the comparison that
decides whether a change needs a replacement: every input of every Coder
resource is ``ForceNew``, so any changed input replaces the object.

An attribute with a default is *optional and computed* on the wire: a
provider may only put a value the configuration did not give into a
computed attribute, and terraform checks it does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tf import schema as tfs
from tf import types as tft
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown

STRING = tft.String()
NUMBER = tft.Number()
BOOL = tft.Bool()
STRING_MAP = tft.Map(STRING)
STRING_LIST = tft.List(STRING)


class Object(tft.TfType):
    """An object type (``object({name=string, ...})``), which ``tf`` lacks."""

    def __init__(self, **fields: tft.TfType):
        self.fields = fields

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def tf_type(self) -> bytes:
        inner = ",".join(f'"{k}":{t.tf_type().decode()}' for k, t in sorted(self.fields.items()))
        return f'["object",{{{inner}}}]'.encode()


@dataclass(frozen=True)
class Attr:
    name: str
    type: tft.TfType = STRING
    kind: str = "optional"      # "required" | "optional" | "computed"
    default: Any = None         # Coder's schema Default: filled in when unset
    sensitive: bool = False
    deprecated: str = ""        # Coder's Deprecated message: warned when set, as the SDK does
    description: str = ""
    computed: bool = False      # optional and computed: the provider fills it in when unset

    @property
    def is_input(self) -> bool:
        return self.kind != "computed"

    def to_tf(self) -> tfs.Attribute:
        return tfs.Attribute(
            self.name, self.type, description=self.description or None,
            required=self.kind == "required",
            optional=self.kind == "optional",
            computed=self.kind == "computed" or self.default is not None or self.computed,
            sensitive=self.sensitive, deprecated=bool(self.deprecated) or None)


def req(name: str, type_: tft.TfType = STRING, description: str = "") -> Attr:
    return Attr(name, type_, "required", description=description)


def opt(name: str, type_: tft.TfType = STRING, default: Any = None, description: str = "",
        deprecated: str = "", computed: bool = False) -> Attr:
    return Attr(name, type_, "optional", default, deprecated=deprecated, description=description,
                computed=computed)


def out(name: str, type_: tft.TfType = STRING, description: str = "",
        sensitive: bool = False) -> Attr:
    return Attr(name, type_, "computed", sensitive=sensitive, description=description)


_NESTING = {"list": pb.Schema.NestedBlock.NestingMode.LIST,
            "set": pb.Schema.NestedBlock.NestingMode.SET}


class _WireBlock(tfs.NestedBlock):
    """A nested block in list or set mode; values pass through as plain lists of dicts."""

    def __init__(self, spec: Block):
        super().__init__(spec.name, tfs.NestMode.Set, spec.tf_block(),
                         min_items=spec.min_items or None, max_items=spec.max_items or None)
        self.nesting = _NESTING[spec.nesting]

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(type_name=self.type_name, block=self.block.to_pb(),
                                     min_items=self.min_items, max_items=self.max_items,
                                     nesting=self.nesting)

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def semantically_equal(self, a_decoded, b_decoded) -> bool:
        return a_decoded == b_decoded


@dataclass(frozen=True)
class Block:
    name: str
    attrs: tuple[Attr, ...]
    blocks: tuple[Block, ...] = ()
    nesting: str = "list"
    min_items: int = 0
    max_items: int = 0
    description: str = ""

    def tf_block(self) -> tfs.Block:
        return tfs.Block(attributes=[a.to_tf() for a in self.attrs],
                         block_types=[_WireBlock(b) for b in self.blocks],
                         description=self.description or None)


@dataclass(frozen=True)
class Spec:
    """The schema of one resource or data source."""
    attrs: tuple[Attr, ...]
    blocks: tuple[Block, ...] = ()
    description: str = ""
    version: int = 1

    @cached_property
    def tf_schema(self) -> tfs.Schema:
        return tfs.Schema(version=self.version, attributes=[a.to_tf() for a in self.attrs],
                          block_types=[_WireBlock(b) for b in self.blocks],
                          description=self.description or None)

    def planned(self, config: dict, outputs: Any = Unknown) -> dict:
        """A new object from its configuration: defaults filled in, outputs set to ``outputs``."""
        return _fill(self.attrs, self.blocks, config, outputs)

    def conform(self, obj: dict) -> dict:
        """A stored object reshaped to this schema: unknown names dropped, missing ones null."""
        return _conform(self.attrs, self.blocks, obj)

    def warn_deprecated(self, diags, config: dict) -> None:
        """The SDK's warning for each deprecated argument the configuration sets to a known value."""
        for a in self.attrs:
            if a.deprecated and config.get(a.name) not in (None, Unknown):
                diags.add_warning("Argument is deprecated", a.deprecated, path=[a.name])

    def changed_inputs(self, prior: dict, new: dict) -> list[str]:
        """Top-level names whose inputs differ between the prior state and a new plan."""
        names = [a.name for a in self.attrs if a.is_input]
        changed = [n for n in names if _key(prior.get(n)) != _key(new.get(n))]
        for b in self.blocks:
            if _block_inputs(b, prior.get(b.name)) != _block_inputs(b, new.get(b.name)):
                changed.append(b.name)
        return changed


def _fill(attrs, blocks, config: dict, outputs: Any) -> dict:
    obj = {}
    for a in attrs:
        value = config.get(a.name)
        if value is None:
            value = a.default if a.default is not None else (
                outputs if not a.is_input or a.computed else None)
        obj[a.name] = value
    for b in blocks:
        items = config.get(b.name)
        if items is None:
            items = []
        obj[b.name] = items if items is Unknown else [
            item if item is Unknown else _fill(b.attrs, b.blocks, item, outputs) for item in items]
    return obj


def _conform(attrs, blocks, obj: dict) -> dict:
    out = {a.name: obj.get(a.name) for a in attrs}
    for b in blocks:
        out[b.name] = [_conform(b.attrs, b.blocks, item) for item in obj.get(b.name) or []]
    return out


def _block_inputs(b: Block, items) -> Any:
    if items is Unknown or items is None:
        return _key(items)
    keys = []
    for item in items:
        if item is Unknown:
            return _key(Unknown)
        inner = {a.name: _key(item.get(a.name)) for a in b.attrs if a.is_input}
        inner.update({c.name: _block_inputs(c, item.get(c.name)) for c in b.blocks})
        keys.append(json.dumps(inner, sort_keys=True))
    return sorted(keys) if b.nesting == "set" else keys


def _key(value: Any) -> Any:
    """A comparable form of a value; an unknown value never equals a known one."""
    if value is Unknown:
        return "\x00unknown"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=lambda v: "\x00unknown")
    return value
