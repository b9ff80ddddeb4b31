ALTER TABLE template_versions DROP COLUMN workspace_tags;
