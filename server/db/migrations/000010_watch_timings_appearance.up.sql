-- Issue 19, item 5: what the dashboard API needs from the database.

-- Every change a workspace's watchers show (Coder's workspace event channel) is
-- announced on 'workspace:<id>' by the row that changed, so no query that writes
-- a build, job, agent or app can forget to publish it.
CREATE FUNCTION notify_workspace_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_TABLE_NAME = 'workspaces' THEN
        changed := NEW.id;
    ELSIF TG_TABLE_NAME = 'workspace_builds' THEN
        changed := NEW.workspace_id;
    ELSIF TG_TABLE_NAME = 'provisioner_jobs' THEN
        SELECT b.workspace_id INTO changed FROM workspace_builds b WHERE b.job_id = NEW.id;
    ELSIF TG_TABLE_NAME = 'workspace_agents' THEN
        SELECT b.workspace_id INTO changed FROM workspace_resources r
            JOIN workspace_builds b ON b.job_id = r.job_id WHERE r.id = NEW.resource_id;
    ELSE  -- workspace_apps
        SELECT b.workspace_id INTO changed FROM workspace_agents a
            JOIN workspace_resources r ON r.id = a.resource_id
            JOIN workspace_builds b ON b.job_id = r.job_id WHERE a.id = NEW.agent_id;
    END IF;
    IF changed IS NOT NULL THEN
        PERFORM pg_notify('workspace:' || changed::text, '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER workspaces_watch AFTER UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION notify_workspace_change();
CREATE TRIGGER workspace_builds_watch AFTER INSERT OR UPDATE ON workspace_builds
    FOR EACH ROW EXECUTE FUNCTION notify_workspace_change();
-- Not the heartbeat (updated_at): only what changes the job's status.
CREATE TRIGGER provisioner_jobs_watch
    AFTER UPDATE OF started_at, completed_at, canceled_at, error ON provisioner_jobs
    FOR EACH ROW WHEN (OLD.type = 'workspace_build') EXECUTE FUNCTION notify_workspace_change();
-- Not the periodic last_connected_at write, unless it is a reconnection.
CREATE TRIGGER workspace_agents_watch AFTER UPDATE ON workspace_agents
    FOR EACH ROW WHEN (OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state
        OR OLD.first_connected_at IS DISTINCT FROM NEW.first_connected_at
        OR OLD.disconnected_at IS DISTINCT FROM NEW.disconnected_at
        OR OLD.ready_at IS DISTINCT FROM NEW.ready_at
        OR OLD.version IS DISTINCT FROM NEW.version
        OR OLD.disconnected_at >= OLD.last_connected_at)
    EXECUTE FUNCTION notify_workspace_change();
CREATE TRIGGER workspace_apps_watch AFTER UPDATE OF health ON workspace_apps
    FOR EACH ROW WHEN (OLD.health IS DISTINCT FROM NEW.health)
    EXECUTE FUNCTION notify_workspace_change();

-- Coder's provisioner_job_timings: one row per terraform step and resource.
CREATE TYPE provisioner_job_timing_stage AS ENUM ('init', 'plan', 'graph', 'apply');
CREATE TABLE provisioner_job_timings (
    job_id     uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    stage      provisioner_job_timing_stage NOT NULL,
    source     text NOT NULL,
    action     text NOT NULL,
    resource   text NOT NULL
);
CREATE INDEX provisioner_job_timings_job ON provisioner_job_timings (job_id);

-- Coder's workspace_agent_script_timings: one row per run of a coder_script.
CREATE TYPE workspace_agent_script_timing_stage AS ENUM ('start', 'stop', 'cron');
CREATE TYPE workspace_agent_script_timing_status AS ENUM ('ok', 'exit_failure', 'timed_out',
                                                          'pipes_left_open');
CREATE TABLE workspace_agent_script_timings (
    script_id  uuid NOT NULL REFERENCES workspace_agent_scripts (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    exit_code  integer NOT NULL,
    stage      workspace_agent_script_timing_stage NOT NULL,
    status     workspace_agent_script_timing_status NOT NULL,
    UNIQUE (script_id, started_at)
);

-- Coder's user_configs: per-user preferences by key (terminal_font; the theme
-- stays in users.theme_preference, where the user row already carries it).
CREATE TABLE user_configs (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key     text NOT NULL,
    value   text NOT NULL,
    PRIMARY KEY (user_id, key)
);
