-- What a running workspace agent reports: its log sources and logs (Coder keeps
-- agent logs per log source), its stats (also its heartbeat) and the
-- subsystems it announces at startup.

-- Sources the agent registers itself (POST /workspaceagents/me/log-source);
-- each coder_script is a source too, through workspace_agent_scripts.log_source_id.
CREATE TABLE workspace_agent_log_sources (
    workspace_agent_id uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    display_name       text NOT NULL,
    icon               text NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_agent_id, id)
);

CREATE TABLE workspace_agent_logs (
    id            bigserial PRIMARY KEY,
    agent_id      uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    output        text NOT NULL,
    level         log_level NOT NULL DEFAULT 'info',
    log_source_id uuid NOT NULL
);
CREATE INDEX workspace_agent_logs_agent ON workspace_agent_logs (agent_id, id);

CREATE TABLE workspace_agent_stats (
    id                           bigserial PRIMARY KEY,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    agent_id                     uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    connections_by_proto         jsonb NOT NULL DEFAULT '{}',
    connection_count             bigint NOT NULL DEFAULT 0,
    connection_median_latency_ms double precision NOT NULL DEFAULT 0,
    rx_packets                   bigint NOT NULL DEFAULT 0,
    rx_bytes                     bigint NOT NULL DEFAULT 0,
    tx_packets                   bigint NOT NULL DEFAULT 0,
    tx_bytes                     bigint NOT NULL DEFAULT 0,
    session_count_vscode         bigint NOT NULL DEFAULT 0,
    session_count_jetbrains      bigint NOT NULL DEFAULT 0,
    session_count_reconnecting_pty bigint NOT NULL DEFAULT 0,
    session_count_ssh            bigint NOT NULL DEFAULT 0
);
CREATE INDEX workspace_agent_stats_agent ON workspace_agent_stats (agent_id, created_at);

ALTER TABLE workspace_agents ADD COLUMN subsystems text[] NOT NULL DEFAULT '{}';
