"""The typed client for coderd's API v2.

One private ``_request`` does the HTTP, the status check and the decoding, so
each endpoint is one short method. Any unexpected status becomes ``APIError``
carrying Coder's ``{message, detail, validations}`` and a hint for the CLI.
"""
from __future__ import annotations

import uuid
from typing import Any

import requests

from . import model, types

SESSION_HEADER = "Coder-Session-Token"


class APIError(Exception):
    def __init__(self, status: int, message: str, detail: str = "",
                 validations: list[types.ValidationError] | None = None, method: str = "",
                 url: str = ""):
        self.status = status
        self.message = message
        self.detail = detail
        self.validations = validations or []
        self.method = method
        self.url = url
        super().__init__(self.describe())

    def describe(self) -> str:
        text = self.message
        if self.detail:
            text += f" {self.detail}"
        for v in self.validations:
            text += f"\n  {v.field}: {v.detail}"
        return text

    @property
    def hint(self) -> str:
        if self.status == 401:
            return "Try logging in using 'coder login <url>'."
        return ""


def _error_from(resp: requests.Response) -> APIError:
    message, detail, validations = f"{resp.request.method} {resp.url}: {resp.status_code}", "", []
    try:
        body = resp.json()
        message = body.get("message") or message
        detail = body.get("detail") or ""
        validations = [types.ValidationError(v.get("field", ""), v.get("detail", ""))
                       for v in body.get("validations") or []]
    except ValueError:
        detail = resp.text[:200]
    return APIError(resp.status_code, message, detail, validations, resp.request.method, resp.url)


class Client:
    def __init__(self, url: str, token: str = "", *, verify: bool | str = True,
                 timeout: float = 60.0, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = session or requests.Session()
        self.http.verify = verify
        self.http.headers["User-Agent"] = "coder-appliance-sdk"

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

    def update_user_roles(self, user: str | uuid.UUID, roles: list[str]) -> types.User:
        return self._request("PUT", f"/api/v2/users/{user}/roles", types.UpdateRoles(roles=roles),
                             model_type=types.User)

    def update_user_profile(self, user: str | uuid.UUID, username: str, name: str = "") -> types.User:
        return self._request("PUT", f"/api/v2/users/{user}/profile",
                             types.UpdateUserProfileRequest(username=username, name=name),
                             model_type=types.User)

    def site_roles(self) -> list[types.AssignableRoles]:
        return self._request("GET", "/api/v2/users/roles", model_type=list[types.AssignableRoles])

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

    def organization_members(self, org: str | uuid.UUID) -> list[types.OrganizationMemberWithUserData]:
        return self._request("GET", f"/api/v2/organizations/{org}/members",
                             model_type=list[types.OrganizationMemberWithUserData])

    # audit
    def audit_logs(self, q: str = "", limit: int = 50, offset: int = 0) -> types.AuditLogResponse:
        return self._request("GET", "/api/v2/audit", params={"q": q, "limit": limit, "offset": offset},
                             model_type=types.AuditLogResponse)
