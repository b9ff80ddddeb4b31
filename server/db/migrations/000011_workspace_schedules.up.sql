-- Issue 19, item 2: schedules and favorites, as Coder's workspaces table has them.
-- next_start_at is when autostart next starts the workspace (Coder's column: set when
-- the schedule changes and when a build is queued); the autostart executor reads it.
ALTER TABLE workspaces ADD COLUMN favorite boolean NOT NULL DEFAULT false;
ALTER TABLE workspaces ADD COLUMN next_start_at timestamptz;
CREATE INDEX workspaces_next_start_at ON workspaces (next_start_at)
    WHERE next_start_at IS NOT NULL AND NOT deleted;
