-- What a version's coder_workspace_tags need at each build, read from its HCL once, when
-- the version is made: {tag: {"value": TEXT}} or {tag: {"parameter": NAME, "default": TEXT}}.
-- NULL for versions made before: their builds read the archive, as they did.
ALTER TABLE template_versions ADD COLUMN workspace_tags jsonb;
