"""Create a workspace from a template: Coder's ``/templates/{name}/workspace`` form.

The form is built from the active version's rich parameters as the API lists them
(``server.api.templates.parameter``), one control per Coder form type (text, textarea,
number, slider, checkbox, radio, dropdown, multi-select, tags), defaults filled in, the
template's presets offered. It is posted (CSRF, ``forms``) to the API's own
``create_workspace``, so the checks are the API's: its 400 names the field (a parameter's
name, or ``name``), and the message is shown beside it. On success, the workspace's page
(``/@{username}/{workspace}``). The form works without JavaScript; ``create_workspace.js``
only fills in the fields a chosen preset sets and gives the browser's own range check the
template's message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask import g, redirect

from appliance.sdk import types
from provider.parameter import ParameterError, form_type

from ..api.templates import parameter, preset, template_response
from ..api.users import user_param
from ..api.workspaces import create_workspace
from ..httpapi import APIError, decode
from ..httpmw import store
from . import readme
from .forms import read_form_pairs
from .pages import blueprint, page, signed_in
from .templatepages import icon_url, template_by_name

FIELD = "param."  # a parameter's field: param.NAME
PRESET_FIELD = "preset"


@dataclass(frozen=True)
class Field:
    """A parameter as the form shows it: its control, and the value (or values) in it."""
    param: types.TemplateVersionParameter
    control: str
    value: str
    chosen: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        return FIELD + self.param.name


def control(p: types.TemplateVersionParameter) -> str:
    """The form type Coder's dashboard would show (the version's, else the type's default)."""
    try:
        return form_type(p.type, bool(p.options), p.form_type)[1]
    except ParameterError:
        return "error"


def chosen_values(p: types.TemplateVersionParameter, value: str) -> tuple[str, ...]:
    """A list(string) value's items (for the checkboxes or the tags' lines)."""
    if p.type != "list(string)":
        return (value,)
    try:
        items = json.loads(value or "[]")
    except ValueError:
        return ()
    return tuple(i for i in items if isinstance(i, str)) if isinstance(items, list) else ()


def fields(params: list[types.TemplateVersionParameter], typed: dict[str, str]) -> list[Field]:
    out = []
    for p in params:
        value = typed.get(p.name, p.default_value)
        out.append(Field(p, control(p), value, chosen_values(p, value),
                         readme.render(p.description)))
    return out


def typed_values(params: list[types.TemplateVersionParameter],
                 pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each parameter's value as the API takes it, from the form's fields: a list(string)
    as a JSON array (its checkboxes' values, or its tags one a line), a checkbox's last
    value (a hidden ``false`` comes before it), a textarea's lines ended by LF, anything
    else as typed."""
    sent: dict[str, list[str]] = {}
    for key, value in pairs:
        if key.startswith(FIELD):
            sent.setdefault(key[len(FIELD):], []).append(value)
    out = {}
    for p in params:
        if p.name not in sent:
            continue
        values, kind = sent[p.name], control(p)
        if kind == "multi-select":
            out[p.name] = json.dumps(values)
        elif kind == "tag-select":
            out[p.name] = json.dumps([line.strip() for line in values[-1].splitlines() if line.strip()])
        elif kind == "textarea":  # a browser sends its lines ended by CRLF; Coder's by LF
            out[p.name] = values[-1].replace("\r\n", "\n")
        else:
            out[p.name] = values[-1]
    return out


def _form(row: dict):
    s = store()
    version_id = row["active_version_id"]
    params = [parameter(p) for p in s.get_template_version_parameters(version_id)]
    presets = [preset(p) for p in s.get_template_version_presets(version_id)]
    return params, presets


@blueprint.get("/templates/<name>/workspace")
@signed_in
def create_workspace_form(name: str):
    row = template_by_name(name)
    params, presets = _form(row)
    default = next((str(p.ID) for p in presets if p.Default), "")
    return _page(row, params, presets, 200, typed={}, workspace_name="", chosen_preset=default)


def _page(row: dict, params, presets, status: int, *, typed: dict[str, str], workspace_name: str,
          chosen_preset: str, errors: dict | None = None, error: str = ""):
    return page("create_workspace.html", status, template=template_response(row),
                icon=icon_url(row["icon"]),
                fields=fields(params, typed), presets=presets, chosen_preset=chosen_preset,
                preset_values={str(p.ID): {x.Name: x.Value for x in p.Parameters} for p in presets},
                workspace_name=workspace_name, errors=errors or {}, error=error)


@blueprint.post("/templates/<name>/workspace")
@signed_in
def create_workspace_post(name: str):
    pairs = read_form_pairs()
    row = template_by_name(name)
    params, presets = _form(row)
    typed = typed_values(params, pairs)
    form = dict(pairs)
    workspace_name = form.get("name", "")
    chosen_preset = form.get(PRESET_FIELD, "")
    try:
        req = decode(types.CreateWorkspaceRequest, {
            "name": workspace_name, "template_id": str(row["id"]),
            "template_version_preset_id": chosen_preset or None,
            "rich_parameter_values": [{"name": k, "value": v} for k, v in typed.items()]})
        made = create_workspace(req, user_param("me"), None)
    except APIError as exc:
        errors = {v.field: v.detail for v in exc.validations or ()}
        # The fields the page shows: an error elsewhere (a preset posted for a version
        # without presets) goes at the top of the form.
        shown = {"name", *(p.name for p in params)} | (
            {"template_version_preset_id"} if presets else set())
        return _page(row, params, presets, exc.status, typed=typed, workspace_name=workspace_name,
                     chosen_preset=chosen_preset, errors=errors,
                     error="" if shown & errors.keys() else exc.message)
    return redirect(f"/@{g.subject.name}/{made['name']}", code=303)
