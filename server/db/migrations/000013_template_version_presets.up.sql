-- A template version's presets, as Coder's template_version_presets and
-- template_version_preset_parameters (its migrations 000288 on): what the import read from the
-- template's `coder_workspace_preset` data sources. A workspace created with a preset gets its
-- parameter values. desired_instances is the prebuild pool's size (stored, unused: coderd
-- makes no prebuilds).
CREATE TABLE template_version_presets (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    icon                text NOT NULL DEFAULT '',
    is_default          boolean NOT NULL DEFAULT false,
    desired_instances   integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (template_version_id, name)
);

CREATE TABLE template_version_preset_parameters (
    template_version_preset_id uuid NOT NULL REFERENCES template_version_presets (id) ON DELETE CASCADE,
    name                       text NOT NULL,
    value                      text NOT NULL,
    PRIMARY KEY (template_version_preset_id, name)
);
