"""Textual themes for tinker-tui.

Three `Theme` objects with the domain colours exposed as CSS variables, so widgets write
`color: $loss;` or `background: $risk-high 20%;` and a theme change recolours everything:

    loss  reward  risk-high  risk-medium  risk-low  ok  person  agent  tool  muted

`DOMAIN_DEFAULTS` gives fallbacks for every domain variable; the app returns them from
`App.get_theme_variable_defaults()` so the built-in Textual themes (picked from the command
palette) still parse our CSS.

NO_COLOR: Textual itself honours the NO_COLOR environment variable (App.__init__ sets
`app.no_color` and adds a Monochrome/NoColor line filter), whatever theme is active; nothing
to do here beyond not fighting it (tests/test_ui_home.py checks it).
"""

from __future__ import annotations

from textual.theme import Theme

__all__ = [
    "DEFAULT_THEME",
    "DOMAIN_DEFAULTS",
    "DOMAIN_VARIABLES",
    "THEMES",
    "TINKER_DARK",
    "TINKER_LIGHT",
    "TINKER_HIGH_CONTRAST",
    "register_themes",
]

DOMAIN_VARIABLES = (
    "loss",
    "reward",
    "risk-high",
    "risk-medium",
    "risk-low",
    "ok",
    "person",
    "agent",
    "tool",
    "muted",
)

DOMAIN_DEFAULTS: dict[str, str] = {
    "loss": "#4EA8DE",
    "reward": "#9ECE6A",
    "risk-high": "#F7768E",
    "risk-medium": "#E0AF68",
    "risk-low": "#7DCFFF",
    "ok": "#9ECE6A",
    "person": "#F0A35E",
    "agent": "#C0CAF5",
    "tool": "#7AA2F7",
    "muted": "#7A8190",
}

TINKER_DARK = Theme(
    name="tinker-dark",
    primary="#4EA8DE",
    secondary="#9D7CD8",
    accent="#F0A35E",
    warning="#E0AF68",
    error="#F7768E",
    success="#9ECE6A",
    foreground="#D8DEE9",
    background="#14161B",
    surface="#1B1E25",
    panel="#252A36",
    dark=True,
    variables=dict(DOMAIN_DEFAULTS),
)

TINKER_LIGHT = Theme(
    name="tinker-light",
    primary="#0B63C4",
    secondary="#6E40C9",
    accent="#B35900",
    warning="#9A6700",
    error="#CF222E",
    success="#1A7F37",
    foreground="#1F2328",
    background="#F6F7F9",
    surface="#FFFFFF",
    panel="#E4E8EE",
    dark=False,
    variables={
        "loss": "#0B63C4",
        "reward": "#1A7F37",
        "risk-high": "#CF222E",
        "risk-medium": "#9A6700",
        "risk-low": "#0969DA",
        "ok": "#1A7F37",
        "person": "#B35900",
        "agent": "#1F2328",
        "tool": "#6E40C9",
        "muted": "#59636E",
    },
)

TINKER_HIGH_CONTRAST = Theme(
    name="tinker-high-contrast",
    primary="#00FFFF",
    secondary="#FF00FF",
    accent="#FFFF00",
    warning="#FFFF00",
    error="#FF4040",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    boost="#FFFFFF",
    dark=True,
    variables={
        "loss": "#00FFFF",
        "reward": "#00FF00",
        "risk-high": "#FF4040",
        "risk-medium": "#FFFF00",
        "risk-low": "#00FFFF",
        "ok": "#00FF00",
        "person": "#FFFF00",
        "agent": "#FFFFFF",
        "tool": "#00FFFF",
        "muted": "#D0D0D0",
        "border": "#FFFFFF",
        "footer-key-foreground": "#FFFF00",
    },
)

THEMES: dict[str, Theme] = {t.name: t for t in (TINKER_DARK, TINKER_LIGHT, TINKER_HIGH_CONTRAST)}
DEFAULT_THEME = TINKER_DARK.name


def register_themes(app) -> None:
    """Register the three tinker themes on a Textual App."""
    for theme in THEMES.values():
        app.register_theme(theme)
