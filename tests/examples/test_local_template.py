"""The ``local`` example template: a bubblewrap-sandboxed agent with a persistent home folder."""
from __future__ import annotations

from tests.kit.localtemplate import TEMPLATE, WORKSPACES_DIR, leftovers, remove, running
from tests.kit.tools import tool
from .workspacetest import Compute, exercise_template


def test_local_template_end_to_end(owner_cli, templates_coderd, tmp_path):
    tool("bwrap")
    cli, owner = owner_cli
    exercise_template(cli, owner, templates_coderd.url, TEMPLATE, Compute(running, leftovers, remove),
                      tmp_path, variables={"workspaces_dir": WORKSPACES_DIR})
