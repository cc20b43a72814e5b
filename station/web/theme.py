"""The console's state colours for the browser: the operator console's state banner
(`station.console.widgets.state_banner`) paints each PackML state class with Textual's
`textual-dark` theme; `theme_css()` gives the same colours as CSS custom properties
(`--state-running-bg`, `--state-running-edge` ...), computed from that theme, so the
board and the console never disagree. The class of a state is the banner's own
(`STATE_CLASSES`); the banner's CSS rule of each class is `BANNER_COLOURS` (a unit test
checks them against the banner's CSS)."""

from __future__ import annotations

import functools

BANNER_COLOURS = {
    "idle": ("primary-darken-2", "primary"),
    "running": ("success-darken-2", "success"),
    "held": ("warning-darken-3", "warning"),
    "fault": ("error-darken-2", "error"),
    "stopped": ("surface", "secondary"),
}
"""State class -> (background, border) theme variables of the console's banner."""
PAGE_COLOURS = ("background", "surface", "panel", "foreground", "primary", "warning", "error")
THEME = "textual-dark"


@functools.cache
def theme_css() -> str:
    from textual.theme import BUILTIN_THEMES

    colours = BUILTIN_THEMES[THEME].to_color_system().generate()
    lines = [f"  --{name}: {colours[name]};" for name in PAGE_COLOURS]
    for state, (background, edge) in BANNER_COLOURS.items():
        lines.append(f"  --state-{state}-bg: {colours[background]};")
        lines.append(f"  --state-{state}-edge: {colours[edge]};")
    return ":root {\n" + "\n".join(lines) + "\n}\n"
