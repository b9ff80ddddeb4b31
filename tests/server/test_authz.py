"""The authorization layer: every query is wrapped, every route obeys the roles."""
from __future__ import annotations

import inspect
import uuid

import pytest
import requests

from appliance.sdk import types
from server.api import ROUTERS
from server.authz import rbac
from server.authz.policy import Policy
from server.authz.querier import AuthzQuerier, public_query_methods
from server.db.queries import Queries

from tests.kit.agent import workspace_with_agent
from tests.kit.coderd import create_another_user
from tests.kit.provisioning import RouteObjects

ROLES = ["owner", "template-admin", "user-admin", "auditor", "member"]


def test_every_query_has_one_policy_under_its_name_in_its_domain():
    """Coder's dbauthz accounting test: a new query without a policy fails here, and so does
    a policy anywhere but in its domain's class (server/authz/policies/X.py guards
    server/db/queries/X.py), or a method of AuthzQuerier that bypasses the policies."""
    policy_classes = {c.__module__.rpartition(".")[2]: c for c in AuthzQuerier.__bases__}
    for queries_class in Queries.__bases__:
        domain = queries_class.__module__.rpartition(".")[2]
        queries = {n for n, v in vars(queries_class).items()
                   if inspect.isfunction(v) and not n.startswith("_")}
        policies = {n: v for n, v in vars(policy_classes.pop(domain, object)).items()
                    if not n.startswith("__")}
        assert set(policies) == queries, (domain, queries ^ set(policies))
        for name, policy in policies.items():
            assert isinstance(policy, Policy) and policy.name == name, (domain, name)
    assert not policy_classes, f"policies for no query module: {list(policy_classes)}"
    assert not set(vars(AuthzQuerier)) & set(public_query_methods())
    for name in public_query_methods():
        assert isinstance(inspect.getattr_static(AuthzQuerier, name), Policy), name


def test_system_actor_needs_a_reason():
    with pytest.raises(ValueError):
        rbac.system("")


def test_member_cannot_call_system_only_queries():
    member = rbac.Subject(id=uuid.uuid4(), roles=())
    q = AuthzQuerier(Queries(conn=None), member)
    with pytest.raises(rbac.NotAuthorized):
        q.get_authentication("abcdefghij")
    with pytest.raises(rbac.NotAuthorized):
        q.insert_audit_log(user_id=None, organization_id=None, ip=None, user_agent="",
                           resource_type="user", resource_id=None, resource_target="", action="x",
                           diff={}, status_code=200, request_id=uuid.uuid4())


# Expected status per role for each route, acting on a *different* member
# ("target"). ``ALL`` means every role gets the status.
def _ok(code: int, *roles: str) -> dict[str, int]:
    return {r: code for r in roles}


def expect(ok: int, allowed: tuple[str, ...], denied: int = 403, hidden: int = 404,
           readers: tuple[str, ...] = ("owner", "template-admin", "user-admin", "auditor")) -> dict:
    """``allowed`` get ``ok``; those who can't see the target get ``hidden``; the rest ``denied``."""
    out = {}
    for role in ROLES:
        if role in allowed:
            out[role] = ok
        elif role in readers:
            out[role] = denied
        else:
            out[role] = hidden
    return out


EVERYONE = tuple(ROLES)
USER_ADMINS = ("owner", "user-admin")
TEMPLATE_ADMINS = ("owner", "template-admin")


def workspace_write(ok: int) -> dict[str, int]:
    """Changing another member's workspace: template admins read it (403), others don't (404)."""
    return {"owner": ok, "template-admin": 403, "user-admin": 404, "auditor": 404, "member": 404}

MATRIX: dict[tuple[str, str], dict] = {
    ("GET", "/users"): expect(200, EVERYONE),
    ("POST", "/users"): expect(201, USER_ADMINS, readers=EVERYONE),
    ("GET", "/users/<user>"): expect(200, ("owner", "template-admin", "user-admin", "auditor")),
    ("DELETE", "/users/<user>"): expect(200, USER_ADMINS),
    ("PUT", "/users/<user>/status/suspend"): expect(200, USER_ADMINS),
    ("PUT", "/users/<user>/status/activate"): expect(200, USER_ADMINS),
    ("PUT", "/users/<user>/password"): expect(204, USER_ADMINS),
    ("PUT", "/users/<user>/profile"): expect(200, USER_ADMINS),
    ("PUT", "/users/<user>/roles"): expect(200, USER_ADMINS),
    # a git SSH key is personal data: user admins read it (read_personal), only owners renew it
    ("GET", "/users/<user>/gitsshkey"): expect(200, USER_ADMINS, denied=404),
    ("PUT", "/users/<user>/gitsshkey"): expect(200, ("owner",)),
    ("GET", "/users/roles"): expect(200, EVERYONE),
    ("GET", "/applications/host"): expect(200, EVERYONE),
    ("POST", "/users/<user>/keys/tokens"): expect(201, ("owner",)),
    ("POST", "/users/<user>/keys"): expect(201, ("owner",)),
    # Readers of the user see an empty list: the tokens are filtered away.
    ("GET", "/users/<user>/keys/tokens"): expect(200, ("owner", "template-admin", "user-admin", "auditor")),
    ("GET", "/users/<user>/keys/tokens/<keyname>"): expect(200, ("owner",), denied=404),
    ("GET", "/users/<user>/keys/tokens/tokenconfig"): expect(200, ("owner", "template-admin", "user-admin", "auditor")),
    ("GET", "/users/<user>/keys/<keyid>"): expect(200, ("owner",), denied=404),
    ("DELETE", "/users/<user>/keys/<keyid>"): expect(204, ("owner",), denied=404),
    ("POST", "/users/logout"): expect(200, EVERYONE),
    ("GET", "/organizations"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>"): expect(200, EVERYONE),
    ("GET", "/users/<user>/organizations"): expect(200, ("owner", "template-admin", "user-admin", "auditor")),
    ("GET", "/organizations/<organization>/members"): expect(200, EVERYONE),
    ("POST", "/organizations/<organization>/members/<user>"): expect(200, USER_ADMINS),
    ("PUT", "/organizations/<organization>/members/<user>/roles"): expect(200, USER_ADMINS),
    ("DELETE", "/organizations/<organization>/members/<user>"): expect(204, USER_ADMINS),
    ("GET", "/audit"): expect(200, ("owner", "auditor"), readers=EVERYONE),
    # provisioner daemons: every member of the organization sees them, as in Coder
    ("GET", "/organizations/<organization>/provisionerdaemons"): expect(200, EVERYONE),
    # provisioner jobs: for those who manage them (owners, template admins), as in Coder
    ("GET", "/organizations/<organization>/provisionerjobs"): expect(200, TEMPLATE_ADMINS,
                                                                       denied=404),
    ("GET", "/organizations/<organization>/provisionerjobs/<jobid>"): expect(
        200, TEMPLATE_ADMINS, denied=404),
    # files, templates and versions: template admins manage, every member of the org reads
    ("POST", "/files"): expect(201, TEMPLATE_ADMINS, readers=EVERYONE),
    ("GET", "/files/<fileid>"): expect(200, TEMPLATE_ADMINS, denied=404),
    # Those who cannot see the uploaded file are told it is not found.
    ("POST", "/organizations/<organization>/templateversions"): expect(201, TEMPLATE_ADMINS,
                                                                       denied=404),
    ("GET", "/templateversions/<templateversion>"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/rich-parameters"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/variables"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/presets"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/resources"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/logs"): expect(200, EVERYONE),
    ("PATCH", "/templateversions/<templateversion>/cancel"): expect(200, TEMPLATE_ADMINS,
                                                                   readers=EVERYONE),
    ("PATCH", "/templateversions/<templateversion>"): expect(200, TEMPLATE_ADMINS,
                                                            readers=EVERYONE),
    ("GET", "/templateversions/<templateversion>/schema"): expect(200, EVERYONE),
    ("GET", "/templateversions/<templateversion>/parameters"): expect(200, EVERYONE),
    # dry runs: anyone who may create a workspace starts one of their own; another's is
    # guarded as their workspace
    ("POST", "/templateversions/<templateversion>/dry-run"): expect(201, EVERYONE),
    **{("GET", f"/templateversions/<templateversion>/dry-run/<jobID>{tail}"):
       expect(200, TEMPLATE_ADMINS, denied=404)
       for tail in ("", "/resources", "/logs", "/matched-provisioners")},
    ("PATCH", "/templateversions/<templateversion>/dry-run/<jobID>/cancel"): workspace_write(200),
    ("POST", "/organizations/<organization>/templates"): expect(201, TEMPLATE_ADMINS,
                                                                readers=EVERYONE),
    ("GET", "/organizations/<organization>/templates"): expect(200, EVERYONE),
    ("GET", "/templates"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>/templates/<templatename>"): expect(200, EVERYONE),
    ("GET", "/templates/<template>"): expect(200, EVERYONE),
    ("PATCH", "/templates/<template>"): expect(200, TEMPLATE_ADMINS, readers=EVERYONE),
    ("DELETE", "/templates/<template>"): expect(200, TEMPLATE_ADMINS, readers=EVERYONE),
    ("GET", "/templates/<template>/versions"): expect(200, EVERYONE),
    ("PATCH", "/templates/<template>/versions"): expect(200, TEMPLATE_ADMINS, readers=EVERYONE),
    ("GET", "/templates/<template>/versions/<templateversionname>"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>/templates/<templatename>/versions/"
            "<templateversionname>"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>/templates/<templatename>/versions/"
            "<templateversionname>/previous"): expect(200, EVERYONE),
    ("POST", "/templates/<template>/versions/archive"): expect(200, TEMPLATE_ADMINS,
                                                                readers=EVERYONE),
    ("POST", "/templateversions/<templateversion>/archive"): expect(200, TEMPLATE_ADMINS,
                                                                    readers=EVERYONE),
    ("POST", "/templateversions/<templateversion>/unarchive"): expect(200, TEMPLATE_ADMINS,
                                                                      readers=EVERYONE),
    # the target member's workspaces: owners act, template admins read, the rest see nothing
    ("POST", "/users/<user>/workspaces"): expect(201, ("owner",)),
    ("POST", "/organizations/<organization>/members/<user>/workspaces"): expect(201, ("owner",)),
    ("GET", "/workspaces"): expect(200, EVERYONE),
    ("GET", "/workspaces/<workspace>"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/users/<user>/workspace/<workspacename>"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("PUT", "/workspaces/<workspace>/ttl"): workspace_write(204),
    ("PUT", "/workspaces/<workspace>/autostart"): workspace_write(204),
    ("PUT", "/workspaces/<workspace>/autoupdates"): workspace_write(204),
    # The template has no autostop: those who may read the workspace hear so (as Coder).
    ("PUT", "/workspaces/<workspace>/extend"): expect(409, TEMPLATE_ADMINS, denied=404),
    # Favorites are one's own: even a deployment owner is refused another's (as Coder).
    ("PUT", "/workspaces/<workspace>/favorite"): expect(403, TEMPLATE_ADMINS, denied=404),
    ("DELETE", "/workspaces/<workspace>/favorite"): expect(403, TEMPLATE_ADMINS, denied=404),
    # renames are off on this coderd: those who may read the workspace hear so (as Coder)
    ("PATCH", "/workspaces/<workspace>"): {"owner": 400, "template-admin": 400,
                                           "user-admin": 404, "auditor": 404, "member": 404},
    ("GET", "/users/<user>/workspace/<workspacename>/builds/<buildnumber>"): expect(
        200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspacebuilds/<workspacebuild>/parameters"): expect(200, TEMPLATE_ADMINS,
                                                                    denied=404),
    # Terraform state: only who may change the template, as in Coder; 404 for the rest
    ("GET", "/workspacebuilds/<workspacebuild>/state"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("PUT", "/workspacebuilds/<workspacebuild>/state"): expect(204, TEMPLATE_ADMINS, denied=404),
    ("POST", "/workspaces/<workspace>/builds"): workspace_write(201),
    ("GET", "/workspaces/<workspace>/builds"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspacebuilds/<workspacebuild>"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspacebuilds/<workspacebuild>/logs"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspacebuilds/<workspacebuild>/resources"): expect(200, TEMPLATE_ADMINS,
                                                                   denied=404),
    ("PATCH", "/workspacebuilds/<workspacebuild>/cancel"): workspace_write(200),
    # workspace agents: read as their workspace; the agent's own calls take its token, so a
    # user's session is refused there by everyone
    ("GET", "/workspaceagents/<workspaceagent>"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspaceagents/<workspaceagent>/logs"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspaceagents/<workspaceagent>/watch-metadata"): expect(200, TEMPLATE_ADMINS,
                                                                      denied=404),
    **{(method, f"/workspaceagents/me/{call}"): _ok(401, *ROLES) for method, call in (
        ("GET", "manifest"), ("POST", "report-lifecycle"), ("POST", "startup"),
        ("POST", "log-source"), ("PATCH", "logs"), ("POST", "logs"), ("POST", "report-stats"),
        ("POST", "app-health"), ("POST", "metadata"), ("GET", "gitsshkey"),
        ("POST", "script-completed"))},
    # relay: streams take the ssh action (owners of the workspace or deployment); template
    # admins read the workspace (403). The agent is not connected here: 502 for the owner.
    ("GET", "/workspaceagents/<workspaceagent>/listening-ports"): workspace_write(502),
    # asked for with Upgrade: tcp (see RouteObjects.prepare)
    ("GET", "/workspaceagents/<workspaceagent>/connect"): workspace_write(502),
    ("GET", "/users/<user>/workspace/<workspacename>/connect"): workspace_write(502),
    # a websocket-only rule: Werkzeug answers a plain GET with 400
    ("GET", "/workspaceagents/<workspaceagent>/pty"): _ok(400, *ROLES),
    # issue 19: the dashboard's API
    ("GET", "/users/<user>/roles"): expect(200, ("owner", "template-admin", "user-admin", "auditor")),
    ("GET", "/organizations/<organization>/members/roles"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>/members/<user>"): expect(
        200, ("owner", "template-admin", "user-admin", "auditor")),
    ("POST", "/authcheck"): expect(200, EVERYONE),
    ("GET", "/users/<user>/appearance"): expect(200, USER_ADMINS, denied=404),
    ("PUT", "/users/<user>/appearance"): expect(200, USER_ADMINS),
    ("GET", "/deployment/config"): expect(200, ("owner",), readers=EVERYONE),
    ("GET", "/deployment/stats"): expect(200, ("owner",), readers=EVERYONE),
    ("GET", "/deployment/ssh"): expect(200, EVERYONE),
    ("GET", "/appearance"): expect(200, EVERYONE),
    ("GET", "/regions"): expect(200, EVERYONE),
    ("GET", "/templates/examples"): expect(200, EVERYONE),
    ("GET", "/organizations/<organization>/templates/examples"): expect(200, EVERYONE),
    ("GET", "/workspaces/<workspace>/watch"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspaces/<workspace>/watch-ws"): _ok(400, *ROLES),
    ("GET", "/workspaces/<workspace>/timings"): expect(200, TEMPLATE_ADMINS, denied=404),
    # ws19c: a workspace's use, its next autostart, an agent's deprecated and websocket forms
    ("POST", "/workspaces/<workspace>/usage"): workspace_write(204),
    ("GET", "/workspaces/<workspace>/resolve-autostart"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("GET", "/workspaceagents/<workspaceagent>/startup-logs"): expect(200, TEMPLATE_ADMINS,
                                                                     denied=404),
    ("GET", "/workspaceagents/<workspaceagent>/watch-metadata-ws"): _ok(400, *ROLES),
    # port sharing: read as the workspace, changed by who may change it (the fresh workspace
    # has no agent: "Agent not found." for those who get that far; no share to delete)
    ("GET", "/workspaces/<workspace>/port-share"): expect(200, TEMPLATE_ADMINS, denied=404),
    ("POST", "/workspaces/<workspace>/port-share"): {"owner": 400, "template-admin": 400,
                                                     "user-admin": 404, "auditor": 404,
                                                     "member": 404},
    ("DELETE", "/workspaces/<workspace>/port-share"): {"owner": 404, "template-admin": 403,
                                                       "user-admin": 404, "auditor": 404,
                                                       "member": 404},
    ("GET", "/workspacebuilds/<workspacebuild>/timings"): expect(200, TEMPLATE_ADMINS, denied=404),
    # issue 19: the last user and organization endpoints; preferences, the login type and
    # autofill values are personal data (read_personal), as the appearance
    ("GET", "/users/<user>/preferences"): expect(200, USER_ADMINS, denied=404),
    ("PUT", "/users/<user>/preferences"): expect(200, USER_ADMINS),
    ("GET", "/users/<user>/login-type"): expect(200, USER_ADMINS, denied=404),
    ("GET", "/users/<user>/autofill-parameters"): expect(200, USER_ADMINS, denied=404),
    ("PUT", "/users/<user>/keys/<keyid>/expire"): expect(204, ("owner",), denied=404),
    ("GET", "/users/<user>/organizations/<organizationname>"): expect(
        200, ("owner", "template-admin", "user-admin", "auditor")),
    ("GET", "/organizations/<organization>/paginated-members"): expect(200, EVERYONE),
    # only those who create workspaces for others (owners) get the list; readers of the
    # user are refused, as Coder's
    ("GET", "/organizations/<organization>/members/<user>/workspaces/available-users"): expect(
        200, ("owner",)),
    ("GET", "/experiments"): expect(200, EVERYONE),
    ("GET", "/experiments/available"): expect(200, EVERYONE),
    # workspace proxies (issue 16): everyone reads them (the regions), owners manage them
    ("GET", "/workspaceproxies"): expect(200, EVERYONE),
    ("GET", "/workspaceproxies/<workspaceproxy>"): expect(200, EVERYONE),
    ("POST", "/workspaceproxies"): expect(201, ("owner",), readers=EVERYONE),
    ("PATCH", "/workspaceproxies/<workspaceproxy>"): expect(200, ("owner",), readers=EVERYONE),
    ("DELETE", "/workspaceproxies/<workspaceproxy>"): expect(200, ("owner",), readers=EVERYONE),
    # The terminal at a proxy: who may open the agent's streams (another member's here).
    ("POST", "/applications/reconnecting-pty-signed-token"): workspace_write(200),
}

BODIES = {
    ("POST", "/users"): lambda: {"email": f"{uuid.uuid4().hex[:8]}@example.com",
                                 "username": "n" + uuid.uuid4().hex[:8], "password": "Member-Secure-Pass1"},
    ("PUT", "/users/<user>/password"): lambda: {"password": "Changed1!"},
    ("PUT", "/users/<user>/profile"): lambda: {"username": "p" + uuid.uuid4().hex[:8]},
    ("PUT", "/users/<user>/roles"): lambda: {"roles": ["auditor"]},
    ("POST", "/users/<user>/keys/tokens"): lambda: {"token_name": "t" + uuid.uuid4().hex[:8]},
    ("PUT", "/organizations/<organization>/members/<user>/roles"): lambda: {"roles": []},
    ("POST", "/authcheck"): lambda: {"checks": {"w": {"object": {"resource_type": "workspace"},
                                                      "action": "read"}}},
    ("PUT", "/users/<user>/appearance"): lambda: {"theme_preference": "dark", "terminal_font": ""},
    ("PUT", "/users/<user>/preferences"): lambda: {"collapse_assistant_steps": True},
    ("PUT", "/workspaces/<workspace>/autostart"): lambda: {"schedule": "CRON_TZ=UTC 30 9 * * 1-5"},
    ("PUT", "/workspaces/<workspace>/autoupdates"): lambda: {"automatic_updates": "always"},
    ("PUT", "/workspaces/<workspace>/extend"): lambda: {"deadline": "2099-01-01T00:00:00Z"},
    ("PATCH", "/templateversions/<templateversion>"): lambda: {"message": "patched"},
    ("POST", "/workspaces/<workspace>/port-share"): lambda: {
        "agent_name": "main", "port": 8080, "share_level": "public", "protocol": "http"},
    ("DELETE", "/workspaces/<workspace>/port-share"): lambda: {"agent_name": "main", "port": 8080},
    ("POST", "/workspaceproxies"): lambda: {"name": "p" + uuid.uuid4().hex[:10]},
}


def test_matrix_covers_every_authenticated_route():
    routes = {(s.method, s.path) for r in ROUTERS for s in r.specs if s.auth}
    assert routes == set(MATRIX), {"missing": routes - set(MATRIX), "extra": set(MATRIX) - routes}


@pytest.fixture(scope="module")
def actors(shared_owner):
    clients = {"owner": shared_owner}
    for role in ROLES[1:]:
        clients[role], _ = create_another_user(shared_owner, roles=[] if role == "member" else [role])
    return clients


@pytest.fixture(scope="module")
def objects(shared_coderd, shared_owner):
    return RouteObjects(shared_owner, shared_coderd.dsn)


def send_route(route: tuple[str, str], token: str, shared_owner, objects) -> requests.Response:
    """Call ``route`` with ``token``, on a fresh member ("target") and the objects it needs."""
    method, path = route
    # Targets without a password skip the slow KDF, except where the password matters.
    target = shared_owner.create_user(types.CreateUserRequest(
        email=f"t{uuid.uuid4().hex[:10]}@example.com", username="t" + uuid.uuid4().hex[:10],
        login_type="password" if "password" in path else "none",
        password="Target123!" if "password" in path else ""))
    key_name = "k" + uuid.uuid4().hex[:8]
    shared_owner.create_token(target.id, token_name=key_name)
    key_id = shared_owner.token_by_name(key_name, target.id).id
    if path == "/organizations/<organization>/members/<user>" and method == "POST":
        requests.delete(f"{shared_owner.url}/api/v2/organizations/default/members/{target.id}",
                        headers={"Coder-Session-Token": shared_owner.token}, timeout=10)
    url = (path.replace("<user>", str(target.id)).replace("<organization>", "default")
           .replace("<keyname>", key_name).replace("<keyid>", key_id))
    body = BODIES.get(route, lambda: None)()
    url, body, extra = objects.prepare(route, url, body, target)
    return requests.request(method, f"{shared_owner.url}/api/v2{url}", json=body,
                            data=extra.get("data"), timeout=10, stream=extra.get("stream"),
                            headers={"Coder-Session-Token": token, **extra.get("headers", {})})


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_by_role(route, actors, shared_owner, objects):
    method, path = route
    for role, expected in MATRIX[route].items():
        client = actors[role]
        if path == "/users/logout":
            # Log out a second session of this role, not the one the test uses.
            me = client.user("me")
            token = shared_owner.create_token(me.id, token_name="lo" + uuid.uuid4().hex[:6]) \
                if role != "owner" else client.create_token(token_name="lo" + uuid.uuid4().hex[:6])
            if role != "owner":
                expected = 200  # everyone may end their own session
            status = requests.post(client.url + "/api/v2/users/logout",
                                   headers={"Coder-Session-Token": token}, timeout=10).status_code
            assert status == expected, (role, status)
            continue
        resp = send_route(route, client.token, shared_owner, objects)
        assert resp.status_code == expected, (role, route, resp.status_code, resp.text)
        if resp.status_code >= 400:
            assert resp.json()["message"]


@pytest.fixture(scope="module")
def app_connect_token(shared_owner) -> str:
    """An owner's token made with Coder's newer ``scopes`` field: only for workspace apps."""
    resp = requests.post(shared_owner.url + "/api/v2/users/me/keys/tokens", timeout=10,
                         headers={"Coder-Session-Token": shared_owner.token},
                         json={"token_name": "apps" + uuid.uuid4().hex[:6],
                               "scopes": ["coder:application_connect"]})
    assert resp.status_code == 201, resp.text
    return resp.json()["key"]


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_application_connect_token_reaches_no_api_route(route, app_connect_token, shared_owner,
                                                        objects):
    """Issue 14: a token scoped to application_connect had the owner's full API (GET /users
    answered 200). Now every route refuses it as Coder does: 404 for one thing it may not
    read, 403 otherwise; routes that take no user session refuse it as they refuse all."""
    statuses = set(MATRIX[route].values())
    expected = statuses if len(statuses) == 1 and min(statuses) >= 400 else {403, 404}
    resp = send_route(route, app_connect_token, shared_owner, objects)
    assert resp.status_code in expected, (route, resp.status_code, resp.text)
    assert resp.json()["message"]


def test_application_connect_token_opens_workspace_apps(shared_coderd, shared_owner, actors,
                                                        app_connect_token):
    """What the scope is for still works: the owner's app, through the app proxy (502: the
    agent is not connected, so authorization let it through); another member's token
    is refused."""
    ws, _ = workspace_with_agent(shared_owner, shared_coderd.dsn,
                                 apps=[{"slug": "web", "url": "http://127.0.0.1:9/"}])
    url = f"{shared_coderd.url}/@admin/{ws.name}/apps/web/"
    assert requests.get(url, cookies={"coder_session_token": app_connect_token},
                        timeout=10).status_code == 502
    assert requests.get(url, cookies={"coder_session_token": actors["member"].token},
                        timeout=10).status_code == 404
    assert requests.get(f"{shared_coderd.url}/api/v2/workspaces/{ws.id}", timeout=10,
                        headers={"Coder-Session-Token": app_connect_token}).status_code == 404


def test_every_role_manages_itself(actors):
    for role, client in actors.items():
        me = client.user("me")
        name = "self" + uuid.uuid4().hex[:6]
        token = client.create_token(token_name=name)
        assert token.count("-") == 1
        assert name in [t.token_name for t in client.tokens()]
        client.delete_api_key(client.token_by_name(name).id)
        assert client.update_user_profile("me", me.username, name="Renamed").name == "Renamed", role


def _as(client, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{client.url}/api/v2{path}", json=body, timeout=10,
                            headers={"Coder-Session-Token": client.token})


def test_user_admin_cannot_change_an_owner(shared_owner, actors):
    """Issue 14: a user admin reset an owner's password (204) and could delete them. Every
    change to another user now needs the right to assign each of their roles, as Coder
    rules; only owners assign owner."""
    owner2, user = create_another_user(shared_owner, roles=["owner"], password="Owner2Pass!")
    token_name = "o2" + uuid.uuid4().hex[:6]
    owner2.create_token(token_name=token_name)
    key_id = owner2.token_by_name(token_name).id
    admin = actors["user-admin"]
    u = f"/users/{user.id}"
    attacks = [
        ("PUT", f"{u}/password", {"password": "Taken0ver!"}, 403),
        # no oracle: a wrong old password is not told apart from a right one
        ("PUT", f"{u}/password", {"password": "Taken0ver!", "old_password": "guess"}, 403),
        ("PUT", f"{u}/profile", {"username": "pwned" + uuid.uuid4().hex[:6]}, 403),
        ("PUT", f"{u}/roles", {"roles": ["owner", "auditor"]}, 403),
        ("PUT", f"{u}/roles", {"roles": []}, 403),
        ("PUT", f"{u}/status/activate", None, 403),
        ("PUT", f"{u}/status/suspend", None, 400),  # no one suspends an owner (Coder's 400)
        ("POST", f"{u}/keys/tokens", {"token_name": "pwned"}, 403),
        ("DELETE", f"{u}/keys/{key_id}", None, 404),  # a user admin does not see keys
        ("PUT", f"/organizations/default/members/{user.id}/roles", {"roles": []}, 403),
        ("DELETE", f"/organizations/default/members/{user.id}", None, 403),
        ("DELETE", u, None, 403),
    ]
    for method, path, body, expected in attacks:
        resp = _as(admin, method, path, body)
        assert resp.status_code == expected, (method, path, resp.status_code, resp.text)
        assert resp.json()["message"]
    after = shared_owner.user(str(user.id))
    assert (after.username, after.status, [r.name for r in after.roles]) == \
        (user.username, "active", ["owner"])
    assert after.organization_ids == user.organization_ids
    assert owner2.token_by_name(token_name).id == key_id
    assert owner2.user("me").id == user.id  # the password and the session are the same
    # An owner changes another owner.
    assert _as(shared_owner, "PUT", f"{u}/profile", {"username": user.username,
                                                      "name": "Second"}).status_code == 200


def test_user_admin_changes_who_they_could_have_made(shared_owner, actors):
    """The same rule lets a user admin change members and the roles they assign."""
    admin = actors["user-admin"]
    for roles in ([], ["auditor", "template-admin"], ["user-admin"]):
        _, user = create_another_user(shared_owner, roles=roles)
        u = f"/users/{user.id}"
        assert _as(admin, "PUT", f"{u}/password", {"password": "Reset123!x"}).status_code == 204
        assert _as(admin, "PUT", f"{u}/status/suspend").status_code == 200
        assert _as(admin, "DELETE", u).status_code == 200, roles


def test_member_cannot_change_another_member(shared_owner, actors):
    """Another member is not even visible to a member: 404 for every change."""
    member = actors["member"]
    _, user = create_another_user(shared_owner)
    u = f"/users/{user.id}"
    for method, path, body in (("PUT", f"{u}/password", {"password": "Taken0ver!"}),
                               ("PUT", f"{u}/profile", {"username": "x" + uuid.uuid4().hex[:6]}),
                               ("PUT", f"{u}/roles", {"roles": ["auditor"]}),
                               ("PUT", f"{u}/status/suspend", None),
                               ("POST", f"{u}/keys/tokens", {"token_name": "x"}),
                               ("DELETE", u, None)):
        resp = _as(member, method, path, body)
        assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
    assert shared_owner.user(str(user.id)).status == "active"
