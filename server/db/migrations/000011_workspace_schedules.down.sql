DROP INDEX workspaces_next_start_at;
ALTER TABLE workspaces DROP COLUMN next_start_at;
ALTER TABLE workspaces DROP COLUMN favorite;
