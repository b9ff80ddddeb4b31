"""The relay: streams into workspaces. Its bookkeeping is coderd's own; opening a stream
takes the ssh action on the workspace, an app or a shared port its sharing level."""
from ..policy import connect, shared_connect, system_only
from ..rbac import Action as A


class RelayPolicies:
    upsert_relay_process = system_only()
    heartbeat_relay_process = system_only()
    delete_relay_process = system_only()
    upsert_relay_agent = system_only()
    delete_relay_agent = system_only()
    update_relay_agents_connected = system_only()
    get_relay_address = system_only()
    get_agent_connect_target = connect()
    get_agents_by_workspace_path = system_only()
    # A shared port's row; an unshared port has none, and the ssh rule applies.
    get_port_share_target = shared_connect(A.SSH)
    get_workspace_app_target = shared_connect(A.APPLICATION_CONNECT)
