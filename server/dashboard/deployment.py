"""The deployment's pages: Coder's /deployment/general, /security, /network and
/observability, each the settings of its groups as ``GET /api/v2/deployment/config``
gives them (``server.api.deployment.deployment_values``: owners only, secrets' values
never sent), with the version and access URL, and that update checks and telemetry are off.
"""
from __future__ import annotations

from flask import current_app, redirect, url_for

from appliance.buildinfo import version

from ..api.deployment import deployment_values
from ..httpapi import not_found
from .pages import blueprint, page, require_nav, signed_in

# Coder's deployment pages, and which of the settings' groups (appliance/settings.py) each shows.
SECTIONS = {
    "general": ("General", ("Air gap", "Client", "Provisioning", "Workspace agents", "Database")),
    "security": ("Security", ("Security", "TLS", "Dangerous")),
    "network": ("Network", ("Networking",)),
    "observability": ("Observability", ("Introspection", "Logging")),
}
AIR_GAP = ("update_check", "telemetry_enable")


@blueprint.get("/deployment")
@signed_in
def deployment_home():
    require_nav("dashboard.deployment_home")
    return redirect(url_for("dashboard.deployment", section="general"), code=303)


@blueprint.get("/deployment/<section>")
@signed_in
def deployment(section: str):
    require_nav("dashboard.deployment_home")
    if section not in SECTIONS:
        raise not_found("Page")
    title, groups = SECTIONS[section]
    values = deployment_values()
    options = [o for o in values.options if o.group.name in groups]
    return page("deployment.html", section=section, sections=SECTIONS, title=title,
                options=sorted(options, key=lambda o: (groups.index(o.group.name), o.name)),
                version=version(), access_url=current_app.extensions["coderd"].settings.effective_access_url,
                air_gap={key: values.config[key] for key in AIR_GAP})
