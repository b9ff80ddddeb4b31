"""The deployment as its users' clients see it: its settings (to owners, secrets left
out), the SSH host names `coder config-ssh` writes, the dashboard's appearance, and its
one region (Coder's open-source edition has no workspace proxies but the primary)."""
from __future__ import annotations

import datetime as dt
import os
import uuid

from flask import current_app, g

from appliance.settings import SETTINGS, Setting
from appliance.sdk import types

from ..authz.querier import authorize_listing
from ..authz.rbac import Action, Object, Resource, authorize
from ..httpapi import write
from ..httpmw import system_store
from . import workspaceproxies
from .convert import from_row
from .router import Router

router = Router("deployment", "General")
route = router.route
# What Coder's open-source edition shows for its primary region (its default proxy row).
PRIMARY_REGION_DISPLAY_NAME = "Default"
PRIMARY_REGION_ICON = "/emojis/1f3e1.png"
# Coder's metrics cache: the agents' reports of the last 15 minutes, refreshed every 30 s
# (here computed at each request; next_update_at tells a dashboard when to ask again).
STATS_WINDOW = dt.timedelta(minutes=15)
STATS_REFRESH = dt.timedelta(seconds=30)


def _settings():
    return current_app.extensions["coderd"].settings


def _value_source(s: Setting, value) -> str:
    if s.env in os.environ:
        return "env"
    return "default" if value == s.default else "flag"


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _option(s: Setting, value) -> types.DeploymentOption:
    return types.DeploymentOption(
        name=s.key.replace("_", " ").title(), description=s.help, flag=s.flag.removeprefix("--"),
        env=s.env, yaml=s.key.replace("_", ""), default=str(_plain(s.default)),
        value=None if s.secret else _plain(value), group=types.DeploymentOptionGroup(s.group),
        annotations={"secret": "true"} if s.secret else None,
        value_source=_value_source(s, value))


@route("GET", "/deployment/config", summary="The deployment's settings (owners only; no secrets)",
       response=types.DeploymentConfig)
def deployment_config():
    return write(200, deployment_values())


def deployment_values() -> types.DeploymentConfig:
    """The settings as the caller may read them (owners), secrets' values left out."""
    authorize(g.subject, Action.READ, Object(Resource.DEPLOYMENT_CONFIG))
    settings = _settings()
    values = {s.key: _plain(getattr(settings, s.key)) for s in SETTINGS if not s.secret}
    return types.DeploymentConfig(
        config=values, options=[_option(s, getattr(settings, s.key)) for s in SETTINGS])


@route("GET", "/deployment/stats", summary="Workspaces by status and the agents' recent "
       "traffic and sessions (owners only)", response=types.DeploymentStats)
def deployment_stats():
    authorize(g.subject, Action.READ, Object(Resource.DEPLOYMENT_STATS))
    now = dt.datetime.now(dt.timezone.utc)
    since = now - STATS_WINDOW
    row = system_store("deployment stats").get_deployment_stats(since)
    return write(200, types.DeploymentStats(
        aggregated_from=since, collected_at=now, next_update_at=now + STATS_REFRESH,
        workspaces=from_row(types.WorkspaceDeploymentStats, row,
                            connection_latency_ms=types.WorkspaceConnectionLatencyMS(
                                P50=row["p50"], P95=row["p95"])),
        session_count=from_row(types.SessionCountDeploymentStats, row)))


def ssh_config_options(items) -> dict[str, str]:
    """The ``Key=Value`` items (checked when the settings were read) as Coder's map."""
    return {key.strip(): value.strip() for key, _, value in (i.partition("=") for i in items)}


@route("GET", "/deployment/ssh", summary="SSH host names and options for coder config-ssh",
       response=types.SSHConfigResponse)
def deployment_ssh():
    authorize_listing(g.subject, Action.READ)  # a key scoped to apps reads none of it
    settings = _settings()
    return write(200, types.SSHConfigResponse(
        hostname_prefix=settings.ssh_hostname_prefix,
        hostname_suffix=settings.workspace_hostname_suffix,
        ssh_config_options=ssh_config_options(settings.ssh_config_options)))


@route("GET", "/appearance", summary="The dashboard's appearance (Coder's open-source defaults)",
       response=types.AppearanceConfig)
def appearance():
    authorize_listing(g.subject, Action.READ)  # a key scoped to apps reads none of it
    return write(200, types.AppearanceConfig(
        application_name="", logo_url="", docs_url=_settings().docs_url,
        service_banner=types.BannerConfig(), announcement_banners=[], support_links=[]))


@route("GET", "/regions", summary="The deployment's regions: the primary, then each workspace "
       "proxy's, with their health",
       response=types.RegionsResponse)
def regions():
    authorize_listing(g.subject, Action.READ)  # a key scoped to apps reads none of it
    return write(200, types.RegionsResponse(regions=region_list()))


def region_list() -> list[types.Region]:
    """The primary, then each proxy coderd registered (the dashboard's region menu too)."""
    settings = _settings()
    deployment_id = system_store("regions").get_deployment_value("deployment_id")
    pubsub = current_app.extensions["coderd"].pubsub
    return [types.Region(
        id=uuid.UUID(deployment_id), name="primary", display_name=PRIMARY_REGION_DISPLAY_NAME,
        icon_url=PRIMARY_REGION_ICON, healthy=pubsub is None or pubsub.healthy.is_set(),
        path_app_url=settings.effective_access_url,
        wildcard_hostname=settings.wildcard_access_url), *workspaceproxies.regions()]
