"""Deployment facts: build info, health, the (local-only) update check, the API document."""
from __future__ import annotations

import base64
import hashlib

from flask import current_app, g

from appliance import __version__
from appliance.buildinfo import version as build_version
from appliance.sdk import types

from ..authz.querier import authorize_listing
from ..authz.rbac import Action
from ..httpapi import APIError, write
from ..httpmw import system_store
from ..provisioner.agentscript import agent_scripts
from . import openapi
from .apikeys import TOKEN_SCOPES
from .router import Router

router = Router("general", "General")
route = router.route
AGENT_API_VERSION = "2.0"


@route("GET", "", summary="API root", auth=False, response=types.Response)
def api_root():
    return write(200, types.Response(message="👋"))


@route("GET", "/buildinfo", summary="Build information", auth=False,
       response=types.BuildInfoResponse)
def buildinfo():
    coderd = current_app.extensions["coderd"]
    deployment_id = system_store("buildinfo").get_deployment_value("deployment_id") or ""
    return write(200, types.BuildInfoResponse(
        external_url="", version=build_version(), dashboard_url=coderd.settings.effective_access_url,
        workspace_proxy=False, agent_api_version=AGENT_API_VERSION, deployment_id=deployment_id,
        telemetry=False, appliance_version=__version__))


@route("GET", "/updatecheck", summary="Update check, answered from the installed version only",
       auth=False, response=types.UpdateCheckResponse)
def updatecheck():
    # No update server is ever contacted: the installed version is the newest known.
    return write(200, types.UpdateCheckResponse(current=True, version=build_version(), url=""))


@route("GET", "/applications/host", summary="The host subdomain apps answer on (empty without "
       "a wildcard access URL)", response=types.AppHostResponse)
def applications_host():
    authorize_listing(g.subject, Action.READ)  # not for a key scoped to apps only
    suffix = current_app.extensions["coderd"].settings.app_host_suffix
    return write(200, types.AppHostResponse(host="*" + suffix if suffix else ""))


@route("GET", "/openapi.json", summary="This API's OpenAPI 3 document", auth=False, response=dict)
def openapi_document():
    return write(200, openapi.document(__version__))


@route("GET", "/auth/scopes", summary="The scopes an API token may be created with",
       auth=False, response=types.ExternalAPIKeyScopes)
def auth_scopes():
    return write(200, types.ExternalAPIKeyScopes(external=sorted(TOKEN_SCOPES)))


@route("GET", "/experiments", summary="Enabled experiments (the appliance has none)",
       response=list[str])
def experiments():
    authorize_listing(g.subject, Action.READ)  # not for a key scoped to apps only
    return write(200, [])


@route("GET", "/experiments/available", summary="Experiments that may be enabled (none)",
       response=types.AvailableExperiments)
def experiments_available():
    authorize_listing(g.subject, Action.READ)
    return write(200, types.AvailableExperiments(safe=[]))


@route("GET", "/init-script/<os>/<arch>", auth=False, content_type="text/plain",
       summary="The agent's bootstrap script for a platform, as terraform gets it, with this "
               "deployment's access URL and token authentication", response=str)
def init_script(os: str, arch: str):
    """What an administrator runs by hand on a machine terraform does not make (the script
    fetches the agent from this coderd's ``/bin/``)."""
    os, arch = os.lower(), arch.lower()
    script = agent_scripts().get(f"{os}_{arch}")
    if script is None:
        raise APIError(400, f"Unknown os/arch: {os}/{arch}")
    access_url = current_app.extensions["coderd"].settings.effective_access_url.rstrip("/") + "/"
    body = script.replace("${ACCESS_URL}", access_url).replace("${AUTH_TYPE}", "token").encode()
    # Coder's digest, as Coder writes it: the hex of the base64 of the SHA-256.
    digest = base64.b64encode(hashlib.sha256(body).digest()).hex()
    return current_app.response_class(body, status=200, headers={
        "Content-Type": "text/plain; charset=utf-8", "Content-Digest": f"sha256:{digest}"})
