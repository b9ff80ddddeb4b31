"""``coder_script`` (a script the agent runs) and ``coder_env`` (a variable it sets)."""
from __future__ import annotations

import re

from tf.types import Unknown

from provider import checks
from provider.objects import Resource
from provider.schema import BOOL, NUMBER, Spec, opt, out, req

# robfig/cron with seconds, optional day of week and descriptors, as Coder parses it.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                     "@hourly")
_EVERY = re.compile(r"^@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def cron_error(expr: str) -> str | None:
    """Why ``expr`` is not a cron expression Coder accepts, or None."""
    if expr.startswith("@"):
        if expr in _CRON_DESCRIPTORS or _EVERY.match(expr):
            return None
        return f"unrecognized descriptor: {expr}"
    fields = expr.split()
    if not 5 <= len(fields) <= 6:
        return f"expected 5 to 6 fields, found {len(fields)}: {fields}"
    bad = next((f for f in fields if not _CRON_FIELD.match(f)), None)
    return f"failed to parse field {bad!r}" if bad else None


class Script(Resource):
    NAME = "script"
    SPEC = Spec(
        description="Use this resource to run a script from an agent.",
        attrs=(
            out("id"),
            req("agent_id", description="The `id` of a `coder_agent` to associate with."),
            req("display_name", description="The name shown with the script's logs."),
            req("script", description="The content of the script that will be run."),
            opt("icon", description="A URL to an icon for the dashboard."),
            opt("log_path", description="A file to write the logs to (relative: under tmp)."),
            opt("cron", description="A cron schedule (with seconds) to run the script on."),
            opt("start_blocks_login", BOOL, default=False,
                description="Users wait for the script to finish before logging in."),
            opt("run_on_start", BOOL, default=False, description="Run when the agent starts."),
            opt("run_on_stop", BOOL, default=False, description="Run when the agent stops."),
            opt("timeout", NUMBER, default=0, description="Seconds the script may run; 0: no limit."),
        ))

    def check(self, diags, config):
        cron = config.get("cron")
        if checks.known(cron) and (why := cron_error(cron)):
            diags.add_error(f"{cron} is not a valid cron expression: {why}", path=["cron"])
        checks.at_least(diags, config, "timeout", 1)
        start, stop = config.get("run_on_start"), config.get("run_on_stop")
        if all(v is not Unknown for v in (start, stop, cron)):
            if not start and not stop and not cron:
                diags.add_error("at least one of `run_on_start`, `run_on_stop`, or `cron` must be set")
            if not start and config.get("start_blocks_login") is True:
                diags.add_error("start_blocks_login can only be set if `run_on_start` is true")


class Env(Resource):
    NAME = "env"
    SPEC = Spec(
        description="Use this resource to set an environment variable in a workspace.",
        attrs=(
            out("id"),
            req("agent_id", description="The `id` of a `coder_agent` to associate with."),
            req("name", description="The name of the environment variable."),
            opt("value", description="The value of the environment variable."),
            opt("merge_strategy", default="replace",
                description='"replace", "append", "prepend" or "error" when names repeat.'),
        ))

    def check(self, diags, config):
        checks.matches(diags, config, "name", r"^[a-zA-Z_][a-zA-Z0-9_]*$",
                       "must be a valid environment variable name")
        checks.one_of(diags, config, "merge_strategy", ("replace", "append", "prepend", "error"))
