"""Workspace agents: an agent subject writes only its own rows; users read an agent's
rows as they read its workspace; system actors (authentication, the relay recording
connections) reach all."""
from ..policy import agent_fetch, agent_read, agent_self, system_only


class AgentPolicies:
    get_workspace_agent_by_auth_token = system_only()
    get_workspace_agent_by_id = agent_fetch()
    get_workspace_agent_log_sources = agent_read()
    get_workspace_agent_logs_after = agent_read()
    get_workspace_agent_metadata = agent_read()
    get_workspace_agent_owner = agent_read()
    get_workspace_agent_stats = agent_read()
    update_workspace_agent_connection = agent_self()
    update_workspace_agent_disconnected = agent_self()
    update_workspace_agent_lifecycle = agent_self()
    update_workspace_agent_startup = agent_self()
    insert_workspace_agent_log_source = agent_self()
    insert_workspace_agent_logs = agent_self()
    insert_workspace_agent_stats = agent_self()
    update_workspace_app_health = agent_self()
    update_workspace_agent_metadata = agent_self()
