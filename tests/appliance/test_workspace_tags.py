"""``coder_workspace_tags``: the template's tags choose the daemon of its import and builds.

A real coderd and an external provisioner daemon tagged ``cluster=us team=core``: the
version's import asks for the tags the template evaluates to with its parameters'
defaults (so that daemon runs it), a build for those the build's values give (so
``region=eu`` waits for a daemon with ``cluster=eu``); the push's own tags win over the
template's, and a tag no evaluator here can compute is refused with one line.
"""
from __future__ import annotations

import os
import subprocess
import sys

from appliance import archives
from appliance.sdk import types

from tests.kit.coderd import create_first_user
from tests.kit.provisioning import TAGGED_TEMPLATE


def test_workspace_tags_pick_the_daemon(cli, coderd_factory, provider_mirror, tmp_path):
    coderd = coderd_factory(env={"CODER_PROVISIONER_DAEMON_PSK": "s3cret",
                                 "CODER_PROVIDER_MIRROR_DIR": provider_mirror})
    owner, _ = create_first_user(coderd)
    c = cli.log_in_as(coderd.url, owner.token)
    env = {**os.environ, "CODER_URL": coderd.url, "CODER_PROVISIONER_DAEMON_PSK": "s3cret",
           "CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_CACHE_DIRECTORY": str(tmp_path)}
    daemon = subprocess.Popen([sys.executable, "-m", "server.cli", "provisionerd", "start",
                               "--tag", "cluster=us", "--tag", "team=core", "--name", "us"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (tmp_path / "placed").mkdir()
        (tmp_path / "placed" / "main.tf").write_text(TAGGED_TEMPLATE)
        c.run("templates", "push", "-d", str(tmp_path / "placed"), "-y")
        template = owner.template_by_name("default", "placed")
        job = owner.template_version(template.active_version_id).job
        assert job.status == "succeeded"
        assert (job.tags["cluster"], job.tags["team"]) == ("us", "core")

        c.run("create", "here", "-t", "placed", "-y")
        workspace = owner.workspace_by_owner_and_name("me", "here")
        assert workspace.latest_build.job.tags["cluster"] == "us"
        build = owner.create_workspace_build(workspace.id, types.CreateWorkspaceBuildRequest(
            transition="start", rich_parameter_values=[
                types.WorkspaceBuildParameter(name="region", value="eu")]))
        assert (build.job.tags["cluster"], build.job.status) == ("eu", "pending")
    finally:
        daemon.terminate()
        daemon.wait(20)

    # The push's tags win; an expression not evaluated here is refused before any job.
    file_id = owner.upload_file(archives.template_tar(tmp_path / "placed"))
    gpu = owner.create_template_version("default", types.CreateTemplateVersionRequest(
        file_id=file_id, template_id=template.id, name="gpu", tags={"cluster": "gpu"}))
    assert (gpu.job.tags["cluster"], gpu.job.tags["team"]) == ("gpu", "core")
    (tmp_path / "placed" / "main.tf").write_text(
        TAGGED_TEMPLATE.replace("var.team", 'upper("x")'))
    proc = c.run("templates", "push", "placed", "-d", str(tmp_path / "placed"), "-y", expect=1)
    assert "Failed to parse workspace tags." in proc.stderr and "Traceback" not in proc.stderr
