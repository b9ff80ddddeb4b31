DROP INDEX IF EXISTS workspace_builds_deadline;
DROP INDEX IF EXISTS workspaces_template;
