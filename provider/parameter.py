"""``coder_parameter``: a value the workspace's user chooses, validated as Coder does.

The value comes from ``CODER_PARAMETER_<sha256 hex of the name>`` when coderd
sets it (even to ""), else from ``default``. It is checked against the
options, the ``validation`` block (range, regex, monotonicity against
``CODER_PARAMETER_PREVIOUS_<sha256 hex>``) and the type, with Coder's
messages, so a bad value fails the plan naming the parameter's block.
"""
from __future__ import annotations

import json
import os
import re
import uuid

from provider import checks, contract
from provider.checks import quote
from provider.template_regex import TemplateRegexError, compile_regex
from provider.objects import DataSource
from provider.schema import BOOL, NUMBER, Block, Spec, opt, out, req

TYPES = ("string", "number", "bool", "list(string)")
# Coder's ParameterFormTypes: "" is the schema default, resolved below, never a valid value.
FORM_TYPES = ("radio", "slider", "input", "dropdown", "checkbox", "switch", "multi-select",
              "tag-select", "textarea", "error")
# Coder's formTypeTruthTable: type -> has options -> allowed form types, the first the default.
_FORM_TYPE_TABLE = {
    "string": {True: ("radio", "dropdown"), False: ("input", "textarea")},
    "number": {True: ("radio", "dropdown"), False: ("input", "slider")},
    "bool": {True: ("radio", "dropdown"), False: ("checkbox", "switch")},
    "list(string)": {True: ("radio", "multi-select"), False: ("tag-select",)},
}
_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
DEFAULT_PATH = ["default"]


class ParameterError(Exception):
    def __init__(self, summary: str, detail: str = "", path: list | None = None):
        super().__init__(summary)
        self.summary, self.detail, self.path = summary, detail, path


def list_of_strings(value: str) -> list | None:
    """Go's ``json.Unmarshal`` into ``[]string``; None when it would fail."""
    try:
        items = json.loads(value)
    except ValueError:
        return None
    if items is None:
        return []
    if not isinstance(items, list) or not all(i is None or isinstance(i, str) for i in items):
        return None
    return [i or "" for i in items]


def type_error(typ: str, value: str) -> str | None:
    """Coder's ``valueIsType``."""
    if typ == "number":
        if not _FLOAT.match(value):
            return f"{quote(value)} is not a number"
    elif typ == "bool":
        if value not in _BOOLS:
            return f"{quote(value)} is not a bool"
    elif typ == "list(string)":
        if list_of_strings(value) is None:
            return f"value {quote(value)} is not a valid list of strings"
    elif typ != "string":
        return f"invalid type {quote(typ)}"
    return None


def form_type(param_type: str, has_options: bool, specified: str) -> tuple[str, str]:
    """Coder's ``ValidateFormType``: (type the options have, resolved form type)."""
    allowed = _FORM_TYPE_TABLE.get(param_type, {}).get(has_options, ())
    if not allowed:
        raise ParameterError("Invalid form_type for parameter",
                             f'"type" attribute={quote(param_type)} is not supported, choose one '
                             f'of [{" ".join(TYPES)}]', ["form_type"])
    specified = specified or allowed[0]
    if specified not in allowed:
        when = ""
        if specified in _FORM_TYPE_TABLE[param_type][not has_options]:
            when = " when options exist" if has_options else " when options do not exist"
        raise ParameterError("Invalid form_type for parameter",
                             f'"form_type" attribute={quote(specified)} is not supported for '
                             f'"type"={quote(param_type)}{when}, choose one of '
                             f'[{" ".join(allowed)}]', ["form_type"])
    if param_type == "list(string)" and specified == "multi-select":
        return "string", specified
    return param_type, specified


def render_error(error: str, lo: float | None, hi: float | None, value: str) -> str:
    """A number's ``validation.error`` with Coder's ``{min}``, ``{max}`` and ``{value}``
    filled in ("" when the template gave none)."""
    return (error.replace("{min}", str(int(lo or 0))).replace("{max}", str(int(hi or 0)))
            .replace("{value}", value)) if error else ""


def validation_error(rule: dict, typ: str, value: str, previous: str | None) -> str | None:
    """Coder's ``Validation.Valid``: what is wrong with ``value``, or None."""
    lo, hi = rule.get("min"), rule.get("max")
    monotonic, regex, error = rule.get("monotonic") or "", rule.get("regex") or "", rule.get("error") or ""
    if typ != "number":
        if lo is not None:
            return f"a min cannot be specified for a {typ} type"
        if hi is not None:
            return f"a max cannot be specified for a {typ} type"
        if monotonic:
            return f"monotonic validation can only be specified for number types, not {typ} types"
    if typ != "string" and regex:
        return f"a regex cannot be specified for a {typ} type"
    if typ == "bool" and value not in ("true", "false"):
        return 'boolean value can be either "true" or "false"'
    if typ == "string" and regex:
        try:
            pattern = compile_regex(regex)
        except TemplateRegexError as exc:
            return f"compile regex {quote(regex)}: {exc}"
        if not error:
            return "an error must be specified with a regex validation"
        if not pattern.search(value):
            return f"{error} (value {quote(value)} does not match {quote(regex)})"
    if typ == "number":
        rendered = render_error(error, lo, hi, value)
        if not _INT.match(value):
            return rendered or f"value {quote(value)} is not a number"
        num = int(value)
        if lo is not None and num < lo:
            return rendered or f"value {num} is less than the minimum {int(lo)}"
        if hi is not None and num > hi:
            return rendered or f"value {num} is more than the maximum {int(hi)}"
        if monotonic and monotonic not in ("increasing", "decreasing"):
            return 'number monotonicity can be either "increasing" or "decreasing"'
        if monotonic and previous is not None and _INT.match(previous):
            prev = int(previous)
            if monotonic == "increasing" and num < prev:
                return f"parameter value '{num}' must be equal or greater than previous value: {prev}"
            if monotonic == "decreasing" and num > prev:
                return f"parameter value '{num}' must be equal or lower than previous value: {prev}"
    if typ == "list(string)" and list_of_strings(value) is None:
        return f"value {quote(value)} is not valid list of strings"
    return None


def resolve(param: dict, given: str | None, previous: str | None) -> tuple[str, str]:
    """Coder's ``Parameter.ValidateInput``: (value, resolved form type) or ParameterError."""
    typ, default, options = param["type"], param.get("default"), param.get("option") or []
    rules = param.get("validation") or []
    value, path = given, None
    if given is None:
        value = default
        path = DEFAULT_PATH if default is not None else None
    option_type, resolved_form = form_type(typ, bool(options), param.get("form_type") or "")
    option_values = _option_values(options, option_type)
    if not rules and value is None:
        return "", resolved_form
    value = value or ""
    name = "Default value" if path == DEFAULT_PATH else "Value"
    if option_values:
        if typ == "list(string)" and option_type == "string":
            items = list_of_strings(value)
            if items is None:
                raise ParameterError("When using list(string) type, value must be a json encoded "
                                     "list of strings",
                                     f"value {quote(value)} is not a valid list of strings", path)
            missing = [i for i in items if i not in option_values]
            if missing:
                raise ParameterError(f"{name}s must be a valid option",
                                     f"{name} {quote(value)} is not a valid option, values "
                                     f"{quote(', '.join(missing))} are missing from the options", path)
        elif value not in option_values:
            extra = (". The value is empty, did you forget to set it with a default or from "
                     "user input?") if value == "" else ""
            raise ParameterError(f"{name} must be a valid option{extra}",
                                 f"the value {quote(value)} must be defined as one of options", path)
    if len(rules) == 1 and (why := validation_error(rules[0], typ, value, previous)):
        raise ParameterError(f"Invalid parameter {name.lower()} according to 'validation' block",
                             why, path)
    if why := type_error(typ, value):
        raise ParameterError(f"Parameter value is not of type {quote(typ)}", why)
    return value, resolved_form


def _option_values(options: list, option_type: str) -> set:
    names, values, errors = set(), set(), []
    for o in options:
        if o["name"] in names:
            raise ParameterError("Option names must be unique.",
                                 f"multiple options found with the same name {quote(o['name'])}")
        if o["value"] in values:
            raise ParameterError("Option values must be unique.",
                                 f"multiple options found with the same value {quote(o['value'])}")
        if why := type_error(option_type, o["value"]):
            errors.append(ParameterError(f"Option {quote(o['name'])} with value={quote(o['value'])} "
                                         f"is not of type {quote(option_type)}", why))
            continue
        names.add(o["name"])
        values.add(o["value"])
    if errors:
        raise errors[0]
    return values


class Parameter(DataSource):
    NAME = "parameter"
    SPEC = Spec(
        description="Use this data source to configure editable options for workspaces.",
        attrs=(
            out("id"),
            req("name", description="The name of the parameter; changing it re-prompts users."),
            opt("display_name", description="The name shown in the interface."),
            opt("description", description="Describe what this parameter does."),
            opt("type", default="string", description='"string", "number", "bool" or "list(string)".'),
            opt("form_type", default="", description="The input control the dashboard shows."),
            opt("styling", default="{}", description="JSON styling hints for the dashboard."),
            opt("mutable", BOOL, default=False, description="Whether it may change after creation."),
            opt("default", description="A default value for the parameter."),
            opt("icon", description="A URL to an icon for the dashboard."),
            opt("order", NUMBER, description="Position of the parameter in the UI and CLI."),
            opt("ephemeral", BOOL, default=False,
                description="The value is not kept between consecutive builds."),
            out("optional", BOOL, description="Whether the parameter has a default."),
            out("value", description="The parameter's value."),
        ),
        blocks=(
            Block("option", (req("name"), opt("description"), req("value"), opt("icon")),
                  description="A value for users to choose from."),
            Block("validation", (
                opt("min", NUMBER), out("min_disabled", BOOL), opt("max", NUMBER),
                out("max_disabled", BOOL), opt("monotonic"), opt("regex"), opt("error")),
                max_items=1, description="Validate the input of a parameter."),
        ))

    def check(self, diags, config):
        checks.one_of(diags, config, "type", TYPES)
        checks.one_of(diags, config, "form_type", FORM_TYPES)
        for rule in config.get("validation") or ():
            if checks.known(rule.get("regex")):
                for other in ("min", "max", "monotonic"):
                    if rule.get(other) is not None:
                        diags.add_error(f'"validation.0.regex": conflicts with validation.0.{other}',
                                        path=["validation", (0,), "regex"])

    def compute(self, diags, config, state):
        state["id"] = str(uuid.uuid4())
        state["optional"] = config.get("default") is not None
        for rule in state["validation"]:
            rule["min_disabled"] = rule.get("min") is None
            rule["max_disabled"] = rule.get("max") is None
        if state["ephemeral"] and not state["mutable"]:
            diags.add_error("parameter can't be immutable and ephemeral")
            return
        if state["ephemeral"] and not state["optional"]:
            diags.add_error("ephemeral parameter requires the default property")
            return
        given = os.environ.get(contract.parameter(state["name"]))
        previous = os.environ.get(contract.parameter_previous(state["name"]))
        try:
            state["value"], state["form_type"] = resolve(state, given, previous)
        except ParameterError as exc:
            diags.add_error(exc.summary, exc.detail, path=exc.path)
