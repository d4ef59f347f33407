"""The legend: the chart's first row(s), with the status (smoothing, log y, x axis, live/paused)
right-aligned. Each entry's cells are returned too, so a click on it can toggle its metric.

* One run: an entry per series — its swatch, label and last value ("━━ loss 3.412").
* Runs compared (series of several `run`s, in colour): colour is the run and the line style
  the metric, so the legend says each once: a key of the metrics in the neutral colour
  ("━ loss  • val  ┈ reward  ╍ MB", click toggles the metric) and then an entry per run in
  its colour with the last value of its first visible line ("━━ m/3 3.41"). Eight entries
  of two runs fit in one row at 80 columns instead of wrapping.
Hidden metrics are struck through."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from rich.style import Style

from slavik_tui.charts.markers import kind_indices, swatch
from slavik_tui.charts.series import Series
from slavik_tui.charts.theme import color_style

Run = tuple[str, "Style | None"]
"""A stretch of text in one style."""
Hit = tuple[int, int, int, str]
"""(row, x0, x1, series key) of one legend entry: cells [x0, x1) of that row."""

SHORT_NAMES = {"val loss": "val", "size MB": "MB"}
"""Metric names as the compare legend and the readout abbreviate them."""
STYLE_SWATCH = {"line": "━", "points": "•", "dotted": "┈", "dashed": "╍"}


def short_label(s: Series) -> str:
    """The metric part of a label: "m/3 val loss" -> "val"."""
    label = s.label[len(s.run) + 1:] if s.run and s.label.startswith(s.run + " ") else s.label
    return SHORT_NAMES.get(label, label)


def is_comparison(series: Sequence[Series], no_color: bool) -> bool:
    """Series of several runs, told apart by colour (without colour: by glyph, per series)."""
    return not no_color and len({s.run for s in series}) > 1


def _entries(series: Sequence[Series], hidden: set[str], no_color: bool,
             values: Mapping[str, str]) -> list[tuple[list[Run], int, str | None]]:
    """(runs, cells, key a click toggles) of each legend entry."""
    out: list[tuple[list[Run], int, str | None]] = []
    if is_comparison(series, no_color):
        seen: set[tuple[str, str]] = set()
        for s in series:  # the metrics key, once per (metric label, style)
            name = short_label(s)
            if (name, s.style) in seen:
                continue
            seen.add((name, s.style))
            base = Style(dim=True, strike=True) if s.metric in hidden else Style()
            text = f"{STYLE_SWATCH.get(s.style, '━')} {name}"
            out.append(([(text, base)], len(text), s.key))
        for run in dict.fromkeys(s.run for s in series):
            first = next(s for s in series if s.run == run)
            shown = [s for s in series if s.run == run and s.metric not in hidden
                     and s.style != "points"]
            value = values.get(shown[0].key, "") if shown else ""
            text = f" {run}" + (f" {value}" if value else "")
            out.append(([("━━", color_style(first.color, no_color)), (text, Style())],
                        2 + len(text), None))
        return out
    indices = kind_indices(series)
    for s in series:
        glyphs = swatch(s, indices[s.key], no_color)
        base = Style(dim=True, strike=True) if s.metric in hidden else Style()
        value = values.get(s.key, "")
        chunks: list[Run] = [(glyphs, base + color_style(s.color, no_color)),
                             (" " + s.label, base)]
        if value:
            chunks.append((" " + value, base + Style(bold=True)))
        out.append((chunks, sum(len(c) for c, _ in chunks), s.key))
    return out


def legend(
    series: Sequence[Series],
    hidden: Iterable[str],
    width: int,
    max_rows: int,
    no_color: bool,
    status: str,
    values: Mapping[str, str] | None = None,
) -> tuple[list[list[Run]], list[Hit]]:
    """Legend rows (entries wrapped to `width`, status right-aligned) and their hit boxes.
    `values`: the text shown after each series' label (its last value), by key."""
    hidden = set(hidden)
    rows: list[list[Run]] = [[]]
    used = [0]  # cells used on each row
    hits: list[Hit] = []
    for chunks, entry_len, key in _entries(series, hidden, no_color, values or {}):
        gap = 2 if used[-1] else 0
        if used[-1] and used[-1] + gap + entry_len > width:
            if len(rows) >= max_rows:
                break
            rows.append([])
            used.append(0)
            gap = 0
        x0 = used[-1] + gap
        rows[-1] += [(" " * gap, None), *chunks]
        used[-1] = x0 + entry_len
        if key is not None:
            hits.append((len(rows) - 1, x0, used[-1], key))
    if status:
        dim = Style(dim=True)
        if width - used[-1] - 2 >= len(status):
            rows[-1] += [(" " * (width - used[-1] - len(status)), None), (status, dim)]
        elif len(rows) < max_rows:
            rows.append([(status[:width].rjust(width), dim)])
    return rows, hits
