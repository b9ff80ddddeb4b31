"""A workspace proxy's side of the API, as Coder's wsproxysdk: the proxy authenticates
with its own token (``Coder-External-Proxy-Token``, never a user session) and calls only
``/api/v2/workspaceproxies/me/...``. ``ProxyClient`` wraps the one SDK client."""
from __future__ import annotations

import uuid

from . import types
from .client import Client

ME = "/api/v2/workspaceproxies/me"
PROXY_TOKEN_HEADER = "Coder-External-Proxy-Token"


class ProxyClient:
    def __init__(self, url: str, proxy_token: str, **options):
        self.sdk = Client(url, headers={PROXY_TOKEN_HEADER: proxy_token}, **options)
        self.proxy_id = proxy_token.partition(":")[0]

    def register(self, req: types.RegisterWorkspaceProxyRequest
                 ) -> types.RegisterWorkspaceProxyResponse:
        return self.sdk._request("POST", f"{ME}/register", req, expect=201,
                                 model_type=types.RegisterWorkspaceProxyResponse)

    def deregister(self, replica_id: uuid.UUID | None = None) -> None:
        self.sdk._request("POST", f"{ME}/deregister",
                          types.DeregisterWorkspaceProxyRequest(replica_id=replica_id), expect=204)

    def issue_signed_app_token(self, app: types.WorkspaceAppRequest, session_token: str) -> str:
        return self.sdk._request(
            "POST", f"{ME}/issue-signed-app-token",
            types.IssueSignedAppTokenRequest(app_request=app, session_token=session_token),
            expect=201, model_type=types.IssueSignedAppTokenResponse).signed_token_str

    def issue_signed_connect_token(self, agent_id: uuid.UUID, target: str,
                                   session_token: str) -> str:
        return self.sdk._request(
            "POST", f"{ME}/issue-signed-connect-token",
            types.IssueSignedConnectTokenRequest(agent_id=agent_id, target=target,
                                                 session_token=session_token),
            expect=201, model_type=types.IssueSignedAppTokenResponse).signed_token_str
