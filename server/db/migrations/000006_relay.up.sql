-- Which coderd process holds each agent's relay connection, so a client stream
-- landing on any process (gunicorn worker, replica) reaches the agent.
-- Processes heartbeat their own row; an agent whose process has not
-- heartbeated recently is treated as not connected.
CREATE TABLE relay_processes (
    id           uuid PRIMARY KEY,
    address      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE relay_agents (
    agent_id     uuid PRIMARY KEY REFERENCES workspace_agents (id) ON DELETE CASCADE,
    process_id   uuid NOT NULL REFERENCES relay_processes (id) ON DELETE CASCADE,
    connected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relay_agents_process ON relay_agents (process_id);
