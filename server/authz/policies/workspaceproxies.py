"""Workspace proxies: owners manage them, everyone reads them (the regions); a proxy,
known by its token, acts as the named system actor "wsproxy" for its own row only
(server.api.workspaceproxies)."""
from ..objects import proxy_obj
from ..policy import check, fetch, post_filter, system_only
from ..rbac import Action as A, Object, Resource as R


def _proxy_arg(a: dict) -> Object:
    return Object(R.WORKSPACE_PROXY, a.get("proxy_id"))


class WorkspaceProxyPolicies:
    insert_workspace_proxy = check(_proxy_arg, A.CREATE)
    get_workspace_proxy_by_id = fetch(A.READ, proxy_obj)
    get_workspace_proxy_by_name = fetch(A.READ, proxy_obj)
    get_workspace_proxies = post_filter(A.READ, proxy_obj)
    update_workspace_proxy = check(_proxy_arg, A.UPDATE)
    delete_workspace_proxy = check(_proxy_arg, A.DELETE)
    register_workspace_proxy = system_only()
    deregister_workspace_proxy = system_only()
