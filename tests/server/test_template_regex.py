"""A template's validation regex runs with RE2 semantics (security review finding 7).

Python's backtracking ``re`` took 9.5 s on ``^(a+)+$`` against 27 a's and a
'!', and froze every other request of the worker meanwhile.
"""
from __future__ import annotations

import time
import uuid

import pytest

from appliance.sdk import types
from appliance.sdk.client import APIError
from provider.parameter import validation_error

from tests.kit.coderd import create_another_user
from tests.kit.provisioning import make_template

PARAMS = [
    {"name": "nested", "default_value": "a", "validation_regex": "^(a+)+$",
     "validation_error": "only a's"},
    {"name": "backref", "default_value": "xx", "validation_regex": r"^(x)\1$",
     "validation_error": "a doubled x"},
]


@pytest.fixture(scope="module")
def template(shared_coderd, shared_owner):
    return make_template(shared_owner, shared_coderd.dsn, params=PARAMS, name="regex")


def _refusal(client, template, **values) -> tuple[APIError, float]:
    start = time.monotonic()
    with pytest.raises(APIError) as err:
        client.create_workspace(types.CreateWorkspaceRequest(
            name="w" + uuid.uuid4().hex[:8], template_id=template.id,
            rich_parameter_values=[types.WorkspaceBuildParameter(name=k, value=v)
                                   for k, v in values.items()]))
    return err.value, time.monotonic() - start


def test_pathological_regex_answers_promptly(shared_owner, template):
    member, _ = create_another_user(shared_owner)
    err, took = _refusal(member, template, nested="a" * 27 + "!", backref="")
    assert err.status == 400 and "only a's" in err.message, err.message
    assert took < 3, f"the regex check took {took:.1f} s"  # Python's re: 9.5 s


def test_regex_re2_cannot_run_is_a_clear_400(shared_owner, template):
    err, _ = _refusal(shared_owner, template, backref="xx")
    assert err.status == 400 and "'backref'" in err.message
    assert "RE2 cannot run" in err.message and "invalid escape sequence" in err.message


def test_provider_refuses_what_re2_cannot_compile():
    """At plan time, so a template with such a regex is refused at import, as Coder's is."""
    rule = {"regex": "^(?=a)", "error": "starts with a"}
    assert "invalid perl operator" in validation_error(rule, "string", "a", None)
    rule = {"regex": "^(a+)+$", "error": "only a's"}
    start = time.monotonic()
    assert validation_error(rule, "string", "a" * 27 + "!", None).startswith("only a's")
    assert time.monotonic() - start < 1
    assert validation_error(rule, "string", "aaa", None) is None
