-- Each user's git SSH key, as Coder's gitsshkeys: the agent hands the private key to
-- `git` in the user's workspaces (GIT_SSH_COMMAND), the user registers the public one
-- with their git server. A key is made when a user is created; users from before this
-- migration get theirs at first use (SQL here cannot make an ed25519 key).
CREATE TABLE gitsshkeys (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    private_key text NOT NULL,
    public_key  text NOT NULL
);
