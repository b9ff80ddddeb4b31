"""``coder_app``: a shortcut to an application in a workspace (a URL proxied, or a command)."""
from __future__ import annotations

import re

from provider import checks
from provider.objects import Resource
from provider.schema import BOOL, NUMBER, Block, Spec, opt, out, req

# Coder's slug rule (a hostname label without doubled or edge hyphens).
SLUG_RE = r"^[a-z0-9](-?[a-z0-9])*$"


class App(Resource):
    NAME = "app"
    SPEC = Spec(
        description="Use this resource to define shortcuts to access applications in a workspace.",
        attrs=(
            out("id"),
            req("agent_id", description="The `id` of a `coder_agent` to associate with."),
            req("slug", description="A hostname-friendly name for the app, used in URLs."),
            opt("display_name", description="A display name; defaults to the slug."),
            opt("url", description="The URL to proxy (`http://localhost:PORT[/SUBPATH]`) or, "
                "with `external`, to open on the client."),
            opt("command", description="A command to run in a terminal opening this app."),
            opt("icon", description="A URL to an icon for the dashboard."),
            opt("subdomain", BOOL, description="Serve the app on its own subdomain."),
            opt("share", default="owner", description='"owner", "authenticated" or "public".'),
            opt("external", BOOL, default=False, description="Open `url` on the client machine."),
            opt("group", description="The name of a group this app belongs to."),
            opt("order", NUMBER, description="Position of the app in the dashboard."),
            opt("hidden", BOOL, default=False, description="Hide the app in the dashboard."),
            opt("open_in", default="slim-window", description='"tab" or "slim-window".'),
            opt("tooltip", description="Markdown shown when hovering over the app."),
        ),
        blocks=(Block("healthcheck", (req("url"), req("interval", NUMBER), req("threshold", NUMBER)),
                      nesting="set", max_items=1,
                      description="HTTP health checking to determine the application readiness."),))

    def check(self, diags, config):
        slug = config.get("slug")
        if checks.known(slug) and not re.search(SLUG_RE, slug):
            diags.add_error(f'invalid "coder_app" slug, must be a valid hostname '
                            f'({checks.quote(SLUG_RE)}, cannot contain two consecutive hyphens '
                            f'or start/end with a hyphen): {checks.quote(slug)}', path=["slug"])
        checks.max_length(diags, config, "display_name", 64, "display name")
        checks.max_length(diags, config, "group", 64, "group name")
        checks.max_length(diags, config, "tooltip", 2048, "tooltip")
        share = config.get("share")
        if checks.known(share) and share not in ("owner", "authenticated", "public"):
            diags.add_error(f'invalid app share {checks.quote(share)}, must be one of "owner", '
                            '"authenticated", "public"', path=["share"])
        open_in = config.get("open_in")
        if checks.known(open_in) and open_in not in ("tab", "slim-window"):
            diags.add_error('invalid "coder_app" open_in value, must be one of "tab", '
                            f'"slim-window": {checks.quote(open_in)}', path=["open_in"])
        checks.conflicts(diags, config, "command", ("url", "subdomain"))
        checks.conflicts(diags, config, "url", ("command",))
        checks.conflicts(diags, config, "healthcheck", ("command",))
        if config.get("external") is True:
            checks.conflicts(diags, config, "external", ("healthcheck", "command", "subdomain", "share"))

    def fill_outputs(self, diags, state):
        if state.get("hidden"):
            for name in ("display_name", "icon", "order"):
                if state.get(name) is not None:
                    diags.add_warning(f"`{name}` set when app is hidden")
