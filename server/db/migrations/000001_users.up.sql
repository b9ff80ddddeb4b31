-- Users, organizations, API keys and the audit log: Coder's control-plane core.
-- Migrations run inside one transaction each; no BEGIN/COMMIT here.

CREATE TYPE user_status AS ENUM ('active', 'suspended', 'dormant');
CREATE TYPE login_type AS ENUM ('password', 'token', 'none', 'github', 'oidc');
CREATE TYPE api_key_scope AS ENUM ('all', 'application_connect');

CREATE TABLE deployment_config (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email           text NOT NULL,
    username        text NOT NULL,
    name            text NOT NULL DEFAULT '',
    hashed_password text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    status          user_status NOT NULL DEFAULT 'active',
    rbac_roles      text[] NOT NULL DEFAULT '{}',
    login_type      login_type NOT NULL DEFAULT 'password',
    avatar_url      text NOT NULL DEFAULT '',
    theme_preference text NOT NULL DEFAULT '',
    deleted         boolean NOT NULL DEFAULT false,
    last_seen_at    timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00'
);
-- Deleted users free their username and email, as in Coder.
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE NOT deleted;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE NOT deleted;

CREATE TABLE organizations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    icon         text NOT NULL DEFAULT '',
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));
CREATE UNIQUE INDEX organizations_single_default ON organizations (is_default) WHERE is_default;

CREATE TABLE organization_members (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    roles           text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

CREATE TABLE api_keys (
    id               text PRIMARY KEY,
    hashed_secret    bytea NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_used        timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    login_type       login_type NOT NULL,
    lifetime_seconds bigint NOT NULL,
    ip_address       inet,
    scope            api_key_scope NOT NULL DEFAULT 'all',
    token_name       text NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_user ON api_keys (user_id);
-- A user's named tokens are unique by name; session keys have no name.
CREATE UNIQUE INDEX api_keys_user_token_name ON api_keys (user_id, lower(token_name))
    WHERE login_type = 'token';

CREATE TABLE audit_logs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    time              timestamptz NOT NULL DEFAULT now(),
    user_id           uuid,
    organization_id   uuid,
    ip                inet,
    user_agent        text NOT NULL DEFAULT '',
    resource_type     text NOT NULL,
    resource_id       uuid,
    resource_target   text NOT NULL DEFAULT '',
    action            text NOT NULL,
    diff              jsonb NOT NULL DEFAULT '{}',
    status_code       integer NOT NULL,
    additional_fields jsonb NOT NULL DEFAULT '{}',
    request_id        uuid NOT NULL,
    resource_icon     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_logs_time ON audit_logs (time DESC);
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id);
