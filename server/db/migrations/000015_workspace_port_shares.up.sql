-- Coder's port sharing: a port of a workspace's agent opened to more than its owner on
-- its subdomain (owner-only ports have no row).
CREATE TABLE workspace_agent_port_shares (
    workspace_id uuid    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_name   text    NOT NULL,
    port         integer NOT NULL CHECK (port BETWEEN 9 AND 65535),
    share_level  text    NOT NULL CHECK (share_level IN ('authenticated', 'organization', 'public')),
    protocol     text    NOT NULL CHECK (protocol IN ('http', 'https')),
    PRIMARY KEY (workspace_id, agent_name, port)
);
