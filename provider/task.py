"""Coder Tasks: ``coder_ai_task`` (the app that is a task's AI interface) and data ``coder_task``.

Both read the task coderd runs the build for: ``CODER_TASK_ID`` (a UUID; unset
or the nil UUID outside a task) and ``CODER_TASK_PROMPT``. ``enabled`` says
whether the build is a task's, as in Coder's provider 2.17.0.
"""
from __future__ import annotations

import os
import uuid

from provider import checks, contract
from provider.objects import DataSource, Resource
from provider.schema import BOOL, Block, Spec, opt, out, req

NIL_UUID = "00000000-0000-0000-0000-000000000000"


def task_id() -> tuple[str | None, str]:
    """The task's UUID (None outside a task) and, for a malformed one, Go's parse error."""
    raw = os.environ.get(contract.TASK_ID, "")
    if raw in ("", NIL_UUID):
        return None, ""
    try:
        parsed = str(uuid.UUID(raw))
    except ValueError:
        if len(raw) not in (32, 36, 38, 45):
            return None, f"invalid UUID length: {len(raw)}"
        return None, "invalid UUID format"
    return (None, "") if parsed == NIL_UUID else (parsed, "")


class AITask(Resource):
    NAME = "ai_task"
    SPEC = Spec(
        description="Use this resource to define Coder tasks.",
        attrs=(
            out("id", description="A unique identifier for this resource."),
            out("prompt", description="The prompt text provided to the task by Coder."),
            opt("app_id", computed=True, description="The ID of the `coder_app` resource that "
                "provides the AI interface for this task."),
            out("enabled", BOOL, description="True when executing in a Coder Task context, false "
                "when in a Coder Workspace context."),
        ),
        blocks=(Block("sidebar_app", (req("id", description="A reference to an existing "
                                           "`coder_app` resource in your template."),),
                      nesting="set", max_items=1,
                      description="The coder_app to display in the sidebar (deprecated)."),))
    SIDEBAR_DEPRECATED = "This field has been deprecated in favor of the `app_id` field."

    def check(self, diags, config):
        checks.is_uuid(diags, config, "app_id")
        checks.conflicts(diags, config, "app_id", ("sidebar_app",))
        checks.conflicts(diags, config, "sidebar_app", ("app_id",))
        sidebar = config.get("sidebar_app")
        if checks.known(sidebar) and sidebar:
            diags.add_warning("Argument is deprecated", self.SIDEBAR_DEPRECATED, path=["sidebar_app"])
            for app in sidebar:
                if checks.known(app):
                    checks.is_uuid(diags, app, "id", path=["sidebar_app"])

    def create(self, diags, planned):
        found, _ = task_id()
        state = dict(planned, id=found or str(uuid.uuid4()), enabled=found is not None,
                     prompt=os.environ.get(contract.TASK_PROMPT, ""))
        if not checks.known(state.get("app_id")):
            sidebar = state.get("sidebar_app") or [{}]
            state["app_id"] = sidebar[0].get("id") or ""
        if not state["app_id"]:
            diags.add_error("'app_id' must be set")
        return state


class Task(DataSource):
    NAME = "task"
    SPEC = Spec(
        description="Use this data source to read information about Coder Tasks.",
        version=0,
        attrs=(
            out("id", description="The UUID of the task, if executing in a Coder Task context."),
            out("prompt", description="The prompt text provided to the task by Coder."),
            out("enabled", BOOL, description="True when executing in a Coder Task context."),
        ))

    def compute(self, diags, config, state):
        found, error = task_id()
        if error:
            diags.add_error(error)
        state.update(id=found or str(uuid.uuid4()), enabled=found is not None,
                     prompt=os.environ.get(contract.TASK_PROMPT, ""))
