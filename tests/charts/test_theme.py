"""Theme colours without an app: the built-in table matches Textual, names resolve as the app's."""

from __future__ import annotations

import pytest

from slavik_tui.charts.theme import (
    DEFAULT_THEME,
    TEXTUAL_THEMES,
    color_style,
    plotext_theme,
    register_theme,
    theme_colors,
)


def test_the_builtin_table_matches_textuals_themes():
    # The table stands in for Textual, which charts/ never imports; a test may.
    from textual.color import Color
    from textual.theme import BUILTIN_THEMES

    assert set(TEXTUAL_THEMES) == set(BUILTIN_THEMES)
    for name, theme in BUILTIN_THEMES.items():
        variables = {**theme.to_color_system().generate(), **theme.variables}
        want = (Color.parse(variables["surface"]).rgb, Color.parse(variables["foreground"]).rgb)
        assert TEXTUAL_THEMES[name] == want, name


def test_theme_names_resolve_like_in_the_app():
    name = plotext_theme("nord")
    assert name == "textual-auto-nord"
    assert theme_colors(name) == TEXTUAL_THEMES["nord"]  # canvas on $surface, ticks $foreground
    assert plotext_theme("pro") == "pro"  # a plotext theme is taken as it is
    assert plotext_theme("no-such-theme") == plotext_theme(DEFAULT_THEME)
    assert theme_colors("pro") == (None, None)  # the terminal's own colours


def test_an_apps_own_theme_is_registered_once():
    name = register_theme("my-theme", (1, 2, 3), (200, 200, 200))
    assert name == "textual-auto-my-theme" == plotext_theme("my-theme")
    assert theme_colors(name) == ((1, 2, 3), (200, 200, 200))
    register_theme("my-theme", (9, 9, 9), (0, 0, 0))  # as Textual's PlotextPlot: first one wins
    assert theme_colors(name) == ((1, 2, 3), (200, 200, 200))


@pytest.mark.parametrize("color", [(240, 82, 82), "red", 196])
def test_series_colours_mean_what_they_mean_to_plotext(color):
    style = color_style(color)
    assert style.color is not None
    assert color_style(color, no_color=True).color is None and color_style(None).color is None
