"""The themes the app cycles through: Textual's dark and light, and a high-contrast one for
bright sun in a car or a weak laptop screen."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="vipterm-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF4040",
    boost="#FFFFFF",
    dark=True,
    variables={
        "text-muted": "#FFFFFF",
        "block-cursor-background": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "footer-key-foreground": "#FFFF00",
        "input-selection-background": "#FFFF00 60%",
    },
)

THEME_CYCLE = ("textual-dark", "textual-light", HIGH_CONTRAST.name)
