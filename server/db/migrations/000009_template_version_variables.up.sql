-- A template version's terraform variables, as Coder's template_version_variables
-- (its migration 000101): what the import read from the template's `variable` blocks,
-- with the value given at push (or the default), which every plan and apply of the
-- version is given. `type` is the type expression as written ('' when none).
CREATE TABLE template_version_variables (
    template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    type                text NOT NULL DEFAULT '',
    value               text NOT NULL DEFAULT '',
    default_value       text NOT NULL DEFAULT '',
    required            boolean NOT NULL DEFAULT false,
    sensitive           boolean NOT NULL DEFAULT false,
    display_order       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (template_version_id, name)
);
