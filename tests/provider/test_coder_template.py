"""The coder_* blocks of Coder's docker example template work unchanged."""
from __future__ import annotations

import json

from provider import contract

from tests.kit.provider import coder_env


def test_docker_example_start_stop_delete(terraform):
    tf = terraform("docker")
    tf.init()
    tf.apply(coder_env(**{contract.AGENT_URL: "http://localhost:3000"}))
    state = tf.state()
    agent = state["coder_agent.main"]
    assert agent["env"] == {"GIT_AUTHOR_NAME": "Alice Liddell", "GIT_COMMITTER_NAME": "Alice Liddell",
                            "GIT_AUTHOR_EMAIL": "alice@example.com",
                            "GIT_COMMITTER_EMAIL": "alice@example.com"}
    assert [m["key"] for m in agent["metadata"]] == ["0_cpu_usage", "1_ram_usage", "3_home_disk",
                                                      "6_load_host"]
    assert agent["metadata"][2]["script"] == "coder stat disk --path ${HOME}"
    container = state["null_resource.workspace[0]"]["triggers"]
    entry = json.loads(container["entrypoint"])
    assert entry[:2] == ["sh", "-c"]
    # The template rewrites localhost for the container, as Coder's does.
    assert "http://host.docker.internal:3000/bin/coder-linux-amd64" in entry[2]
    assert json.loads(container["env"]) == [f"CODER_AGENT_TOKEN={agent['token']}"]
    assert container["name"] == "coder-alice-dev"
    app = state["coder_app.code-server"]
    assert app["url"] == "http://localhost:13337/?folder=/home/alice"
    assert app["healthcheck"][0]["threshold"] == 6

    tf.apply(coder_env(**{contract.TRANSITION: "stop"}))
    state = tf.state()
    assert "null_resource.workspace[0]" not in state and "null_resource.home_volume" in state

    tf.apply(coder_env())
    assert "null_resource.workspace[0]" in tf.state()
    tf.run("destroy", "-input=false", "-auto-approve", env=coder_env())
    assert not [a for a in tf.state() if not a.startswith("data.")]


def test_template_import_plans_without_a_build(terraform):
    """coderd's import job plans with no build ID and no parameters set."""
    tf = terraform("docker")
    tf.init()
    env = {k: v for k, v in coder_env().items() if k != contract.BUILD_ID}
    plan = tf.run("plan", "-input=false", env=env)
    assert "coder_agent.main will be created" in plan.stdout
