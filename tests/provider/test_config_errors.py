"""Bad coder_* configuration is refused by ``terraform validate`` with Coder's messages."""
from __future__ import annotations

import pytest

AGENT = 'resource "coder_agent" "a" {\n  os = "linux"\n  arch = "amd64"\n%s\n}\n'
APP = 'resource "coder_app" "a" {\n  agent_id = "x"\n%s\n}\n'
# Coder's ParameterFormTypes, in its order.
FORM_TYPES = ('"radio" "slider" "input" "dropdown" "checkbox" "switch" "multi-select" '
              '"tag-select" "textarea" "error"')
SCRIPT = 'resource "coder_script" "a" {\n  agent_id = "x"\n  display_name = "s"\n  script = "true"\n%s\n}\n'


@pytest.mark.parametrize("config,message", [
    ('resource "coder_agent" "a" {\n  os = "plan9"\n  arch = "amd64"\n}\n',
     'expected os to be one of ["linux" "darwin" "windows"], got plan9'),
    (AGENT % '  auth = "password"', 'expected auth to be one of ["token"'),
    (AGENT % '  connection_timeout = -1', "expected connection_timeout to be at least (0), got -1"),
    (AGENT % ('  metadata {\n key = "k"\n script = "s"\n interval = 1\n }\n'
              '  metadata {\n key = "k"\n script = "t"\n interval = 1\n }'),
     'duplicate agent metadata key "k"'),
    (APP % '  slug = "Bad--Slug"', 'invalid "coder_app" slug, must be a valid hostname'),
    (APP % '  slug = "a"\n  share = "everyone"',
     'invalid app share "everyone", must be one of "owner", "authenticated", "public"'),
    (APP % '  slug = "a"\n  url = "http://localhost"\n  command = "ls"',
     '"command": conflicts with url'),
    (APP % '  slug = "a"\n  open_in = "popup"', 'invalid "coder_app" open_in value'),
    (SCRIPT % "", "at least one of `run_on_start`, `run_on_stop`, or `cron` must be set"),
    (SCRIPT % '  run_on_stop = true\n  start_blocks_login = true',
     "start_blocks_login can only be set if `run_on_start` is true"),
    (SCRIPT % '  cron = "every day"', "every day is not a valid cron expression"),
    ('resource "coder_env" "a" {\n  agent_id = "x"\n  name = "1BAD"\n}\n',
     "invalid value for name (must be a valid environment variable name)"),
    (('resource "coder_metadata" "a" {\n  resource_id = "x"\n  item {\n key = "k"\n }\n'
      '  item {\n key = "k"\n }\n}\n'), 'duplicate resource metadata key "k"'),
    ('data "coder_parameter" "p" {\n  name = "p"\n  type = "date"\n}\n',
     'expected type to be one of ["string" "number" "bool" "list(string)"], got date'),
    ('data "coder_parameter" "p" {\n  name = "p"\n  form_type = ""\n}\n',
     f'expected form_type to be one of [{FORM_TYPES}], got'),
    ('data "coder_parameter" "p" {\n  name = "p"\n  type = "list(string)"\n'
     '  form_type = "tag-input"\n}\n', f'expected form_type to be one of [{FORM_TYPES}], got tag-input'),
])
def test_refused(blank, config, message):
    done = blank.run_case(config, "validate", check=False)
    assert done.returncode == 1, done.stdout
    assert message in " ".join(done.stderr.split()), done.stderr


def test_build_without_template_fields_fails(blank):
    workspace = 'data "coder_workspace" "me" {}\n'
    done = blank.run_case(workspace, "plan", "-input=false", check=False,
                          env={"CODER_WORKSPACE_BUILD_ID": "c3e9a7b1-3333-4a5b-8d6e-9f0a1b2c3d30"})
    assert done.returncode == 1
    assert ("template ID is missing: CODER_WORKSPACE_TEMPLATE_ID is required"
            in " ".join(done.stderr.split())), done.stderr
    # A template import (no build ID) plans without them.
    blank.run_case(workspace, "plan", "-input=false")


@pytest.mark.parametrize("config,name", [
    (AGENT % "  login_before_ready = true", "login_before_ready"),
    (AGENT % "  startup_script_timeout = 300", "startup_script_timeout"),
    (AGENT % "  shutdown_script_timeout = 300", "shutdown_script_timeout"),
    (APP % '  slug = "a"\n  name = "App"', "name"),
    (APP % '  slug = "a"\n  relative_path = true', "relative_path"),
])
def test_arguments_coder_2_removed_are_refused(blank, config, name):
    done = blank.run_case(config, "validate", check=False)
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())
    assert ("Error: Unsupported argument" in said
            and f'An argument named "{name}" is not expected here.' in said), said


@pytest.mark.parametrize("name", ["owner", "owner_id", "owner_name", "owner_email",
                                  "owner_groups", "owner_session_token",
                                  "owner_oidc_access_token"])
def test_workspace_owner_fields_coder_2_removed_are_refused(blank, name):
    config = f'data "coder_workspace" "me" {{}}\noutput "o" {{\n  value = data.coder_workspace.me.{name}\n}}\n'
    done = blank.run_case(config, "validate", check=False)
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())
    assert "Unsupported attribute" in said and f'named "{name}"' in said, said


def warnings(done) -> str:
    return " ".join((done.stdout + done.stderr).split())


def test_agent_dir_is_deprecated_in_coders_words(blank):
    home = blank.run_case(AGENT % '  dir = "$HOME"', "validate")
    said = warnings(home)
    assert ("Warning: Argument is deprecated" in said and
            "dir has been deprecated and will be removed in a future release." in said), said
    assert "Coder Desktop" not in said
    elsewhere = warnings(blank.run_case(AGENT % '  dir = "/work"', "validate"))
    assert ('Warning: "dir" is deprecated and will be removed in a future release.' in elsewhere
            and 'Warning: Setting "dir" to a value other than $HOME will break Coder Desktop '
            'file sync.' in elsewhere and "Argument is deprecated" in elsewhere), elsewhere
    assert "deprecated" not in warnings(blank.run_case(AGENT % "", "validate"))
