"""Data sources coderd reads at a template import: ``coder_workspace_preset`` and
``coder_workspace_tags``.

Neither reads the environment. A preset names parameter values (and a pool of
prebuilt workspaces) users may pick when they create a workspace; workspace
tags are the provisioner tags a template's builds need. coderd reads both
from the import's plan. Checks and messages are Coder's provider 2.17.0's.
"""
from __future__ import annotations

import uuid
import zoneinfo

from provider import checks
from provider.objects import DataSource
from provider.schema import BOOL, NUMBER, STRING_MAP, Block, Spec, opt, out, req

TTL_RANGE = (3600, 31536000)
# The highest value of each cron field robfig/cron parses (month, day of month, hour, dow).
FIELD_MAX = {"hour": 23, "dom": 31, "month": 12, "dow": 6}

PREBUILDS = Block(
    "prebuilds", nesting="set", max_items=1,
    description="Prebuilt workspaces Coder keeps in reserve for this preset.",
    attrs=(req("instances", NUMBER, description="The number of workspaces to keep in reserve."),),
    blocks=(
        Block("expiration_policy", nesting="set", max_items=1,
              attrs=(req("ttl", NUMBER, description="Seconds after which an unclaimed prebuild "
                                                     "expires."),)),
        Block("scheduling", max_items=1,
              attrs=(req("timezone", description="An IANA time zone for the schedules."),),
              blocks=(Block("schedule", min_items=1,
                            attrs=(req("cron", description='"* HOUR DOM MONTH DAY-OF-WEEK"'),
                                   req("instances", NUMBER)),),)),
    ))


def _values(text: str, highest: int) -> set[int]:
    """Coder's ``ParseRange``: ``*``, numbers, ranges ``a-b`` and lists of them."""
    if text == "*":
        return set(range(highest + 1))
    found: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            start, end = (int(p) for p in part.split("-", 1))
            if start < 0 or end > highest or start > end:
                raise ValueError(f"invalid range {start}-{end}: values must be between 0 and {highest}")
            found.update(range(start, end + 1))
        else:
            found.add(int(part))
    return found


def _overlap(a: str, b: str, highest: int) -> bool:
    return bool(_values(a, highest) & _values(b, highest))


def schedules_overlap(first: str, second: str) -> bool:
    """Coder's ``SchedulesOverlap`` for two 5-field cron specs."""
    f, s = first.split(), second.split()
    if not _overlap(f[3], s[3], FIELD_MAX["month"]):
        return False
    if f[2] == "*" or s[2] == "*":
        days = _overlap(f[4], s[4], FIELD_MAX["dow"])
    elif f[4] == "*" or s[4] == "*":
        days = _overlap(f[2], s[2], FIELD_MAX["dom"])
    else:
        days = _overlap(f[2], s[2], FIELD_MAX["dom"]) or _overlap(f[4], s[4], FIELD_MAX["dow"])
    return days and _overlap(f[1], s[1], FIELD_MAX["hour"])


def cron_error(spec: str) -> str | None:
    """Why a prebuild schedule's cron is refused, in Coder's words, or None."""
    fields = spec.split()
    if len(fields) != 5:
        return "cron spec failed validation: cron specification should consist of 5 fields"
    if fields[0] != "*":
        return "cron spec failed validation: minute field should be *"
    return None


def _items(value) -> list:
    return [item for item in value or [] if checks.known(item)] if checks.known(value) else []


class WorkspacePreset(DataSource):
    NAME = "workspace_preset"
    SPEC = Spec(
        description="Use this data source to predefine common configurations for coder "
                    "workspaces: parameter values users may pick, and prebuilt workspaces.",
        attrs=(
            out("id", description="The preset's name."),
            req("name", description="The name of the workspace preset."),
            opt("description", description="Describe what this preset does."),
            opt("icon", description="A URL to an icon that will display in the dashboard."),
            opt("default", BOOL, default=False,
                description="Whether this preset is selected by default (one per template)."),
            opt("parameters", STRING_MAP,
                description="Workspace parameters that will be set by the workspace preset."),
        ),
        blocks=(PREBUILDS,))

    def check(self, diags, config):
        checks.not_empty(diags, config, "name")
        checks.length_between(diags, config, "description", 0, 128)
        checks.length_between(diags, config, "icon", 0, 256)
        parameters = config.get("parameters")
        if checks.known(parameters):
            for key, value in parameters.items():
                if value == "":
                    diags.add_error(f'expected "parameters.{key}" to not be an empty string, got ',
                                    path=["parameters"])
        for prebuild in _items(config.get("prebuilds")):
            checks.at_least(diags, prebuild, "instances", 0, path=["prebuilds"])
            for policy in _items(prebuild.get("expiration_policy")):
                ttl = policy.get("ttl")
                if checks.known(ttl) and ttl != 0 and not TTL_RANGE[0] <= ttl <= TTL_RANGE[1]:
                    diags.add_error(f'"ttl" must be 0 or between 3600 and 31536000, got {int(ttl)}',
                                    path=["prebuilds"])
            for scheduling in _items(prebuild.get("scheduling")):
                self._check_scheduling(diags, scheduling)

    @staticmethod
    def _check_scheduling(diags, scheduling: dict) -> None:
        zone = scheduling.get("timezone")
        if checks.known(zone):
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                diags.add_error(f'failed to load timezone "{zone}": unknown time zone {zone}',
                                path=["prebuilds"])
        for schedule in _items(scheduling.get("schedule")):
            cron = schedule.get("cron")
            if checks.known(cron) and (why := cron_error(cron)):
                diags.add_error(why, path=["prebuilds"])

    def compute(self, diags, config, state):
        state["id"] = config["name"]
        crons = [s.get("cron") for p in _items(config.get("prebuilds"))
                 for sc in _items(p.get("scheduling")) for s in _items(sc.get("schedule"))]
        for i, first in enumerate(crons):
            for second in crons[i + 1:]:
                try:
                    overlap = schedules_overlap(first, second)
                except ValueError as exc:
                    diags.add_error(f"schedules overlap with each other: invalid schedule: {exc}")
                    return
                if overlap:
                    diags.add_error("schedules overlap with each other: schedules overlap: "
                                    f"{first} and {second}")
                    return


class WorkspaceTags(DataSource):
    NAME = "workspace_tags"
    SPEC = Spec(
        description="Use this data source to configure workspace tags to select provisioners.",
        attrs=(out("id"),
               opt("tags", STRING_MAP, description="Key-value map with workspace tags")))

    def compute(self, diags, config, state):
        state["id"] = str(uuid.uuid4())
