"""Colours of the chart: the series' colours, the palette for compared runs, and the themes the
frame is drawn in — without Textual, so a chart made without an app (autosave, benchmarks) looks
like the one on screen.

A theme is named by its Textual name ("textual-dark", "nord", …). plotext draws the frame in
"textual-auto-<name>": canvas and axes on the theme's $surface, ticks in its $foreground. Inside
an app the widget registers that theme from the app's own variables (`register_theme`); without
one, the built-in Textual themes come from `TEXTUAL_THEMES`, the same colours written down
(tests/charts/test_theme.py checks them against Textual).
"""

from __future__ import annotations

from plotext import _utility as plotext_utility
from plotext._dict import themes as plotext_themes
from rich.style import Style
from rich.text import Text

RGB = tuple[int, int, int]

# Series colours, picked to read well on a dark background (and on a light one).
LOSS_COLOR: RGB = (240, 82, 82)
VAL_LOSS_COLOR: RGB = (255, 170, 150)
REWARD_COLOR: RGB = (80, 160, 255)
SIZE_COLOR: RGB = (90, 200, 110)
PALETTE: tuple[RGB, ...] = (
    (240, 82, 82),
    (80, 160, 255),
    (90, 200, 110),
    (240, 190, 60),
    (200, 110, 240),
    (60, 210, 210),
    (250, 140, 60),
    (240, 110, 180),
    (170, 200, 70),
    (160, 160, 160),
)
"""Distinct colours for overlaid runs: `PALETTE[i % len(PALETTE)]`."""

DEFAULT_THEME = "textual-dark"
"""The Textual theme charts are drawn in without an app (autosaved SVGs, benchmarks): the app's
own default, so a saved picture looks like the screen."""

TEXTUAL_THEMES: dict[str, tuple[RGB, RGB]] = {
    "textual-dark": ((30, 30, 30), (224, 224, 224)),
    "textual-light": ((216, 216, 216), (31, 31, 31)),
    "nord": ((59, 66, 82), (216, 222, 233)),
    "gruvbox": ((60, 56, 54), (251, 241, 199)),
    "catppuccin-mocha": ((49, 50, 68), (205, 214, 244)),
    "dracula": ((43, 46, 59), (248, 248, 242)),
    "tokyo-night": ((36, 40, 59), (169, 177, 214)),
    "monokai": ((46, 46, 46), (214, 214, 214)),
    "flexoki": ((28, 27, 26), (255, 252, 240)),
    "catppuccin-latte": ((230, 233, 239), (76, 79, 105)),
    "catppuccin-frappe": ((65, 69, 89), (198, 208, 245)),
    "catppuccin-macchiato": ((54, 58, 79), (202, 211, 245)),
    "solarized-light": ((238, 232, 213), (88, 110, 117)),
    "solarized-dark": ((7, 54, 66), (131, 148, 150)),
    "rose-pine": ((31, 29, 46), (224, 222, 244)),
    "rose-pine-moon": ((42, 39, 63), (224, 222, 244)),
    "rose-pine-dawn": ((255, 250, 243), (87, 82, 121)),
    "atom-one-dark": ((59, 65, 77), (171, 178, 191)),
    "atom-one-light": ((224, 224, 224), (56, 58, 66)),
    "ansi-dark": ((0, 0, 0), (0, 0, 0)),
    "ansi-light": ((0, 0, 0), (0, 0, 0)),
}
"""($surface, $foreground) of Textual's built-in themes, as an app computes them (textual 8.2)."""


def register_theme(theme: str, surface: RGB, foreground: RGB) -> str:
    """Register the plotext twin of Textual theme `theme` (unless it is already) and return its
    name, "textual-auto-<theme>". What an app does with its theme's $surface and $foreground."""
    name = f"textual-auto-{theme}"
    if name not in plotext_themes:
        surface, foreground = tuple(surface), tuple(foreground)
        # plotext's theme layout: canvas, axes, ticks colour, ticks style, colour sequence
        # (the sequence colours series plotext draws itself: none here, the glyphs are ours).
        plotext_themes[name] = (surface, surface, foreground, "default", list(PALETTE))
    return name


def plotext_theme(theme: str = DEFAULT_THEME) -> str:
    """The plotext theme that draws a chart as it looks in a Textual app using theme `theme`.

    "textual-auto-<theme>" when registered (by the widget in an app, or an earlier call) or
    when `theme` is one of Textual's built-in themes; a plotext theme name ("pro", "clear", …)
    is used as it is; anything else draws in `DEFAULT_THEME`.
    """
    auto = f"textual-auto-{theme}"
    if auto in plotext_themes:
        return auto
    if theme in TEXTUAL_THEMES:
        return register_theme(theme, *TEXTUAL_THEMES[theme])
    if theme in plotext_themes:
        return theme
    return plotext_theme(DEFAULT_THEME) if theme != DEFAULT_THEME else "default"


def theme_colors(plotext_name: str) -> tuple[RGB | None, RGB | None]:
    """(canvas, ticks) colours of a plotext theme when they are RGB (None: the terminal's)."""
    canvas, _axes, ticks = plotext_themes.get(plotext_name, plotext_themes["default"])[:3]

    def rgb(color: object) -> RGB | None:
        ok = isinstance(color, (tuple, list)) and len(color) == 3
        return tuple(color) if ok else None  # type: ignore[arg-type, return-value]

    return rgb(canvas), rgb(ticks)


_STYLE_CACHE: dict[tuple, Style] = {}


def cell_style(key: tuple) -> Style:
    """The rich Style of a plotext cell's (fullground, style, background), cached.

    Goes through plotext's own ANSI encoding once per distinct colouring, so names, 256-colour
    ints and RGB tuples mean exactly what they mean to plotext.
    """
    try:
        return _STYLE_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # a colour given as a list: make it hashable
        key = tuple(tuple(c) if isinstance(c, list) else c for c in key)
        if key in _STYLE_CACHE:
            return _STYLE_CACHE[key]
    ansi = plotext_utility.colors_to_ansi(*key)
    spans = Text.from_ansi(ansi + "x").spans if ansi else []
    style = spans[0].style if spans else Style()
    _STYLE_CACHE[key] = style  # type: ignore[assignment]
    return style  # type: ignore[return-value]


def color_style(color: object, no_color: bool = False) -> Style:
    """The foreground plotext would give `color` (name, 256-colour int, RGB) as a rich Style."""
    if no_color or color is None:
        return Style()
    none = plotext_utility.no_color
    return Style(color=cell_style((color, none, none)).color)


def blend(color: object, background: RGB, keep: float) -> object:
    """`keep` of an RGB colour over `background` (other colour forms are returned as they are)."""
    if isinstance(color, (tuple, list)) and len(color) == 3:
        return tuple(int(round(keep * c + (1 - keep) * b)) for c, b in zip(color, background))
    return color
