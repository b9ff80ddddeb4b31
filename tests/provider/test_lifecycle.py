"""A template using every resource and data source: init, plan, apply, stop, destroy."""
from __future__ import annotations

import json
import uuid

import pytest

from provider import contract

from tests.kit.provider import ACCESS_URL, coder_env


def is_uuid(text: str) -> bool:
    return str(uuid.UUID(text)) == text


@pytest.fixture
def built(terraform):
    """The full template applied for a start, for a test that changes it."""
    tf = terraform("full")
    tf.init()
    tf.apply(coder_env())
    return tf


def test_agent_token_init_script_and_stable_plan(applied_full):
    state = applied_full.state()
    agent = state["coder_agent.main"]
    assert is_uuid(agent["id"]) and is_uuid(agent["token"])
    assert agent["init_script"] == ('#!/bin/sh\nexport CODER_AGENT_AUTH="token"\n'
                                    f"curl -fsSL {ACCESS_URL}/bin/coder-linux-amd64 -o coder\n")
    assert state["null_resource.workspace[0]"]["triggers"] == {
        "token": agent["token"], "init_script": agent["init_script"]}
    # A second plan changes nothing: the token is kept in the state.
    again = applied_full.run("plan", "-input=false", "-detailed-exitcode", env=coder_env())
    assert "No changes." in again.stdout
    applied_full.apply(coder_env())
    assert applied_full.state()["coder_agent.main"]["token"] == agent["token"]


def test_agent_attributes(applied_full):
    agent = applied_full.state()["coder_agent.main"]
    assert {k: agent[k] for k in ("os", "arch", "auth", "dir", "startup_script_behavior",
                                  "connection_timeout", "motd_file", "order", "api_key_scope")} == {
        "os": "linux", "arch": "amd64", "auth": "token", "dir": "/home/coder",
        "startup_script_behavior": "blocking", "connection_timeout": 60, "motd_file": "/etc/motd",
        "order": 1, "api_key_scope": "all"}
    assert agent["env"] == {"PROJECT": "appliance"}
    assert agent["metadata"] == [{"key": "0_cpu", "display_name": "CPU Usage",
                                  "script": "coder stat cpu", "interval": 10, "timeout": 1,
                                  "order": None}]
    assert agent["display_apps"] == [{"vscode": False, "vscode_insiders": True,
                                      "web_terminal": True, "port_forwarding_helper": True,
                                      "ssh_helper": True}]


def test_apps_scripts_env_metadata(applied_full):
    state = applied_full.state()
    agent_id = state["coder_agent.main"]["id"]
    code = state["coder_app.code"]
    assert code["agent_id"] == agent_id and is_uuid(code["id"])
    assert {k: code[k] for k in ("slug", "display_name", "url", "icon", "subdomain", "share",
                                 "order", "group", "open_in", "hidden", "external")} == {
        "slug": "code-server", "display_name": "VS Code Web",
        "url": "http://localhost:13337/?folder=/home/coder", "icon": "/icon/code.svg",
        "subdomain": False, "share": "authenticated", "order": 2, "group": "editors",
        "open_in": "tab", "hidden": False, "external": False}
    assert code["healthcheck"] == [{"url": "http://localhost:13337/healthz", "interval": 5,
                                    "threshold": 6}]
    assert state["coder_app.shell"]["command"] == "bash -l"
    assert state["coder_app.shell"]["hidden"] is True
    assert state["coder_app.shell"]["share"] == "owner"
    assert state["coder_app.docs"]["external"] is True

    dotfiles, backup = state["coder_script.dotfiles"], state["coder_script.backup"]
    assert (dotfiles["run_on_start"], dotfiles["start_blocks_login"], dotfiles["timeout"],
            dotfiles["run_on_stop"], dotfiles["log_path"]) == (True, True, 30, False, "dotfiles.log")
    assert (backup["cron"], backup["run_on_start"], backup["timeout"]) == ("0 0 * * * *", False, 0)

    assert {(e["name"], e["value"], e["merge_strategy"], e["agent_id"] == agent_id)
            for e in (state["coder_env.region"], state["coder_env.path"])} == {
        ("REGION", "eu", "replace", True), ("PATH", "/opt/tools/bin", "prepend", True)}

    meta = state["coder_metadata.workspace[0]"]
    assert meta["resource_id"] == state["null_resource.workspace[0]"]["id"]
    assert (meta["icon"], meta["daily_cost"]) == ("/icon/memory.svg", 20)
    assert [(i["key"], i["value"], i["sensitive"], i["is_null"]) for i in meta["item"]] == [
        ("region", "eu", False, False), ("token", "secret", True, False),
        ("unset", None, False, True)]
    assert state["coder_agent_instance.main"]["instance_id"] == "i-0123456789"


def test_data_sources(applied_full):
    state = applied_full.state()
    ws = state["data.coder_workspace.me"]
    assert {k: ws[k] for k in ("name", "id", "transition", "start_count", "access_url",
                               "access_port", "template_id", "template_name",
                               "template_version", "is_prebuild")} == {
        "name": "dev", "id": "0f4c1b4e-5a8e-4d2c-9a77-3a1f3c0e9b01", "transition": "start",
        "start_count": 1, "access_url": ACCESS_URL, "access_port": 3000,
        "template_id": "b1d8f6a0-2222-4f6e-8c1d-7e0a9b3c4d20", "template_name": "full",
        "template_version": "v1", "is_prebuild": False}
    owner = state["data.coder_workspace_owner.me"]
    assert {k: owner[k] for k in ("id", "name", "full_name", "email", "groups", "session_token",
                                  "ssh_public_key", "ssh_private_key", "login_type",
                                  "rbac_roles")} == {
        "id": "7d2c3a57-1111-4c3b-9a0e-5a5f1e9c2b10", "name": "alice",
        "full_name": "Alice Liddell", "email": "alice@example.com",
        "groups": ["Everyone", "devs"], "session_token": "session-token",
        "ssh_public_key": "", "ssh_private_key": "", "login_type": "password",
        "rbac_roles": [{"name": "member", "org_id": "org-1"}]}
    prov = state["data.coder_provisioner.me"]
    assert (prov["os"], prov["arch"]) == ("linux", "amd64")
    assert state["data.coder_external_auth.github"]["access_token"] == "gh-token"


def test_external_auth_token_is_sensitive(blank):
    """Terraform refuses to show it in an output not marked sensitive (1.0 and 1.11 alike)."""
    config = ('data "coder_external_auth" "github" {\n  id = "github"\n}\n'
              'output "token" {\n  value = data.coder_external_auth.github.access_token\n}\n')
    done = blank.run_case(config, "plan", "-input=false", env=coder_env(), check=False)
    assert done.returncode == 1 and "Output refers to sensitive values" in done.stderr, done.stderr


def test_parameters(applied_full):
    state = applied_full.state()
    region = state["data.coder_parameter.region"]
    assert (region["value"], region["optional"], region["form_type"], region["type"],
            region["mutable"]) == ("eu", True, "radio", "string", True)  # default used
    assert [(o["name"], o["value"]) for o in region["option"]] == [
        ("Europe", "eu"), ("United States", "us")]
    project = state["data.coder_parameter.project"]
    assert (project["value"], project["optional"], project["form_type"]) == (
        "appliance", False, "input")  # from CODER_PARAMETER_<sha256>
    cpus = state["data.coder_parameter.cpus"]
    assert (cpus["value"], cpus["default"]) == ("2", "2")
    assert cpus["validation"] == [{"min": 1, "max": 8, "min_disabled": False,
                                   "max_disabled": False, "monotonic": "increasing",
                                   "regex": None, "error": None}]
    assert state["data.coder_parameter.debug"]["value"] == "false"
    assert state["data.coder_parameter.debug"]["form_type"] == "checkbox"
    tools = state["data.coder_parameter.tools"]
    assert (json.loads(tools["value"]), tools["form_type"]) == (["git"], "multi-select")


def test_env_value_overrides_default(built):
    env = coder_env(**{contract.parameter("region"): "us",
                       contract.parameter("tools"): '["git", "make"]'})
    built.apply(env)
    state = built.state()
    assert state["data.coder_parameter.region"]["value"] == "us"
    assert state["coder_env.region"]["value"] == "us"
    assert state["coder_metadata.workspace[0]"]["item"][0]["value"] == "us"
    assert json.loads(state["data.coder_parameter.tools"]["value"]) == ["git", "make"]


def test_stop_start_and_destroy(built):
    token = built.state()["coder_agent.main"]["token"]
    built.apply(coder_env(**{contract.TRANSITION: "stop"}))
    state = built.state()
    assert state["data.coder_workspace.me"]["start_count"] == 0
    assert state["data.coder_workspace.me"]["transition"] == "stop"
    assert "null_resource.workspace[0]" not in state
    assert "coder_metadata.workspace[0]" not in state
    assert "null_resource.home" in state  # persistent resources stay
    assert state["coder_agent.main"]["token"] == token

    built.apply(coder_env())
    assert built.state()["null_resource.workspace[0]"]["triggers"]["token"] == token

    built.run("destroy", "-input=false", "-auto-approve",
              env=coder_env(**{contract.TRANSITION: "destroy"}))
    assert not [a for a in built.state() if not a.startswith("data.")]


def test_changed_agent_is_replaced_with_a_new_token(built):
    before = built.state()["coder_agent.main"]
    main_tf = built.dir / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('"echo started"', '"echo started again"'))
    plan = built.run("plan", "-input=false", env=coder_env())
    assert "coder_agent.main must be replaced" in plan.stdout
    assert "# forces replacement" in plan.stdout
    built.apply(coder_env())
    after = built.state()
    assert after["coder_agent.main"]["token"] != before["token"]
    assert after["coder_agent.main"]["id"] != before["id"]
    assert after["coder_app.code"]["agent_id"] == after["coder_agent.main"]["id"]


def test_running_agent_token_is_reused(terraform):
    tf = terraform("full")
    tf.init()
    token = "5f0c2a7e-4444-4b1d-9e8f-0a1b2c3d4e50"
    tf.apply(coder_env(**{contract.running_agent_token(""): token}))
    assert tf.state()["coder_agent.main"]["token"] == token


def test_new_access_url_reaches_init_script_without_replacing_the_agent(built):
    agent = built.state()["coder_agent.main"]
    built.apply(coder_env(**{contract.AGENT_URL: "https://coder.internal:8443"}))
    state = built.state()
    assert state["coder_agent.main"]["id"] == agent["id"]
    assert "curl -fsSL https://coder.internal:8443/bin/coder-linux-amd64" in \
        state["coder_agent.main"]["init_script"]
    assert state["data.coder_workspace.me"]["access_port"] == 8443


def test_state_written_with_another_schema_is_reshaped(built):
    """A state from an older or newer provider build (or Coder's Go provider) still plans."""
    path = built.dir / "terraform.tfstate"
    stored = json.loads(path.read_text())
    for resource in stored["resources"]:
        if resource["type"] == "coder_agent":
            attrs = resource["instances"][0]["attributes"]
            attrs["login_before_ready"] = True  # Coder's provider before 2.0
            del attrs["metadata"][0]["order"]
            attrs["attribute_of_a_newer_build"] = True
    path.write_text(json.dumps(stored))
    again = built.run("plan", "-input=false", "-detailed-exitcode", env=coder_env())
    assert "No changes." in again.stdout
