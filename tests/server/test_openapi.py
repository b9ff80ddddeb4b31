"""The OpenAPI document is complete, valid, and fuzzing it finds no 500s."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from ..compat.surface import api_routes


def _flask_rules() -> set[tuple[str, str]]:
    return {(method.lower(), path) for method, path in api_routes()}


def test_every_route_is_in_the_document(shared_coderd):
    doc = requests.get(shared_coderd.url + "/api/v2/openapi.json", timeout=10).json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    missing = _flask_rules() - documented
    assert not missing, f"routes missing from openapi.json: {sorted(missing)}"
    assert documented - _flask_rules() == set()
    assert doc["openapi"].startswith("3.")
    create_user = doc["paths"]["/api/v2/users"]["post"]
    schema_ref = create_user["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"email", "username"}


def test_document_is_valid_openapi(shared_coderd):
    from openapi_spec_validator import validate

    validate(requests.get(shared_coderd.url + "/api/v2/openapi.json", timeout=10).json())


def test_fuzzing_finds_no_server_errors(shared_coderd, shared_owner, tmp_path):
    """schemathesis generates valid and invalid requests for every operation."""
    report = tmp_path / "report"
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run",
           f"{shared_coderd.url}/api/v2/openapi.json",
           "--checks", "not_a_server_error",
           "-H", f"Coder-Session-Token: {shared_owner.token}",
           # Logging out would end the session the fuzzer runs with.
           "--exclude-path", "/api/v2/users/logout",
           "--phases", "examples,coverage,fuzzing",
           # One worker: CPython 3.11 as these machines run it (3.11.2 in Debian 12, 3.11.7)
           # can raise "SystemError: AST constructor recursion depth mismatch" when two
           # threads compile() at once, as hypothesis does to describe its strategies
           # (CPython gh-106905); it failed two runs in three with two workers.
           "--max-examples", "25", "--workers", "1", "--request-timeout", "10",
           "--seed", "1", "--warnings", "off", "--report-dir", str(report),
           # How fast hypothesis makes data depends on the machine's load, not on coderd.
           "--suppress-health-check", "too_slow"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "500" not in re.findall(r"\b5\d\d\b", proc.stdout)
    assert " passed" in proc.stdout or "No issues found" in proc.stdout, proc.stdout[-3000:]
