"""``coder_metadata``: key/value items shown beside a resource in the dashboard.

``is_null`` is computed when planning: true where the item's ``value`` is
null (Coder's way to tell "null" from "empty" to the dashboard).
"""
from __future__ import annotations

from tf.types import Unknown

from provider import checks
from provider.objects import Resource
from provider.schema import BOOL, NUMBER, Block, Spec, opt, out, req


class Metadata(Resource):
    NAME = "metadata"
    SPEC = Spec(
        description="Use this resource to attach metadata to a resource, shown in the dashboard.",
        attrs=(
            out("id"),
            req("resource_id", description="The `id` of the resource the metadata is attached to."),
            opt("hide", BOOL, description="Hide the resource from the UI."),
            opt("icon", description="A URL to an icon for the dashboard."),
            opt("daily_cost", NUMBER, description="(Enterprise) The cost of this resource per day."),
        ),
        blocks=(Block("item", (
            req("key"), opt("value"), opt("sensitive", BOOL, default=False),
            out("is_null", BOOL), opt("order", NUMBER)),
            description="A metadata item (key/value pair)."),))

    def check(self, diags, config):
        checks.unique_keys(diags, config.get("item"), "resource metadata", "item")

    def plan_new(self, diags, config):
        planned = super().plan_new(diags, config)
        if planned["item"] is not Unknown:
            for item in planned["item"]:
                if item is not Unknown:
                    value = item.get("value")
                    item["is_null"] = Unknown if value is Unknown else value is None
        return planned

    def fill_outputs(self, diags, state):
        for item in state["item"]:
            if item["is_null"] is Unknown:
                item["is_null"] = item.get("value") is None
