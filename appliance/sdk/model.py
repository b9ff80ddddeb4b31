"""Typed request/response models shared by coderd and every client.

The server decodes the very dataclasses the SDK sends, like codersdk's structs
with ``json`` and ``validate`` tags. This is written here rather than taken
from pydantic to keep the agent and CLI binaries small and their start-up fast;
it does only what the API needs: decode JSON into dataclasses with per-field
validation errors, encode them back, and describe them as JSON Schema for the
OpenAPI document. Responses are serialized by orjson, which writes dataclasses,
UUIDs and times itself in C (what that saved a page of users:
docs/benchmarks.md, "coderd API").

Decoding follows Coder's API rules: unknown fields are ignored (clients speak
several API versions), optional fields accept ``null``, and the nil UUID
(``00000000-...``) in a UUID field counts as absent: Go's ``uuid.UUID`` is an
array, which ``omitempty`` never drops, so Coder's Go clients send the nil UUID
for "not set" (``template_version_id`` of a start build, say).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import sys
import types
import typing
import uuid
from typing import Any, Callable, Literal, get_args, get_origin, get_type_hints

import orjson

MISSING = dataclasses.MISSING
NIL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclasses.dataclass
class Validation:
    field: str
    detail: str


class DecodeError(ValueError):
    """The JSON does not fit the model; ``validations`` names each bad field."""

    def __init__(self, validations: list[Validation]):
        self.validations = validations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in validations))


def field(*, default: Any = MISSING, default_factory: Any = MISSING, pattern: str | None = None,
          min_len: int | None = None, max_len: int | None = None, minimum: float | None = None,
          maximum: float | None = None, fmt: str | None = None, doc: str = "") -> Any:
    """A dataclass field with validation rules carried in its metadata."""
    meta = {k: v for k, v in dict(pattern=pattern, min_len=min_len, max_len=max_len,
                                     minimum=minimum, maximum=maximum, fmt=fmt, doc=doc).items()
            if v not in (None, "")}
    kwargs: dict[str, Any] = {"metadata": meta}
    if default is not MISSING:
        kwargs["default"] = default
    if default_factory is not MISSING:
        kwargs["default_factory"] = default_factory
    return dataclasses.field(**kwargs)


_hints_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        module = sys.modules[cls.__module__]
        hints = get_type_hints(cls, vars(module))
        _hints_cache[cls] = hints
    return hints


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != len(get_args(tp)):
            return True, args[0] if len(args) == 1 else typing.Union[tuple(args)]
    return False, tp


def parse_time(value: str) -> dt.datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Go writes nanoseconds; Python takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


_ZERO = dt.timedelta(0)


def format_time(value: dt.datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    elif offset != _ZERO:
        value = value.astimezone(dt.timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


def _decode(tp: Any, value: Any, path: str, errors: list[Validation]) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        errors.append(Validation(path, "must not be null"))
        return None
    tp = inner
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            errors.append(Validation(path, "must be a boolean"))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            errors.append(Validation(path, "must be an integer"))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(Validation(path, "must be a number"))
        return value
    if tp is str:
        if not isinstance(value, str):
            errors.append(Validation(path, "must be a string"))
        return value
    if tp is uuid.UUID:
        try:
            return uuid.UUID(value) if isinstance(value, str) else _bad(path, "must be a UUID", errors)
        except ValueError:
            return _bad(path, "must be a UUID", errors)
    if tp is dt.datetime:
        try:
            return parse_time(value) if isinstance(value, str) else _bad(path, "must be an RFC 3339 time", errors)
        except ValueError:
            return _bad(path, "must be an RFC 3339 time", errors)
    if origin is Literal:
        if value not in get_args(tp):
            choices = ", ".join(repr(a) for a in get_args(tp))
            errors.append(Validation(path, f"must be one of {choices}"))
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            return _bad(path, f"must be one of {choices}", errors)
    if origin is list:
        if not isinstance(value, list):
            return _bad(path, "must be an array", errors)
        (item,) = get_args(tp) or (Any,)
        return [_decode(item, v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            return _bad(path, "must be an object", errors)
        _, item = get_args(tp) or (str, Any)
        return {k: _decode(item, v, f"{path}.{k}", errors) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            return _bad(path, "must be an object", errors)
        return _decode_object(tp, value, path + "." if path else "", errors)
    raise TypeError(f"unsupported model type {tp!r}")


def _bad(path: str, detail: str, errors: list[Validation]) -> None:
    errors.append(Validation(path, detail))
    return None


def _check_rules(f: dataclasses.Field, value: Any, path: str, errors: list[Validation]) -> None:
    meta = f.metadata
    if isinstance(value, str):
        if "min_len" in meta and len(value) < meta["min_len"]:
            errors.append(Validation(path, f"must be at least {meta['min_len']} characters"
                                     if meta["min_len"] > 1 else "must not be empty"))
        if "max_len" in meta and len(value) > meta["max_len"]:
            errors.append(Validation(path, f"must be at most {meta['max_len']} characters"))
        if "pattern" in meta and value and not re.fullmatch(meta["pattern"], value):
            errors.append(Validation(path, meta.get("doc") or f"must match {meta['pattern']}"))
        if meta.get("fmt") == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            errors.append(Validation(path, "must be a valid email address"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in meta and value < meta["minimum"]:
            errors.append(Validation(path, f"must be at least {meta['minimum']}"))
        if "maximum" in meta and value > meta["maximum"]:
            errors.append(Validation(path, f"must be at most {meta['maximum']}"))


def _decode_object(cls: type, data: dict, prefix: str, errors: list[Validation]) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        raw = data.get(f.name, MISSING)
        if raw == NIL_UUID and _is_optional(hints[f.name])[1] is uuid.UUID:
            raw = MISSING  # Go's zero uuid.UUID: "not set"
        if raw is MISSING or (raw is None and has_default):
            if not has_default:
                errors.append(Validation(path, "is required"))
            continue
        before = len(errors)
        value = _decode(hints[f.name], raw, path, errors)
        if len(errors) == before:
            _check_rules(f, value, path, errors)
        kwargs[f.name] = value
    if errors:
        return None
    return cls(**kwargs)


def decode(cls: type, data: Any) -> Any:
    """JSON value -> model instance; raises DecodeError naming every bad field."""
    errors: list[Validation] = []
    if not isinstance(data, dict):
        raise DecodeError([Validation("", "request body must be a JSON object")])
    result = _decode_object(cls, data, "", errors)
    if errors:
        raise DecodeError(errors)
    return result


def decode_value(tp: Any, data: Any) -> Any:
    """Like decode() for any annotated type (lists of models, say)."""
    errors: list[Validation] = []
    result = _decode(tp, data, "", errors)
    if errors:
        raise DecodeError(errors)
    return result


def _identity(value: Any) -> Any:
    return value


def _time_or_value(value: Any) -> Any:
    return format_time(value) if isinstance(value, dt.datetime) else value


def _for_annotation(tp: Any) -> Callable[[Any], Any]:
    """An encoder chosen from a field's annotation, so values need no type dispatch."""
    optional, inner = _is_optional(tp)
    if optional:
        enc = _for_annotation(inner)
        return enc if enc is _identity else (lambda v: None if v is None else enc(v))
    origin = get_origin(inner)
    if inner in (str, int, float, bool) or origin is Literal:
        return _identity
    if inner is uuid.UUID:
        return str
    if inner is dt.datetime:
        return _time_or_value
    if origin is list and get_args(inner):
        item = _for_annotation(get_args(inner)[0])
        return list if item is _identity else (lambda v: [item(i) for i in v])
    if dataclasses.is_dataclass(inner):
        return lambda v: _encoder_for(inner)(v) if type(v) is inner else encode(v)
    return encode


def _encoder_for(cls: type) -> Callable[[Any], Any]:
    encoder = _encoders.get(cls)
    if encoder is not None:
        return encoder
    if cls in (str, int, float, bool, type(None)):
        encoder = _identity
    elif dataclasses.is_dataclass(cls):
        hints = _hints(cls)
        fields = tuple((f.name, _for_annotation(hints[f.name])) for f in dataclasses.fields(cls))
        encoder = lambda v: {name: enc(getattr(v, name)) for name, enc in fields}  # noqa: E731
    elif issubclass(cls, (list, tuple)):
        encoder = lambda v: [encode(item) for item in v]  # noqa: E731
    elif issubclass(cls, dict):
        encoder = lambda v: {str(k): encode(item) for k, item in v.items()}  # noqa: E731
    elif issubclass(cls, uuid.UUID):
        encoder = str
    elif issubclass(cls, dt.datetime):
        encoder = format_time
    elif issubclass(cls, enum.Enum):
        encoder = lambda v: v.value  # noqa: E731
    else:
        encoder = _identity
    _encoders[cls] = encoder
    return encoder


_encoders: dict[type, Callable[[Any], Any]] = {}


# Times as format_time writes them: naive means UTC, and UTC is written "Z".
_ORJSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """Model instance (or list/dict of them) -> compact JSON, as encode() would give it."""
    return orjson.dumps(value, default=encode, option=_ORJSON_OPTIONS)


def encode(value: Any) -> Any:
    """Model instance (or list/dict of them) -> JSON-ready value.

    On every response's path: each type's encoder is chosen once, from the
    dataclass's annotations, and cached.
    """
    encoder = _encoders.get(type(value)) or _encoder_for(type(value))
    return encoder(value)


def json_schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for a model type; dataclasses go into ``components`` by name."""
    optional, inner = _is_optional(tp)
    schema = _schema(inner, components)
    if optional:
        schema = {**schema, "nullable": True} if "$ref" not in schema else {"allOf": [schema], "nullable": True}
    return schema


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(tp)
    simple = {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
              str: {"type": "string"}, uuid.UUID: {"type": "string", "format": "uuid"},
              dt.datetime: {"type": "string", "format": "date-time"}}
    if tp is Any:
        return {}
    if tp in simple:
        return dict(simple[tp])
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(tp))}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return {"type": "array", "items": json_schema(item, components)}
    if origin is dict:
        _, item = get_args(tp) or (str, Any)
        return {"type": "object", "additionalProperties": json_schema(item, components)}
    if dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in components:
            components[name] = {}  # placeholder breaks recursion
            hints = _hints(tp)
            props, required = {}, []
            for f in dataclasses.fields(tp):
                prop = json_schema(hints[f.name], components)
                meta = f.metadata
                rules = {"pattern": "pattern", "min_len": "minLength", "max_len": "maxLength",
                         "minimum": "minimum", "maximum": "maximum", "fmt": "format"}
                for key, out in rules.items():
                    if key in meta and "$ref" not in prop:
                        prop[out] = meta[key]
                if meta.get("doc"):
                    prop["description"] = meta["doc"]
                props[f.name] = prop
                if f.default is MISSING and f.default_factory is MISSING:
                    required.append(f.name)
            components[name] = {"type": "object", "properties": props}
            if required:
                components[name]["required"] = required
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"unsupported model type {tp!r}")
