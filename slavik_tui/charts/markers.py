"""How each series is drawn: braille lines and dot points in colour; without colour, series are
told apart by their glyphs instead (braille, quadrant blocks, `*`, `+`, … and •, x, o for
points). The legend shows the same glyph as its swatch."""

from __future__ import annotations

from typing import Sequence

from slavik_tui.charts.series import Series

_NO_COLOR_LINE_MARKERS: tuple[tuple[str, str], ...] = (
    ("braille", ""),
    ("hd", ""),
    ("char", "*"),
    ("char", "+"),
    ("char", "o"),
)
_NO_COLOR_POINT_MARKERS = ("•", "x", "o", "+", "#")


def kind_indices(series: Sequence[Series]) -> dict[str, int]:
    """Position of each series among those of its kind (lines / points): picks its glyphs."""
    counters = {"points": 0, "line": 0}
    out = {}
    for s in series:
        kind = "points" if s.style == "points" else "line"
        out[s.key] = counters[kind]
        counters[kind] += 1
    return out


def marker_for(series: Series, index: int, no_color: bool) -> tuple[str, str]:
    """(kind, char) used to draw a series (kind as in `raster.MARKER_RES`); `index` from
    `kind_indices`."""
    if series.style == "points":
        if not no_color:
            return "char", "•"
        return "char", _NO_COLOR_POINT_MARKERS[index % len(_NO_COLOR_POINT_MARKERS)]
    if no_color:
        return _NO_COLOR_LINE_MARKERS[index % len(_NO_COLOR_LINE_MARKERS)]
    return "braille", ""


def swatch(series: Series, index: int, no_color: bool) -> str:
    """The two cells that stand for a series in the legend."""
    kind, char = marker_for(series, index, no_color)
    if series.style == "points":
        return f" {char}"
    if no_color:
        return {"braille": "⠒⠒", "hd": "▀▀"}.get(kind, char * 2)
    return {"dashed": "╍╍", "dotted": "┈┈"}.get(series.style, "━━")
