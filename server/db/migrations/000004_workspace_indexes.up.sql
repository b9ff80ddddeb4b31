-- What the workspace and template API looks up often: a template's live
-- workspaces (its user count, and refusing to delete it while any remain)
-- and the workspaces past their autostop deadline.
CREATE INDEX workspaces_template ON workspaces (template_id) WHERE NOT deleted;
CREATE INDEX workspace_builds_deadline ON workspace_builds (deadline)
    WHERE deadline IS NOT NULL AND transition = 'start';
