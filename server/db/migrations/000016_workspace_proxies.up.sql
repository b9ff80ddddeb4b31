-- Coder's workspace proxies: a region serving apps and connections near its users. The
-- proxy holds a token (only its hash is kept) and never a database connection; it
-- registers its URLs and version, and re-registers as its heartbeat.
CREATE TABLE workspace_proxies (
    id                   uuid        PRIMARY KEY,
    name                 text        NOT NULL,
    display_name         text        NOT NULL,
    icon                 text        NOT NULL DEFAULT '',
    url                  text        NOT NULL DEFAULT '',
    wildcard_hostname    text        NOT NULL DEFAULT '',
    version              text        NOT NULL DEFAULT '',
    token_hashed_secret  bytea       NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz,
    deregistered         boolean     NOT NULL DEFAULT false,
    deleted              boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX workspace_proxies_name ON workspace_proxies (lower(name)) WHERE NOT deleted;
