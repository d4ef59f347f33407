"""The legend: the chart's first row(s), one entry per series (hidden metrics struck through),
wrapped to the width, with the status (smoothing, log y, x axis, live/paused) right-aligned.
Each entry's cells are returned too, so a click on it can toggle its metric."""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.style import Style

from slavik_tui.charts.markers import kind_indices, swatch
from slavik_tui.charts.series import Series
from slavik_tui.charts.theme import color_style

Run = tuple[str, "Style | None"]
"""A stretch of text in one style."""
Hit = tuple[int, int, int, str]
"""(row, x0, x1, series key) of one legend entry: cells [x0, x1) of that row."""


def legend(
    series: Sequence[Series],
    hidden: Iterable[str],
    width: int,
    max_rows: int,
    no_color: bool,
    status: str,
) -> tuple[list[list[Run]], list[Hit]]:
    """Legend rows (entries wrapped to `width`, status right-aligned) and their hit boxes."""
    hidden = set(hidden)
    rows: list[list[Run]] = [[]]
    used = [0]  # cells used on each row
    hits: list[Hit] = []
    indices = kind_indices(series)
    for s in series:
        glyphs = swatch(s, indices[s.key], no_color)
        entry_len = len(glyphs) + 1 + len(s.label)
        gap = 2 if used[-1] else 0
        if used[-1] and used[-1] + gap + entry_len > width:
            if len(rows) >= max_rows:
                break
            rows.append([])
            used.append(0)
            gap = 0
        base = Style(dim=True, strike=True) if s.metric in hidden else Style()
        x0 = used[-1] + gap
        rows[-1] += [
            (" " * gap, None),
            (glyphs, base + color_style(s.color, no_color)),
            (" " + s.label, base),
        ]
        used[-1] = x0 + entry_len
        hits.append((len(rows) - 1, x0, used[-1], s.key))
    if status:
        dim = Style(dim=True)
        if width - used[-1] - 2 >= len(status):
            rows[-1] += [(" " * (width - used[-1] - len(status)), None), (status, dim)]
        elif len(rows) < max_rows:
            rows.append([(status[:width].rjust(width), dim)])
    return rows, hits
