"""Per-user settings as Coder keeps them: appearance (``/users/{user}/appearance``: the
dashboard's theme and the web terminal's font) and preferences (``/users/{user}/preferences``)."""
from __future__ import annotations

import dataclasses

from appliance.sdk import types

from ..httpapi import APIError, found, read, write
from ..httpmw import store
from .convert import from_row
from .router import Router
from .users import user_param

router = Router("preferences", "Users")
route = router.route
# Coder's TerminalFontName values ("" is the dashboard's default).
TERMINAL_FONTS = ("", "ibm-plex-mono", "fira-code", "source-code-pro", "jetbrains-mono")


def _settings(row: dict) -> types.UserAppearanceSettings:
    return from_row(types.UserAppearanceSettings, row)


@route("GET", "/users/<user>/appearance", summary="A user's appearance settings",
       response=types.UserAppearanceSettings)
def get_appearance(user: str):
    row = user_param(user)
    return write(200, _settings(found(store().get_user_appearance(row.id), "User")))


@route("PUT", "/users/<user>/appearance", summary="Set a user's theme and terminal font",
       request=types.UpdateUserAppearanceSettingsRequest, response=types.UserAppearanceSettings)
def put_appearance(user: str):
    row = user_param(user)
    req = read(types.UpdateUserAppearanceSettingsRequest)
    if req.terminal_font not in TERMINAL_FONTS:
        raise APIError(400, "Unsupported font family.", validations=[types.ValidationError(
            "terminal_font", f"must be one of {', '.join(f or '(empty)' for f in TERMINAL_FONTS)}")])
    updated = store().update_user_appearance(row.id, req.theme_preference, req.terminal_font)
    return write(200, _settings(found(updated, "User")))


def _preferences(stored: dict[str, str]) -> types.UserPreferenceSettings:
    """Stored values over Coder's defaults (user_configs holds text: booleans as true/false)."""
    settings = types.UserPreferenceSettings()
    for f in dataclasses.fields(settings):
        if f.name in stored:
            value = stored[f.name]
            setattr(settings, f.name, value == "true" if f.type in (bool, "bool") else value)
    return settings


@route("GET", "/users/<user>/preferences", summary="A user's preference settings",
       response=types.UserPreferenceSettings)
def get_preferences(user: str):
    row = user_param(user)
    return write(200, _preferences(store().get_user_preferences(row.id)))


@route("PUT", "/users/<user>/preferences", summary="Set some of a user's preference settings",
       request=types.UpdateUserPreferenceSettingsRequest, response=types.UserPreferenceSettings)
def put_preferences(user: str):
    row = user_param(user)
    req = read(types.UpdateUserPreferenceSettingsRequest)
    given = {name: str(value).lower() if isinstance(value, bool) else value
             for name, value in vars(req).items() if value is not None}
    return write(200, _preferences(store().update_user_preferences(row.id, given)))
