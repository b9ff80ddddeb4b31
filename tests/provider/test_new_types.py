"""The types of Coder's provider 2.17.0 added for its published templates: tasks, presets,
workspace tags, dev containers, external agents, secrets and ``is_prebuild_claim``.

Each is planned and applied by real terraform (``blank`` plus a case.tf), its state
read back, and its checks fail with Coder's messages.
"""
from __future__ import annotations

import pytest

from provider import contract

from tests.kit.provider import coder_env

TASK = "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
AGENT = """
resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
}
"""
AGENT_AND_APP = AGENT + """
resource "coder_app" "ai" {
  agent_id = coder_agent.main.id
  slug     = "ai"
}
"""


def apply(blank, config: str, env: dict) -> dict:
    blank.run_case(config, "apply", "-input=false", "-auto-approve", env=env)
    try:
        return blank.state()
    finally:
        blank.run_case(config, "destroy", "-input=false", "-auto-approve", env=env)


def plan_error(blank, config: str, env: dict | None = None) -> str:
    done = blank.run_case(config, "plan", "-input=false", env=env or coder_env(), check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    return " ".join((done.stdout + done.stderr).split())


def test_task_and_ai_task_read_the_task_coderd_runs(blank):
    config = AGENT_AND_APP + """
data "coder_task" "me" {}
resource "coder_ai_task" "task" {
  app_id = coder_app.ai.id
}
"""
    env = coder_env(**{contract.TASK_ID: TASK, contract.TASK_PROMPT: "fix the bug"})
    state = apply(blank, config, env)
    assert state["data.coder_task.me"] == {"id": TASK, "prompt": "fix the bug", "enabled": True}
    task = state["coder_ai_task.task"]
    assert (task["id"], task["enabled"], task["prompt"]) == (TASK, True, "fix the bug")
    assert task["app_id"] == state["coder_app.ai"]["id"]
    outside = apply(blank, config, coder_env())
    assert outside["data.coder_task.me"]["enabled"] is False
    assert outside["data.coder_task.me"]["prompt"] == ""
    assert outside["coder_ai_task.task"]["enabled"] is False


def test_ai_task_sidebar_app_is_deprecated_and_gives_app_id(blank):
    config = AGENT_AND_APP + """
resource "coder_ai_task" "task" {
  sidebar_app {
    id = coder_app.ai.id
  }
}
"""
    done = blank.run_case(config, "apply", "-input=false", "-auto-approve", env=coder_env())
    assert "This field has been deprecated in favor of the `app_id` field." in done.stdout
    state = blank.state()
    blank.run_case(config, "destroy", "-input=false", "-auto-approve", env=coder_env())
    assert state["coder_ai_task.task"]["app_id"] == state["coder_app.ai"]["id"]


@pytest.mark.parametrize("body, message", [
    ('app_id = "not-a-uuid"', 'expected "app_id" to be a valid UUID, got not-a-uuid'),
    ("", "'app_id' must be set"),
])
def test_ai_task_app_id_checks(blank, body, message):
    config = f'resource "coder_ai_task" "task" {{\n  {body}\n}}\n'
    done = blank.run_case(config, "apply", "-input=false", "-auto-approve", env=coder_env(),
                          check=False)
    assert done.returncode == 1
    assert message in done.stdout + done.stderr


def test_task_id_that_is_no_uuid_is_refused(blank):
    message = plan_error(blank, 'data "coder_task" "me" {}\n',
                         coder_env(**{contract.TASK_ID: "abc"}))
    assert "invalid UUID length: 3" in message


def test_preset_and_workspace_tags(blank):
    config = """
data "coder_workspace_preset" "dev" {
  name       = "Dev"
  parameters = { region = "eu", size = "large" }
  prebuilds {
    instances = 2
    expiration_policy {
      ttl = 86400
    }
    scheduling {
      timezone = "Europe/Paris"
      schedule {
        cron      = "* 8-18 * * 1-5"
        instances = 3
      }
    }
  }
}
data "coder_workspace_tags" "tags" {
  tags = { cluster = "eu-1" }
}
"""
    state = apply(blank, config, coder_env())
    preset = state["data.coder_workspace_preset.dev"]
    assert (preset["id"], preset["default"], preset["parameters"]) == (
        "Dev", False, {"region": "eu", "size": "large"})
    assert preset["prebuilds"][0]["scheduling"][0]["schedule"][0]["instances"] == 3
    assert state["data.coder_workspace_tags.tags"]["tags"] == {"cluster": "eu-1"}


@pytest.mark.parametrize("body, message", [
    ('name = ""', 'expected "name" to not be an empty string, got'),
    ('name = "a"\n parameters = { x = "" }', 'expected "parameters.x" to not be an empty string'),
    ('name = "a"\n prebuilds {\n instances = 1\n expiration_policy {\n ttl = 60\n }\n }',
     '"ttl" must be 0 or between 3600 and 31536000, got 60'),
    ('name = "a"\n prebuilds {\n instances = 1\n scheduling {\n timezone = "Mars/Base"\n'
     ' schedule {\n cron = "0 8 * * *"\n instances = 1\n }\n }\n }',
     'failed to load timezone "Mars/Base"'),
    ('name = "a"\n prebuilds {\n instances = 1\n scheduling {\n timezone = "UTC"\n'
     ' schedule {\n cron = "0 8 * * *"\n instances = 1\n }\n }\n }',
     "cron spec failed validation: minute field should be *"),
    ('name = "a"\n prebuilds {\n instances = 1\n scheduling {\n timezone = "UTC"\n'
     ' schedule {\n cron = "* 8-12 * * *"\n instances = 1\n }\n'
     ' schedule {\n cron = "* 10 * * 1"\n instances = 2\n }\n }\n }',
     "schedules overlap with each other: schedules overlap: * 8-12 * * * and * 10 * * 1"),
])
def test_preset_checks(blank, body, message):
    assert message in plan_error(blank, f'data "coder_workspace_preset" "p" {{\n {body}\n}}\n')


def test_devcontainer_and_external_agent(blank):
    config = AGENT + """
resource "coder_devcontainer" "dev" {
  agent_id         = coder_agent.main.id
  workspace_folder = "/home/coder/project"
}
resource "coder_external_agent" "ext" {
  agent_id = coder_agent.main.id
}
"""
    state = apply(blank, config, coder_env())
    dev = state["coder_devcontainer.dev"]
    assert dev["workspace_folder"] == "/home/coder/project" and dev["config_path"] is None
    assert len(dev["subagent_id"]) == 36 and dev["subagent_id"] != dev["id"]
    assert state["coder_external_agent.ext"]["agent_id"] == state["coder_agent.main"]["id"]
    message = plan_error(blank, config.replace('"/home/coder/project"', '""'))
    assert 'expected "workspace_folder" to not be an empty string' in message


def test_secret_reads_the_users_secret_and_requires_it_at_a_start_build(blank):
    config = """
data "coder_secret" "token" {
  env          = "MY_TOKEN"
  help_message = "Add a token in Settings"
}
data "coder_secret" "key" {
  file         = "~/.ssh/key"
  help_message = "Add your key"
}
output "values" {
  value     = [data.coder_secret.token.value, data.coder_secret.key.value]
  sensitive = true
}
"""
    env = coder_env(**{contract.secret_env("MY_TOKEN"): "t0k",
                       contract.secret_file("~/.ssh/key"): "k3y"})
    state = apply(blank, config, env)
    assert state["data.coder_secret.token"]["value"] == "t0k"
    assert (state["data.coder_secret.key"]["id"], state["data.coder_secret.key"]["value"]) == (
        "file:~/.ssh/key", "k3y")
    message = plan_error(blank, config)
    assert 'Missing required secret: environment variable "MY_TOKEN"' in message
    assert "Help message: Add a token in Settings" in message
    import_env = {k: v for k, v in coder_env().items() if k != contract.BUILD_ID}
    blank.run_case(config, "plan", "-input=false", env=import_env)


@pytest.mark.parametrize("body, message", [
    ('env = "1X"', '`env` must be a POSIX-compliant identifier matching "^[a-zA-Z_][a-zA-Z0-9_]*$"; got "1X"'),
    ('file = "rel/path"', '`file` must start with `/` or `~/`; got "rel/path"'),
    ('env = "A"\n file = "/x"', "exactly one of `env` or `file` must be set"),
])
def test_secret_checks(blank, body, message):
    config = f'data "coder_secret" "s" {{\n {body}\n help_message = "h"\n}}\n'
    assert message in plan_error(blank, config)


@pytest.mark.parametrize("claim, prebuild, expected", [
    ("true", "", (True, False, 0)),
    ("", "true", (False, True, 1)),
    ("TRUE", "true", (True, False, 0)),
    ("", "", (False, False, 0)),
])
def test_workspace_is_prebuild_claim(blank, claim, prebuild, expected):
    env = coder_env(**{contract.IS_PREBUILD_CLAIM: claim, contract.IS_PREBUILD: prebuild})
    state = apply(blank, 'data "coder_workspace" "me" {}\n', env)
    me = state["data.coder_workspace.me"]
    assert (me["is_prebuild_claim"], me["is_prebuild"], me["prebuild_count"]) == expected
