"""The OpenAPI 3.0 document, generated from the route declarations."""
from __future__ import annotations

import functools
from typing import Any

from appliance.sdk import model, types

from .router import ROUTES

ERROR_STATUSES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
                  409: "Conflict", 413: "Body too large", 429: "Rate limited"}


@functools.lru_cache(maxsize=1)
def document(version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    error_ref = model.json_schema(types.Response, components)
    paths: dict[str, dict] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.openapi_path, s.method)):
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": f"{spec.method.lower()}{spec.openapi_path.replace('/', '_').replace('{', '').replace('}', '')}",
            "tags": [spec.tag],
            "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                           for name in _path_params(spec.openapi_path)]
            + [{"name": q.name, "in": "query", "required": False, "description": q.description,
                "schema": {"type": q.type}} for q in spec.query],
            "responses": {},
        }
        if spec.request is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": model.json_schema(spec.request, components)}}}
        if spec.status == 204:
            op["responses"]["204"] = {"description": "No content"}
        elif spec.response is dict:
            op["responses"][str(spec.status)] = {"description": "OK", "content": {
                spec.content_type: {"schema": {"type": "object"}}}}
        else:
            schema = model.json_schema(spec.response, components) if spec.response else {}
            op["responses"][str(spec.status)] = {"description": "OK", "content": {
                spec.content_type: {"schema": schema}}}
        for status, text in ERROR_STATUSES.items():
            if status == 401 and not spec.auth:
                continue
            op["responses"][str(status)] = {"description": text,
                                            "content": {"application/json": {"schema": error_ref}}}
        if spec.auth:
            op["security"] = [{"CoderSessionToken": []}]
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "Coder API (coder-appliance)", "version": version,
                 "description": "Coder's API v2 as served by coder-appliance."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"CoderSessionToken": {"type": "apiKey", "in": "header",
                                                      "name": "Coder-Session-Token"}},
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
