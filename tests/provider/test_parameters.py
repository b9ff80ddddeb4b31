"""coder_parameter values from CODER_PARAMETER_<sha256>, checked as Coder checks them.

A bad value fails ``terraform plan`` with Coder's message, pointing at the
parameter's data source block.
"""
from __future__ import annotations

import json

import pytest

from provider import contract

from tests.kit.provider import coder_env


@pytest.fixture(scope="module")
def params(tmp_path_factory, mirror, tf_home):
    from tests.kit.provider import Terraform
    tf = Terraform(tmp_path_factory.mktemp("params") / "tf", mirror, "params", tf_home)
    tf.init()
    return tf


def param_env(**values: str) -> dict:
    """coderd's environment with exactly these parameter values set."""
    env = {k: v for k, v in coder_env().items() if not k.startswith("CODER_PARAMETER_")}
    return {**env, **{contract.parameter(k): v for k, v in values.items()}}


def plan(tf, **values: str):
    return tf.run("plan", "-input=false", env=param_env(**values), check=False)


def outputs(tf, **values: str) -> dict:
    env = param_env(**values)
    tf.run("apply", "-input=false", "-auto-approve", env=env)
    return json.loads(tf.run("output", "-json").stdout)["values"]["value"]


def test_defaults_and_given_values(params):
    assert outputs(params) == {"region": "eu", "cpus": "2", "disk": "10", "project": "demo",
                               "gpu": "false", "tools": '["git"]'}
    assert outputs(params, region="us", cpus="8", disk="100", project="a-1", gpu="true",
                   tools='["make","git"]') == {
        "region": "us", "cpus": "8", "disk": "100", "project": "a-1", "gpu": "true",
        "tools": '["make","git"]'}


@pytest.mark.parametrize("name,value,message", [
    ("region", "mars", ['Error: Value must be a valid option',
                        'the value "mars" must be defined as one of options']),
    ("region", "", [("Value must be a valid option. The value is empty, did you forget to set "
                     "it with a default or from user input?")]),
    ("cpus", "0", ["Invalid parameter value according to 'validation' block",
                   "value 0 is less than the minimum 1"]),
    ("cpus", "9", ["value 9 is more than the maximum 8"]),
    ("cpus", "two", ['value "two" is not a number']),
    ("disk", "5", ["disk must be 10 to 100 GB, not 5"]),
    ("project", "Bad_Name", ["Invalid parameter value according to 'validation' block",
                             ('lowercase letters, digits and dashes (value "Bad_Name" does '
                              'not match "^[a-z][a-z0-9-]*$")')]),
    ("gpu", "maybe", ['Parameter value is not of type "bool"', '"maybe" is not a bool']),
    ("tools", '["git","cmake"]', ["Values must be a valid option",
                                  'values "cmake" are missing from the options']),
    ("tools", "git", [("When using list(string) type, value must be a json encoded list of "
                       "strings")]),
])
def test_bad_value_fails_the_plan_naming_the_parameter(params, name, value, message):
    done = plan(params, **{name: value})
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())  # terraform wraps long lines
    for part in message:
        assert part in said, done.stderr
    assert f'data.coder_parameter.{name}' in done.stderr


def test_monotonic_against_the_previous_value(params):
    env = {**param_env(cpus="3"), contract.parameter_previous("cpus"): "4"}
    done = params.run("plan", "-input=false", env=env, check=False)
    assert done.returncode == 1
    assert "parameter value '3' must be equal or greater than previous value: 4" in done.stderr
    env[contract.parameter("cpus")] = "4"
    params.run("plan", "-input=false", env=env)


def parameter_block(typ: str, options: bool, form: str | None) -> str:
    """A coder_parameter of ``typ``, with two options or none, and ``form_type`` if given."""
    default = {"bool": "true", "number": "1", "string": "a",
               "list(string)": '["a"]'}[typ]
    values = {"bool": ("true", "false"), "number": ("1", "2"), "string": ("a", "b"),
              "list(string)": ('["a"]', '["b"]')}[typ]
    lines = ['  name = "p"', f'  type = "{typ}"', f"  default = {json.dumps(default)}"]
    if form is not None:
        lines.append(f'  form_type = "{form}"')
    if options:
        lines += [f"  option {{\n    name = \"o{i}\"\n    value = {json.dumps(v)}\n  }}"
                  for i, v in enumerate(values)]
    return 'data "coder_parameter" "p" {\n' + "\n".join(lines) + "\n}\n"


@pytest.mark.parametrize("typ,options,form,resolved", [
    ("list(string)", False, None, "tag-select"),
    ("list(string)", False, "tag-select", "tag-select"),
    ("list(string)", True, None, "radio"),
    ("bool", True, "dropdown", "dropdown"),
    ("bool", True, None, "radio"),
    ("bool", False, None, "checkbox"),
    ("number", False, "slider", "slider"),
    ("string", False, "textarea", "textarea"),
])
def test_form_type_resolved_as_coder_does(blank, typ, options, form, resolved):
    config = parameter_block(typ, options, form) + (
        'output "form" {\n  value = data.coder_parameter.p.form_type\n}\n')
    blank.run_case(config, "apply", "-input=false", "-auto-approve", env=coder_env())
    assert json.loads(blank.run("output", "-json").stdout)["form"]["value"] == resolved


@pytest.mark.parametrize("typ,options,form,detail", [
    ("list(string)", False, "multi-select", '"form_type" attribute="multi-select" is not '
     'supported for "type"="list(string)" when options do not exist, choose one of [tag-select]'),
    ("string", True, "input", '"form_type" attribute="input" is not supported for '
     '"type"="string" when options exist, choose one of [radio dropdown]'),
    ("bool", False, "dropdown", '"form_type" attribute="dropdown" is not supported for '
     '"type"="bool" when options do not exist, choose one of [checkbox switch]'),
    ("number", False, "textarea", '"form_type" attribute="textarea" is not supported for '
     '"type"="number", choose one of [input slider]'),
])
def test_form_type_refused_with_coders_words(blank, typ, options, form, detail):
    done = blank.run_case(parameter_block(typ, options, form), "plan", "-input=false",
                          env=coder_env(), check=False)
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())
    assert "Error: Invalid form_type for parameter" in said and detail in said, done.stderr
