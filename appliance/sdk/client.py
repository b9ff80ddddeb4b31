"""The typed client for coderd's API v2.

One private ``_request`` does the HTTP, the status check and the decoding, so
each endpoint is one short method. Any unexpected status becomes ``APIError``
carrying Coder's ``{message, detail, validations}`` and a hint for the CLI.
"""
from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote

import requests

from . import httpsession, model, types
from .errors import SESSION_HEADER, APIError

__all__ = ["SESSION_HEADER", "APIError", "Client"]


def _error_from(resp: requests.Response) -> APIError:
    return APIError.from_response(resp.status_code, resp.content, resp.request.method, resp.url)


class Client:
    def __init__(self, url: str, token: str = "", *, verify: bool | str = True,
                 timeout: float = 60.0, session: requests.Session | None = None,
                 headers: dict[str, str] | None = None):
        """``headers`` go on every request, upgraded connections and websockets included
        (``coder --header``)."""
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.headers = dict(headers or {})
        # httpsession's: a CA bundle given here holds even where REQUESTS_CA_BUNDLE is set.
        self.http = session or httpsession.session(retries=0)
        self.http.verify = verify
        self.http.headers["User-Agent"] = "coder-appliance-sdk"
        self.http.headers.update(self.headers)

    def _request(self, method: str, path: str, body: Any = None, *, expect: int | tuple = 200,
                 model_type: Any = None, params: dict | None = None) -> Any:
        headers = {SESSION_HEADER: self.token} if self.token else {}
        resp = self.http.request(method, self.url + path,
                                 json=model.encode(body) if body is not None else None,
                                 params=params, headers=headers, timeout=self.timeout)
        expected = expect if isinstance(expect, tuple) else (expect,)
        if resp.status_code not in expected:
            raise _error_from(resp)
        if model_type is None or resp.status_code == 204:
            return None
        return model.decode_value(model_type, resp.json())

    # deployment
    def build_info(self) -> types.BuildInfoResponse:
        return self._request("GET", "/api/v2/buildinfo", model_type=types.BuildInfoResponse)

    def has_first_user(self) -> bool:
        try:
            self._request("GET", "/api/v2/users/first")
            return True
        except APIError as exc:
            if exc.status == 404:
                return False
            raise

    def auth_methods(self) -> types.AuthMethods:
        return self._request("GET", "/api/v2/users/authmethods", model_type=types.AuthMethods)

    # users and sessions
    def create_first_user(self, req: types.CreateFirstUserRequest) -> types.CreateFirstUserResponse:
        return self._request("POST", "/api/v2/users/first", req, expect=201,
                             model_type=types.CreateFirstUserResponse)

    def login_with_password(self, email: str, password: str) -> str:
        resp = self._request("POST", "/api/v2/users/login",
                             types.LoginWithPasswordRequest(email=email, password=password),
                             expect=201, model_type=types.LoginWithPasswordResponse)
        return resp.session_token

    def logout(self) -> None:
        self._request("POST", "/api/v2/users/logout")

    def user(self, user: str | uuid.UUID = "me") -> types.User:
        return self._request("GET", f"/api/v2/users/{user}", model_type=types.User)

    def users(self, q: str = "", limit: int = 0, offset: int = 0) -> types.GetUsersResponse:
        params = {k: v for k, v in (("q", q), ("limit", limit), ("offset", offset)) if v}
        return self._request("GET", "/api/v2/users", params=params, model_type=types.GetUsersResponse)

    def create_user(self, req: types.CreateUserRequest) -> types.User:
        return self._request("POST", "/api/v2/users", req, expect=201, model_type=types.User)

    def delete_user(self, user: str | uuid.UUID) -> None:
        self._request("DELETE", f"/api/v2/users/{user}")

    def update_user_status(self, user: str | uuid.UUID, status: str) -> types.User:
        action = {"suspended": "suspend", "active": "activate"}[status]
        return self._request("PUT", f"/api/v2/users/{user}/status/{action}", model_type=types.User)

    def update_user_password(self, user: str | uuid.UUID, password: str, old_password: str = "") -> None:
        self._request("PUT", f"/api/v2/users/{user}/password",
                      types.UpdateUserPasswordRequest(password=password, old_password=old_password),
                      expect=204)

    # workspace proxies (owners manage them; everyone reads them and the regions)
    def create_workspace_proxy(self, req: types.CreateWorkspaceProxyRequest
                               ) -> types.UpdateWorkspaceProxyResponse:
        return self._request("POST", "/api/v2/workspaceproxies", req, expect=201,
                             model_type=types.UpdateWorkspaceProxyResponse)

    def workspace_proxies(self) -> list[types.WorkspaceProxy]:
        return self._request("GET", "/api/v2/workspaceproxies",
                             model_type=list[types.WorkspaceProxy])

    def workspace_proxy(self, name_or_id: str | uuid.UUID) -> types.WorkspaceProxy:
        return self._request("GET", f"/api/v2/workspaceproxies/{name_or_id}",
                             model_type=types.WorkspaceProxy)

    def patch_workspace_proxy(self, req: types.PatchWorkspaceProxy
                              ) -> types.UpdateWorkspaceProxyResponse:
        return self._request("PATCH", f"/api/v2/workspaceproxies/{req.id}", req,
                             model_type=types.UpdateWorkspaceProxyResponse)

    def delete_workspace_proxy(self, name_or_id: str | uuid.UUID) -> None:
        self._request("DELETE", f"/api/v2/workspaceproxies/{name_or_id}")

    def app_host(self) -> str:
        return self._request("GET", "/api/v2/applications/host",
                             model_type=types.AppHostResponse).host

    def git_ssh_key(self, user: str | uuid.UUID = "me") -> types.GitSSHKey:
        return self._request("GET", f"/api/v2/users/{user}/gitsshkey", model_type=types.GitSSHKey)

    def regenerate_git_ssh_key(self, user: str | uuid.UUID = "me") -> types.GitSSHKey:
        return self._request("PUT", f"/api/v2/users/{user}/gitsshkey", model_type=types.GitSSHKey)

    def update_user_roles(self, user: str | uuid.UUID, roles: list[str]) -> types.User:
        return self._request("PUT", f"/api/v2/users/{user}/roles", types.UpdateRoles(roles=roles),
                             model_type=types.User)

    def update_user_profile(self, user: str | uuid.UUID, username: str, name: str = "") -> types.User:
        return self._request("PUT", f"/api/v2/users/{user}/profile",
                             types.UpdateUserProfileRequest(username=username, name=name),
                             model_type=types.User)

    def site_roles(self) -> list[types.AssignableRoles]:
        return self._request("GET", "/api/v2/users/roles", model_type=list[types.AssignableRoles])

    def user_roles(self, user: str | uuid.UUID = "me") -> types.UserRoles:
        return self._request("GET", f"/api/v2/users/{user}/roles", model_type=types.UserRoles)

    def organization_roles(self, org: str | uuid.UUID = "default") -> list[types.AssignableRoles]:
        return self._request("GET", f"/api/v2/organizations/{org}/members/roles",
                             model_type=list[types.AssignableRoles])

    def organization_member(self, org: str | uuid.UUID, user: str | uuid.UUID
                            ) -> types.OrganizationMemberWithUserData:
        return self._request("GET", f"/api/v2/organizations/{org}/members/{user}",
                             model_type=types.OrganizationMemberWithUserData)

    def add_organization_member(self, org: str | uuid.UUID, user: str | uuid.UUID
                                ) -> types.OrganizationMember:
        return self._request("POST", f"/api/v2/organizations/{org}/members/{user}",
                             model_type=types.OrganizationMember)

    def remove_organization_member(self, org: str | uuid.UUID, user: str | uuid.UUID) -> None:
        self._request("DELETE", f"/api/v2/organizations/{org}/members/{user}", expect=204)

    def update_organization_member_roles(self, org: str | uuid.UUID, user: str | uuid.UUID,
                                         roles: list[str]) -> types.OrganizationMember:
        return self._request("PUT", f"/api/v2/organizations/{org}/members/{user}/roles",
                             types.UpdateRoles(roles=roles), model_type=types.OrganizationMember)

    def auth_check(self, checks: dict[str, types.AuthorizationCheck]) -> dict[str, bool]:
        return self._request("POST", "/api/v2/authcheck", types.AuthorizationRequest(checks=checks),
                             model_type=dict[str, bool])

    def user_appearance(self, user: str | uuid.UUID = "me") -> types.UserAppearanceSettings:
        return self._request("GET", f"/api/v2/users/{user}/appearance",
                             model_type=types.UserAppearanceSettings)

    def update_user_appearance(self, user: str | uuid.UUID, theme_preference: str,
                               terminal_font: str = "") -> types.UserAppearanceSettings:
        return self._request("PUT", f"/api/v2/users/{user}/appearance",
                             types.UpdateUserAppearanceSettingsRequest(theme_preference,
                                                                       terminal_font),
                             model_type=types.UserAppearanceSettings)

    # deployment
    def deployment_config(self) -> types.DeploymentConfig:
        return self._request("GET", "/api/v2/deployment/config", model_type=types.DeploymentConfig)

    def deployment_stats(self) -> types.DeploymentStats:
        return self._request("GET", "/api/v2/deployment/stats", model_type=types.DeploymentStats)

    def deployment_ssh(self) -> types.SSHConfigResponse:
        return self._request("GET", "/api/v2/deployment/ssh", model_type=types.SSHConfigResponse)

    def appearance(self) -> types.AppearanceConfig:
        return self._request("GET", "/api/v2/appearance", model_type=types.AppearanceConfig)

    def regions(self) -> types.RegionsResponse:
        return self._request("GET", "/api/v2/regions", model_type=types.RegionsResponse)

    def template_examples(self, org: str | uuid.UUID = "default") -> list[types.TemplateExample]:
        return self._request("GET", f"/api/v2/organizations/{org}/templates/examples",
                             model_type=list[types.TemplateExample])

    # API tokens
    def create_token(self, user: str | uuid.UUID = "me", *, token_name: str = "",
                     lifetime_seconds: int = 0, scope: str = "all") -> str:
        req = types.CreateTokenRequest(lifetime=lifetime_seconds * 1_000_000_000, scope=scope,
                                       token_name=token_name)
        return self._request("POST", f"/api/v2/users/{user}/keys/tokens", req, expect=201,
                             model_type=types.GenerateAPIKeyResponse).key

    def create_api_key(self, user: str | uuid.UUID = "me") -> str:
        """A new session key (not a named token), as ``coder login --token`` stores."""
        return self._request("POST", f"/api/v2/users/{user}/keys", expect=201,
                             model_type=types.GenerateAPIKeyResponse).key

    def tokens(self, user: str | uuid.UUID = "me", include_all: bool = False) -> list[types.APIKeyWithOwner]:
        params = {"include_all": "true"} if include_all else None
        return self._request("GET", f"/api/v2/users/{user}/keys/tokens", params=params,
                             model_type=list[types.APIKeyWithOwner])

    def token_by_name(self, name: str, user: str | uuid.UUID = "me") -> types.APIKey:
        return self._request("GET", f"/api/v2/users/{user}/keys/tokens/{name}",
                             model_type=types.APIKey)

    def api_key(self, key_id: str, user: str | uuid.UUID = "me") -> types.APIKey:
        return self._request("GET", f"/api/v2/users/{user}/keys/{key_id}", model_type=types.APIKey)

    def delete_api_key(self, key_id: str, user: str | uuid.UUID = "me") -> None:
        self._request("DELETE", f"/api/v2/users/{user}/keys/{key_id}", expect=204)

    # organizations
    def organizations(self) -> list[types.Organization]:
        return self._request("GET", "/api/v2/organizations", model_type=list[types.Organization])

    def organization(self, org: str | uuid.UUID) -> types.Organization:
        return self._request("GET", f"/api/v2/organizations/{org}", model_type=types.Organization)

    def user_organizations(self, user: str | uuid.UUID = "me") -> list[types.Organization]:
        return self._request("GET", f"/api/v2/users/{user}/organizations",
                             model_type=list[types.Organization])

    def organization_by_name(self, name: str, user: str | uuid.UUID = "me") -> types.Organization:
        return self._request("GET", f"/api/v2/users/{user}/organizations/"
                             f"{quote(name, safe='')}", model_type=types.Organization)

    def organization_members(self, org: str | uuid.UUID) -> list[types.OrganizationMemberWithUserData]:
        return self._request("GET", f"/api/v2/organizations/{org}/members",
                             model_type=list[types.OrganizationMemberWithUserData])

    def provisioner_daemons(self, org: str | uuid.UUID) -> list[types.ProvisionerDaemon]:
        return self._request("GET", f"/api/v2/organizations/{org}/provisionerdaemons",
                             model_type=list[types.ProvisionerDaemon])

    def provisioner_jobs(self, org: str | uuid.UUID, status: list[str] = (),
                         limit: int = 0) -> list[types.ProvisionerJob]:
        params = {k: v for k, v in (("status", ",".join(status)), ("limit", limit)) if v}
        return self._request("GET", f"/api/v2/organizations/{org}/provisionerjobs",
                             params=params, model_type=list[types.ProvisionerJob])

    def provisioner_job(self, org: str | uuid.UUID, job_id: str | uuid.UUID) -> types.ProvisionerJob:
        return self._request("GET", f"/api/v2/organizations/{org}/provisionerjobs/{job_id}",
                             model_type=types.ProvisionerJob)

    # audit
    def audit_logs(self, q: str = "", limit: int = 50, offset: int = 0) -> types.AuditLogResponse:
        return self._request("GET", "/api/v2/audit", params={"q": q, "limit": limit, "offset": offset},
                             model_type=types.AuditLogResponse)

    # files, templates and workspaces
    def upload_file(self, data: bytes, content_type: str = "application/x-tar") -> uuid.UUID:
        """Upload a template archive; the same bytes give the same ID."""
        headers = {SESSION_HEADER: self.token, "Content-Type": content_type}
        resp = self.http.post(self.url + "/api/v2/files", data=data, headers=headers,
                              timeout=self.timeout)
        if resp.status_code not in (200, 201):
            raise _error_from(resp)
        return model.decode_value(types.UploadResponse, resp.json()).hash

    def download_file(self, file_id: uuid.UUID | str) -> bytes:
        resp = self.http.get(f"{self.url}/api/v2/files/{file_id}",
                             headers={SESSION_HEADER: self.token}, timeout=self.timeout)
        if resp.status_code != 200:
            raise _error_from(resp)
        return resp.content

    def create_template_version(self, org: str | uuid.UUID,
                                req: types.CreateTemplateVersionRequest) -> types.TemplateVersion:
        return self._request("POST", f"/api/v2/organizations/{org}/templateversions", req,
                             expect=201, model_type=types.TemplateVersion)

    def template_version(self, version_id: uuid.UUID | str) -> types.TemplateVersion:
        return self._request("GET", f"/api/v2/templateversions/{version_id}",
                             model_type=types.TemplateVersion)

    def template_version_parameters(self, version_id: uuid.UUID | str
                                    ) -> list[types.TemplateVersionParameter]:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/rich-parameters",
                             model_type=list[types.TemplateVersionParameter])

    def template_version_presets(self, version_id: uuid.UUID | str) -> list[types.Preset]:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/presets",
                             model_type=list[types.Preset])

    def template_version_variables(self, version_id: uuid.UUID | str
                                   ) -> list[types.TemplateVersionVariable]:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/variables",
                             model_type=list[types.TemplateVersionVariable])

    def template_version_resources(self, version_id: uuid.UUID | str
                                   ) -> list[types.WorkspaceResource]:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/resources",
                             model_type=list[types.WorkspaceResource])

    def template_version_logs(self, version_id: uuid.UUID | str,
                              after: int = 0) -> list[types.ProvisionerJobLog]:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/logs",
                             params={"after": after} if after else None,
                             model_type=list[types.ProvisionerJobLog])

    def cancel_template_version(self, version_id: uuid.UUID | str) -> None:
        self._request("PATCH", f"/api/v2/templateversions/{version_id}/cancel")

    def create_template_version_dry_run(self, version_id: uuid.UUID | str,
                                        req: types.CreateTemplateVersionDryRunRequest
                                        ) -> types.ProvisionerJob:
        return self._request("POST", f"/api/v2/templateversions/{version_id}/dry-run", req,
                             expect=201, model_type=types.ProvisionerJob)

    def template_version_dry_run(self, version_id: uuid.UUID | str,
                                 job_id: uuid.UUID | str) -> types.ProvisionerJob:
        return self._request("GET", f"/api/v2/templateversions/{version_id}/dry-run/{job_id}",
                             model_type=types.ProvisionerJob)

    def template_version_dry_run_resources(self, version_id: uuid.UUID | str,
                                           job_id: uuid.UUID | str
                                           ) -> list[types.WorkspaceResource]:
        return self._request(
            "GET", f"/api/v2/templateversions/{version_id}/dry-run/{job_id}/resources",
            model_type=list[types.WorkspaceResource])

    def template_version_dry_run_matched_provisioners(self, version_id: uuid.UUID | str,
                                                      job_id: uuid.UUID | str
                                                      ) -> types.MatchedProvisioners:
        return self._request(
            "GET", f"/api/v2/templateversions/{version_id}/dry-run/{job_id}/matched-provisioners",
            model_type=types.MatchedProvisioners)

    def cancel_template_version_dry_run(self, version_id: uuid.UUID | str,
                                        job_id: uuid.UUID | str) -> None:
        self._request("PATCH", f"/api/v2/templateversions/{version_id}/dry-run/{job_id}/cancel")

    def create_template(self, org: str | uuid.UUID, req: types.CreateTemplateRequest) -> types.Template:
        return self._request("POST", f"/api/v2/organizations/{org}/templates", req, expect=201,
                             model_type=types.Template)

    def templates(self, org: str | uuid.UUID | None = None) -> list[types.Template]:
        path = f"/api/v2/organizations/{org}/templates" if org else "/api/v2/templates"
        return self._request("GET", path, model_type=list[types.Template])

    def template(self, template_id: uuid.UUID | str) -> types.Template:
        return self._request("GET", f"/api/v2/templates/{template_id}", model_type=types.Template)

    def template_by_name(self, org: str | uuid.UUID, name: str) -> types.Template:
        return self._request("GET", f"/api/v2/organizations/{org}/templates/{name}",
                             model_type=types.Template)

    def update_template_meta(self, template_id: uuid.UUID | str,
                             req: types.UpdateTemplateMeta) -> types.Template:
        return self._request("PATCH", f"/api/v2/templates/{template_id}", req,
                             model_type=types.Template)

    def delete_template(self, template_id: uuid.UUID | str) -> None:
        self._request("DELETE", f"/api/v2/templates/{template_id}")

    def template_versions(self, template_id: uuid.UUID | str,
                          include_archived: bool = False) -> list[types.TemplateVersion]:
        return self._request("GET", f"/api/v2/templates/{template_id}/versions",
                             params={"include_archived": "true"} if include_archived else None,
                             model_type=list[types.TemplateVersion])

    def template_version_by_name(self, template_id: uuid.UUID | str,
                                 name: str) -> types.TemplateVersion:
        return self._request("GET", f"/api/v2/templates/{template_id}/versions/{name}",
                             model_type=types.TemplateVersion)

    def previous_template_version(self, org: str | uuid.UUID, template: str,
                                  name: str) -> types.TemplateVersion:
        return self._request(
            "GET", f"/api/v2/organizations/{org}/templates/{template}/versions/{name}/previous",
            model_type=types.TemplateVersion)

    def set_template_version_archived(self, version_id: uuid.UUID | str, archived: bool) -> None:
        verb = "archive" if archived else "unarchive"
        self._request("POST", f"/api/v2/templateversions/{version_id}/{verb}")

    def archive_unused_template_versions(self, template_id: uuid.UUID | str, all: bool = False
                                         ) -> types.ArchiveTemplateVersionsResponse:
        return self._request("POST", f"/api/v2/templates/{template_id}/versions/archive",
                             types.ArchiveTemplateVersionsRequest(all=all),
                             model_type=types.ArchiveTemplateVersionsResponse)

    def update_active_template_version(self, template_id: uuid.UUID | str,
                                       version_id: uuid.UUID | str) -> None:
        self._request("PATCH", f"/api/v2/templates/{template_id}/versions",
                      types.UpdateActiveTemplateVersion(id=uuid.UUID(str(version_id))))

    def create_workspace(self, req: types.CreateWorkspaceRequest,
                         user: str | uuid.UUID = "me") -> types.Workspace:
        return self._request("POST", f"/api/v2/users/{user}/workspaces", req, expect=201,
                             model_type=types.Workspace)

    def workspaces(self, q: str = "", limit: int = 0, offset: int = 0) -> types.WorkspacesResponse:
        params = {k: v for k, v in (("q", q), ("limit", limit), ("offset", offset)) if v}
        return self._request("GET", "/api/v2/workspaces", params=params,
                             model_type=types.WorkspacesResponse)

    def workspace(self, workspace_id: uuid.UUID | str, include_deleted: bool = False) -> types.Workspace:
        return self._request("GET", f"/api/v2/workspaces/{workspace_id}",
                             params={"include_deleted": "true"} if include_deleted else None,
                             model_type=types.Workspace)

    def workspace_by_owner_and_name(self, owner: str, name: str,
                                    include_deleted: bool = False) -> types.Workspace:
        return self._request("GET", f"/api/v2/users/{owner}/workspace/{name}",
                             params={"include_deleted": "true"} if include_deleted else None,
                             model_type=types.Workspace)

    def create_workspace_build(self, workspace_id: uuid.UUID | str,
                               req: types.CreateWorkspaceBuildRequest) -> types.WorkspaceBuild:
        return self._request("POST", f"/api/v2/workspaces/{workspace_id}/builds", req,
                             expect=201, model_type=types.WorkspaceBuild)

    def workspace_builds(self, workspace_id: uuid.UUID | str) -> list[types.WorkspaceBuild]:
        return self._request("GET", f"/api/v2/workspaces/{workspace_id}/builds",
                             model_type=list[types.WorkspaceBuild])

    def workspace_build(self, build_id: uuid.UUID | str) -> types.WorkspaceBuild:
        return self._request("GET", f"/api/v2/workspacebuilds/{build_id}",
                             model_type=types.WorkspaceBuild)

    def workspace_timings(self, workspace_id: uuid.UUID | str) -> types.WorkspaceBuildTimings:
        return self._request("GET", f"/api/v2/workspaces/{workspace_id}/timings",
                             model_type=types.WorkspaceBuildTimings)

    def workspace_build_timings(self, build_id: uuid.UUID | str) -> types.WorkspaceBuildTimings:
        return self._request("GET", f"/api/v2/workspacebuilds/{build_id}/timings",
                             model_type=types.WorkspaceBuildTimings)

    def workspace_build_logs(self, build_id: uuid.UUID | str,
                             after: int = 0) -> list[types.ProvisionerJobLog]:
        return self._request("GET", f"/api/v2/workspacebuilds/{build_id}/logs",
                             params={"after": after} if after else None,
                             model_type=list[types.ProvisionerJobLog])

    def workspace_build_resources(self, build_id: uuid.UUID | str) -> list[types.WorkspaceResource]:
        return self._request("GET", f"/api/v2/workspacebuilds/{build_id}/resources",
                             model_type=list[types.WorkspaceResource])

    def cancel_workspace_build(self, build_id: uuid.UUID | str) -> None:
        self._request("PATCH", f"/api/v2/workspacebuilds/{build_id}/cancel")

    def update_workspace(self, workspace_id: uuid.UUID | str, name: str) -> None:
        """Rename a workspace (Coder's PATCH /workspaces/{id})."""
        self._request("PATCH", f"/api/v2/workspaces/{workspace_id}",
                      types.UpdateWorkspaceRequest(name=name), expect=204)

    def workspace_build_by_number(self, owner: str, workspace: str,
                                  number: int) -> types.WorkspaceBuild:
        return self._request("GET", f"/api/v2/users/{owner}/workspace/{workspace}/builds/{number}",
                             model_type=types.WorkspaceBuild)

    def workspace_build_parameters(self, build_id: uuid.UUID | str
                                   ) -> list[types.WorkspaceBuildParameter]:
        return self._request("GET", f"/api/v2/workspacebuilds/{build_id}/parameters",
                             model_type=list[types.WorkspaceBuildParameter])

    def workspace_build_state(self, build_id: uuid.UUID | str) -> bytes:
        """The build's Terraform state, as stored (template admins only)."""
        resp = self.http.get(f"{self.url}/api/v2/workspacebuilds/{build_id}/state",
                             headers={SESSION_HEADER: self.token}, timeout=self.timeout)
        if resp.status_code != 200:
            raise _error_from(resp)
        return resp.content

    def update_workspace_build_state(self, build_id: uuid.UUID | str, state: bytes) -> None:
        self._request("PUT", f"/api/v2/workspacebuilds/{build_id}/state",
                      types.UpdateWorkspaceBuildStateRequest(
                          state=base64.b64encode(state).decode()), expect=204)

    def update_workspace_ttl(self, workspace_id: uuid.UUID | str, ttl_ms: int | None) -> None:
        self._request("PUT", f"/api/v2/workspaces/{workspace_id}/ttl",
                      types.UpdateWorkspaceTTLRequest(ttl_ms=ttl_ms), expect=204)

    def update_workspace_autostart(self, workspace_id: uuid.UUID | str,
                                   schedule: str | None) -> None:
        self._request("PUT", f"/api/v2/workspaces/{workspace_id}/autostart",
                      types.UpdateWorkspaceAutostartRequest(schedule=schedule), expect=204)

    def extend_workspace(self, workspace_id: uuid.UUID | str,
                         deadline: dt.datetime) -> types.Response:
        return self._request("PUT", f"/api/v2/workspaces/{workspace_id}/extend",
                             types.PutExtendWorkspaceRequest(deadline=deadline),
                             model_type=types.Response)

    def post_workspace_usage(self, workspace_id: uuid.UUID | str,
                             req: types.PostWorkspaceUsageRequest) -> None:
        self._request("POST", f"/api/v2/workspaces/{workspace_id}/usage", req, expect=204)

    def favorite_workspace(self, workspace_id: uuid.UUID | str, favorite: bool = True) -> None:
        """Coder's PUT (favorite) and DELETE (unfavorite) /workspaces/{id}/favorite."""
        self._request("PUT" if favorite else "DELETE",
                      f"/api/v2/workspaces/{workspace_id}/favorite", expect=204)

    def update_workspace_automatic_updates(self, workspace_id: uuid.UUID | str,
                                           policy: str) -> None:
        self._request("PUT", f"/api/v2/workspaces/{workspace_id}/autoupdates",
                      types.UpdateWorkspaceAutomaticUpdatesRequest(automatic_updates=policy),
                      expect=204)

    # workspace agents
    def workspace_agent(self, agent_id: uuid.UUID | str) -> types.WorkspaceAgent:
        return self._request("GET", f"/api/v2/workspaceagents/{agent_id}",
                             model_type=types.WorkspaceAgent)

    def workspace_agent_logs(self, agent_id: uuid.UUID | str,
                             after: int = 0) -> list[types.WorkspaceAgentLog]:
        return self._request("GET", f"/api/v2/workspaceagents/{agent_id}/logs",
                             params={"after": after} if after else None,
                             model_type=list[types.WorkspaceAgentLog])

    def follow_job_logs(self, path: str, after: int = 0):
        """Yield ProvisionerJobLog as a job writes them, until it completes (websocket).

        ``path`` is ``templateversions/ID``, ``templateversions/ID/dry-run/JOB`` or
        ``workspacebuilds/ID``.
        """
        import json

        import websocket  # websocket-client, imported only by those who follow

        url = f"{self.url.replace('http', 'ws', 1)}/api/v2/{path}/logs?follow=true&after={after}"
        options = {}
        if self.url.startswith("https") and isinstance(self.http.verify, str):
            options["sslopt"] = {"ca_certs": self.http.verify}
        try:
            ws = websocket.create_connection(url, header={**self.headers, SESSION_HEADER: self.token},
                                             timeout=self.timeout, **options)
        except websocket.WebSocketBadStatusException as exc:
            raise APIError(exc.status_code, f"Following logs failed: {exc}", url=url) from None
        ws.settimeout(None)  # a build may be silent for long; the server closes when it ends
        try:
            while True:
                try:
                    message = ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    return
                if not message:
                    return
                yield model.decode_value(types.ProvisionerJobLog, json.loads(message))
        finally:
            ws.close()
