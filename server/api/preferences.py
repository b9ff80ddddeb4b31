"""Per-user appearance (``/users/{user}/appearance``): the dashboard's theme and the web
terminal's font, as Coder keeps them."""
from __future__ import annotations

from appliance.sdk import types

from ..httpapi import APIError, found, read, write
from ..httpmw import store
from .router import Router
from .users import user_param

router = Router("preferences", "Users")
route = router.route
# Coder's TerminalFontName values ("" is the dashboard's default).
TERMINAL_FONTS = ("", "ibm-plex-mono", "fira-code", "source-code-pro", "jetbrains-mono")


def _settings(row: dict) -> types.UserAppearanceSettings:
    return types.UserAppearanceSettings(theme_preference=row["theme_preference"],
                                        terminal_font=row["terminal_font"])


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
