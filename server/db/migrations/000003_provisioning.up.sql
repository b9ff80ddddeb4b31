-- Files, templates, provisioner jobs and daemons, workspaces and their builds:
-- what a template push and a workspace build write. Shaped after Coder's schema.

CREATE TABLE files (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hash       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid NOT NULL REFERENCES users (id),
    mimetype   text NOT NULL,
    data       bytea NOT NULL,
    UNIQUE (hash, created_by)
);

CREATE TYPE provisioner_job_type AS ENUM ('template_version_import', 'workspace_build',
                                          'template_version_dry_run');
CREATE TYPE log_level AS ENUM ('trace', 'debug', 'info', 'warn', 'error');
CREATE TYPE log_source AS ENUM ('provisioner_daemon', 'provisioner');
CREATE TYPE workspace_transition AS ENUM ('start', 'stop', 'delete');
CREATE TYPE build_reason AS ENUM ('initiator', 'autostart', 'autostop', 'dormancy',
                                  'autodelete');

CREATE TABLE provisioner_daemons (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provisioners text[] NOT NULL DEFAULT '{terraform}',
    tags         jsonb NOT NULL DEFAULT '{}',
    version      text NOT NULL DEFAULT '',
    api_version  text NOT NULL DEFAULT '1.0',
    built_in     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provisioner_jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    canceled_at     timestamptz,
    completed_at    timestamptz,
    error           text,
    error_code      text NOT NULL DEFAULT '',
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    initiator_id    uuid NOT NULL REFERENCES users (id),
    provisioner     text NOT NULL DEFAULT 'terraform',
    type            provisioner_job_type NOT NULL,
    input           jsonb NOT NULL,
    file_id         uuid NOT NULL REFERENCES files (id),
    tags            jsonb NOT NULL DEFAULT '{"scope": "organization"}',
    worker_id       uuid REFERENCES provisioner_daemons (id) ON DELETE SET NULL,
    -- A daemon proves it still holds the job by moving updated_at; the reaper
    -- fails running jobs whose daemon stopped doing so.
    job_status      text GENERATED ALWAYS AS (
        CASE
            WHEN completed_at IS NOT NULL THEN
                CASE WHEN error IS NOT NULL AND error <> '' THEN
                         CASE WHEN canceled_at IS NOT NULL THEN 'canceled' ELSE 'failed' END
                     WHEN canceled_at IS NOT NULL THEN 'canceled'
                     ELSE 'succeeded' END
            WHEN canceled_at IS NOT NULL THEN 'canceling'
            WHEN started_at IS NOT NULL THEN 'running'
            ELSE 'pending'
        END) STORED
);
CREATE INDEX provisioner_jobs_pending ON provisioner_jobs (created_at) WHERE started_at IS NULL;
CREATE INDEX provisioner_jobs_running ON provisioner_jobs (updated_at)
    WHERE started_at IS NOT NULL AND completed_at IS NULL;

CREATE TABLE provisioner_job_logs (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    source     log_source NOT NULL,
    level      log_level NOT NULL,
    stage      text NOT NULL DEFAULT '',
    output     text NOT NULL
);
CREATE INDEX provisioner_job_logs_job ON provisioner_job_logs (job_id, id);

CREATE TABLE templates (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    organization_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    deleted            boolean NOT NULL DEFAULT false,
    name               text NOT NULL,
    display_name       text NOT NULL DEFAULT '',
    description        text NOT NULL DEFAULT '',
    icon               text NOT NULL DEFAULT '',
    provisioner        text NOT NULL DEFAULT 'terraform',
    active_version_id  uuid NOT NULL,
    created_by         uuid NOT NULL REFERENCES users (id),
    default_ttl        bigint NOT NULL DEFAULT 0,      -- nanoseconds, as Coder's API
    activity_bump      bigint NOT NULL DEFAULT 3600000000000,
    allow_user_cancel_workspace_jobs boolean NOT NULL DEFAULT true,
    require_active_version boolean NOT NULL DEFAULT false,
    deprecated         text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX templates_org_name ON templates (organization_id, lower(name)) WHERE NOT deleted;

CREATE TABLE template_versions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template_id     uuid REFERENCES templates (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    name            text NOT NULL,
    message         text NOT NULL DEFAULT '',
    readme          text NOT NULL DEFAULT '',
    job_id          uuid NOT NULL REFERENCES provisioner_jobs (id),
    created_by      uuid NOT NULL REFERENCES users (id),
    archived        boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX template_versions_template_name ON template_versions (template_id, lower(name));
ALTER TABLE templates ADD FOREIGN KEY (active_version_id) REFERENCES template_versions (id)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE template_version_parameters (
    template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                text NOT NULL,
    display_name        text NOT NULL DEFAULT '',
    description         text NOT NULL DEFAULT '',
    type                text NOT NULL,
    form_type           text NOT NULL DEFAULT '',
    mutable             boolean NOT NULL DEFAULT false,
    default_value       text NOT NULL DEFAULT '',
    icon                text NOT NULL DEFAULT '',
    options             jsonb NOT NULL DEFAULT '[]',
    validation_regex    text NOT NULL DEFAULT '',
    validation_min      integer,
    validation_max      integer,
    validation_error    text NOT NULL DEFAULT '',
    validation_monotonic text NOT NULL DEFAULT '',
    required            boolean NOT NULL DEFAULT false,
    ephemeral           boolean NOT NULL DEFAULT false,
    display_order       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (template_version_id, name)
);

CREATE TABLE workspaces (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    owner_id            uuid NOT NULL REFERENCES users (id),
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    template_id         uuid NOT NULL REFERENCES templates (id),
    deleted             boolean NOT NULL DEFAULT false,
    name                text NOT NULL,
    autostart_schedule  text,
    ttl                 bigint,                         -- nanoseconds
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    automatic_updates   text NOT NULL DEFAULT 'never'
);
CREATE UNIQUE INDEX workspaces_owner_name ON workspaces (owner_id, lower(name)) WHERE NOT deleted;

CREATE TABLE workspace_builds (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    template_version_id uuid NOT NULL REFERENCES template_versions (id),
    build_number        integer NOT NULL,
    transition          workspace_transition NOT NULL,
    initiator_id        uuid NOT NULL REFERENCES users (id),
    provisioner_state   bytea,
    job_id              uuid NOT NULL UNIQUE REFERENCES provisioner_jobs (id),
    deadline            timestamptz,
    max_deadline        timestamptz,
    reason              build_reason NOT NULL DEFAULT 'initiator',
    daily_cost          integer NOT NULL DEFAULT 0,
    UNIQUE (workspace_id, build_number)
);

CREATE TABLE workspace_build_parameters (
    workspace_build_id uuid NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
    name               text NOT NULL,
    value              text NOT NULL,
    PRIMARY KEY (workspace_build_id, name)
);

CREATE TABLE workspace_resources (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    job_id        uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    transition    workspace_transition NOT NULL,
    type          text NOT NULL,
    name          text NOT NULL,
    hide          boolean NOT NULL DEFAULT false,
    icon          text NOT NULL DEFAULT '',
    instance_type text NOT NULL DEFAULT '',
    daily_cost    integer NOT NULL DEFAULT 0,
    module_path   text NOT NULL DEFAULT ''
);
CREATE INDEX workspace_resources_job ON workspace_resources (job_id);

CREATE TABLE workspace_resource_metadata (
    workspace_resource_id uuid NOT NULL REFERENCES workspace_resources (id) ON DELETE CASCADE,
    key       text NOT NULL,
    value     text,
    sensitive boolean NOT NULL DEFAULT false,
    PRIMARY KEY (workspace_resource_id, key)
);

CREATE TYPE agent_lifecycle_state AS ENUM ('created', 'starting', 'start_timeout', 'start_error',
    'ready', 'shutting_down', 'shutdown_timeout', 'shutdown_error', 'off');

CREATE TABLE workspace_agents (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    name                    text NOT NULL,
    resource_id             uuid NOT NULL REFERENCES workspace_resources (id) ON DELETE CASCADE,
    auth_token              uuid NOT NULL,
    architecture            text NOT NULL,
    operating_system        text NOT NULL,
    environment_variables   jsonb NOT NULL DEFAULT '{}',
    directory               text NOT NULL DEFAULT '',
    expanded_directory      text NOT NULL DEFAULT '',
    connection_timeout_seconds integer NOT NULL DEFAULT 120,
    troubleshooting_url     text NOT NULL DEFAULT '',
    motd_file               text NOT NULL DEFAULT '',
    display_apps            text[] NOT NULL DEFAULT '{vscode,vscode_insiders,web_terminal,ssh_helper,port_forwarding_helper}',
    display_order           integer NOT NULL DEFAULT 0,
    first_connected_at      timestamptz,
    last_connected_at       timestamptz,
    disconnected_at         timestamptz,
    last_connected_replica_id uuid,
    lifecycle_state         agent_lifecycle_state NOT NULL DEFAULT 'created',
    started_at              timestamptz,
    ready_at                timestamptz,
    version                 text NOT NULL DEFAULT '',
    api_version             text NOT NULL DEFAULT '',
    logs_length             integer NOT NULL DEFAULT 0,
    logs_overflowed         boolean NOT NULL DEFAULT false
);
CREATE INDEX workspace_agents_resource ON workspace_agents (resource_id);
CREATE INDEX workspace_agents_token ON workspace_agents (auth_token);

CREATE TABLE workspace_agent_scripts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_agent_id uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    log_source_id      uuid NOT NULL DEFAULT gen_random_uuid(),
    display_name       text NOT NULL DEFAULT '',
    icon               text NOT NULL DEFAULT '',
    log_path           text NOT NULL DEFAULT '',
    script             text NOT NULL,
    cron               text NOT NULL DEFAULT '',
    run_on_start       boolean NOT NULL DEFAULT false,
    run_on_stop        boolean NOT NULL DEFAULT false,
    start_blocks_login boolean NOT NULL DEFAULT false,
    timeout_seconds    integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_agent_metadata (
    workspace_agent_id uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    key                text NOT NULL,
    display_name       text NOT NULL DEFAULT '',
    script             text NOT NULL,
    interval_seconds   integer NOT NULL DEFAULT 10,
    timeout_seconds    integer NOT NULL DEFAULT 10,
    display_order      integer NOT NULL DEFAULT 0,
    value              text NOT NULL DEFAULT '',
    error              text NOT NULL DEFAULT '',
    collected_at       timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00',
    PRIMARY KEY (workspace_agent_id, key)
);

CREATE TYPE app_sharing_level AS ENUM ('owner', 'authenticated', 'public');
CREATE TYPE app_health AS ENUM ('disabled', 'initializing', 'healthy', 'unhealthy');

CREATE TABLE workspace_apps (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at            timestamptz NOT NULL DEFAULT now(),
    agent_id              uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    slug                  text NOT NULL,
    display_name          text NOT NULL DEFAULT '',
    icon                  text NOT NULL DEFAULT '',
    command               text,
    url                   text,
    external              boolean NOT NULL DEFAULT false,
    subdomain             boolean NOT NULL DEFAULT false,
    sharing_level         app_sharing_level NOT NULL DEFAULT 'owner',
    healthcheck_url       text NOT NULL DEFAULT '',
    healthcheck_interval  integer NOT NULL DEFAULT 0,
    healthcheck_threshold integer NOT NULL DEFAULT 0,
    health                app_health NOT NULL DEFAULT 'disabled',
    display_order         integer NOT NULL DEFAULT 0,
    hidden                boolean NOT NULL DEFAULT false,
    open_in               text NOT NULL DEFAULT 'slim-window',
    UNIQUE (agent_id, slug)
);
