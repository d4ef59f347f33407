"""`MetricsChart`: the live training chart (also used for history replay and run comparison).

How a frame is made (`render_frame`), and why:

* Every visible series is sliced to the visible x-range with `searchsorted` and reduced to the
  min/max of its polyline in each sub-cell column (`chart_data.reduce_columns`), optionally
  EMA-smoothed before that (cached per series and weight, extended on append). Block min/max
  summaries make the reduction ~2 ms for 3 × 1e6 points.
* plotext draws only the frame: axes, our round-number ticks, axis labels, title. The data are
  *not* handed to `plt.plot`: plotext rasterises lines point by point in Python, so even the
  reduced min/max zigzag of 3 series costs 35–70 ms a frame (bench/chart_speed.py). Instead the
  [min, max] spans are rasterised with numpy into braille glyphs (2×4 dots per cell) and written
  into plotext's character matrix. A noisy curve thus shows as the band it really is, spikes
  included, at a fixed cost per cell.
* The matrix becomes styled runs, painted through Textual's Line API (`render_line`): handing
  Textual a rich Text with thousands of coloured spans would cost more than the frame itself.
* The legend is our own first row(s) of the widget (clickable; hidden metrics are struck
  through) and carries the status: smoothing, log y, x axis, cleared, live/paused.
* `theme` is a Textual theme name, mapped by `plotext_theme` to the plotext theme the app's
  PlotextPlot uses, so a frame made without an app (the autosave, slavik_tui/charts.py) looks
  like the widget; `frame_svg` makes the SVG that both ctrl+s and the autosave write.

A whole frame of 3 × 1e6 points at 120×35 takes ~7–12 ms on 2 shared cores (target 25 ms).
The widget repaints at most every `REFRESH_INTERVAL` seconds and only when something changed;
a key press repaints at once unless the last repaint was under 0.1 s ago.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np
import plotext._matrix as plotext_matrix
import plotext._utility as plotext_utility
from plotext._dict import themes as plotext_themes
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import SVG_EXPORT_THEME, TerminalTheme
from rich.text import Span, Text
from textual import events, work
from textual.binding import Binding
from textual.color import Color as TextualColor
from textual.message import Message
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot, _rgbify_theme, _sequence

from slavik_tui.atomic import atomic_write_text, replacing
from slavik_tui.charts.series import (
    MARKER_RES,
    METRICS,
    Color,
    Series,
    axis_range,
    linear_ticks,
    log_ticks,
    rasterize,
    reduce_columns,
    step_ticks,
    time_ticks,
)

__all__ = [
    "DEFAULT_THEME",
    "PALETTE",
    "Frame",
    "MetricsChart",
    "Series",
    "frame_svg",
    "plotext_theme",
    "render_frame",
    "training_series",
]

XMode = Literal["step", "time"]
Run = tuple[str, "Style | None"]
"""A stretch of text in one style."""

SMOOTHING_MODES: tuple[float, ...] = (0.0, 0.6, 0.9, 0.99)

# Series colours, picked to read well on a dark background (and on a light one).
LOSS_COLOR = (240, 82, 82)
VAL_LOSS_COLOR = (255, 170, 150)
REWARD_COLOR = (80, 160, 255)
SIZE_COLOR = (90, 200, 110)
PALETTE: tuple[tuple[int, int, int], ...] = (
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

# Without colour, series are told apart by their glyphs instead.
_NO_COLOR_LINE_MARKERS: tuple[tuple[str, str], ...] = (
    ("braille", ""),
    ("hd", ""),
    ("char", "*"),
    ("char", "+"),
    ("char", "o"),
)
_NO_COLOR_POINT_MARKERS = ("•", "x", "o", "+", "#")

LEFT_LABEL = "loss / reward"
RIGHT_LABEL = "MB"

DEFAULT_THEME = "textual-dark"
"""The Textual theme charts are drawn in without an app (autosaved SVGs, benchmarks): the app's
own default, so a saved picture looks like the screen."""

RGB = tuple[int, int, int]


def plotext_theme(theme: str = DEFAULT_THEME) -> str:
    """The plotext theme that draws a chart as it looks in a Textual app using theme `theme`.

    `theme` is a Textual theme name ("textual-dark", "nord", …). Its plotext twin is
    "textual-auto-<theme>", the theme `PlotextPlot` registers inside an app (canvas and axes on
    the theme's $surface, ticks in its $foreground); for Textual's built-in themes it is
    registered here when missing, from the same colours, so one name gives one picture with
    or without an app. A plotext theme name ("pro", "clear", …) is used as it is; anything else
    draws in `DEFAULT_THEME`.
    """
    auto = f"textual-auto-{theme}"
    if auto in plotext_themes:  # registered by a PlotextPlot in an app, or by an earlier call
        return auto
    from textual.theme import BUILTIN_THEMES

    textual_theme = BUILTIN_THEMES.get(theme)
    if textual_theme is not None:
        # What App.get_css_variables() makes of a theme, i.e. what PlotextPlot reads in an app.
        variables = {**textual_theme.to_color_system().generate(), **textual_theme.variables}
        surface = TextualColor.parse(variables["surface"]).rgb
        foreground = TextualColor.parse(variables["foreground"]).rgb
        plotext_themes[auto] = _rgbify_theme(surface, surface, foreground, "default", _sequence)
        return auto
    if theme in plotext_themes:
        return theme
    return plotext_theme(DEFAULT_THEME) if theme != DEFAULT_THEME else "default"


def _theme_colors(plotext_name: str) -> tuple[RGB | None, RGB | None]:
    """(canvas, ticks) colours of a plotext theme when they are RGB (None: the terminal's)."""
    canvas, _axes, ticks = plotext_themes.get(plotext_name, plotext_themes["default"])[:3]

    def rgb(color: object) -> RGB | None:
        ok = isinstance(color, (tuple, list)) and len(color) == 3
        return tuple(color) if ok else None  # type: ignore[arg-type, return-value]

    return rgb(canvas), rgb(ticks)


def training_series(run: str = "", color: Color | None = None) -> list[Series]:
    """The four series of one training run: loss, val loss (points), reward, size MB (right).

    Without `run` the keys are "loss", "val_loss", "reward", "size_mb". With `run` (e.g.
    "model/run" when comparing runs) keys are prefixed "<run>:" and labels read
    "<run> loss" …; `color` then paints all four in the run's colour (their styles differ).
    """
    prefix = f"{run}:" if run else ""
    label = (lambda name: f"{run} {name}") if run else (lambda name: name)
    if color is None:
        colors: tuple[Color, ...] = (LOSS_COLOR, VAL_LOSS_COLOR, REWARD_COLOR, SIZE_COLOR)
    else:
        colors = (color,) * 4
    return [
        Series(f"{prefix}loss", label("loss"), "loss", colors[0], "left", "line", run),
        Series(f"{prefix}val_loss", label("val loss"), "loss", colors[1], "left", "points", run),
        Series(f"{prefix}reward", label("reward"), "reward", colors[2], "left", "line", run),
        Series(f"{prefix}size_mb", label("size MB"), "size", colors[3], "right", "dashed", run),
    ]


# ---------------------------------------------------------------------------------------------
# One frame
# ---------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """A rendered chart plus the geometry needed to map mouse positions back to data."""

    lines: list[list[Run]]
    """Top to bottom: each line as runs of (text, style); `height` lines of `width` cells."""
    width: int
    drawn: list[str]
    """Keys of the series that put at least one glyph on the canvas."""
    x_range: tuple[float, float]
    plot_x: tuple[int, int]
    """Content columns [x0, x1) of the data canvas (inside the y tick labels and axes)."""
    plot_y: tuple[int, int]
    """Content rows [y0, y1) of the data canvas."""
    legend_hits: list[tuple[int, int, int, str]] = field(default_factory=list)
    """(row, x0, x1, series key) of each legend entry."""
    reduce_ms: float = 0.0
    elapsed_ms: float = 0.0
    background: RGB | None = None
    """The theme's canvas colour (the widget's $surface): what unstyled cells sit on."""
    foreground: RGB | None = None
    """The theme's text colour (the widget's $foreground): unstyled text (legend, status)."""

    @cached_property
    def text(self) -> Text:
        """The frame as rich Text (SVG export, tests)."""
        plain: list[str] = []
        spans: list[Span] = []
        offset = 0
        for line in self.lines:
            for chunk, style in line:
                if style is not None:
                    spans.append(Span(offset, offset + len(chunk), style))
                offset += len(chunk)
                plain.append(chunk)
            plain.append("\n")
            offset += 1
        return Text("".join(plain[:-1]), spans=spans, end="")

    @cached_property
    def strips(self) -> list[Strip]:
        """The frame as Textual strips (what the widget paints; no Text round trip)."""
        plain = Style()  # Textual's filters (NO_COLOR) expect a style on every segment
        return [
            Strip([Segment(chunk, style or plain) for chunk, style in line]).adjust_cell_length(
                self.width, plain
            )
            for line in self.lines
        ]


def frame_svg(frame: Frame, title: str) -> str:
    """`frame` as an SVG document (rich's terminal picture) titled `title`.

    Cells without a style of their own (legend, status) get the frame's theme colours, as the
    widget paints them on its $surface background: the file looks like the screen.
    """
    console = Console(
        record=True,
        width=frame.width,
        file=io.StringIO(),
        color_system="truecolor",
        force_terminal=True,
    )
    console.print(frame.text, crop=True, overflow="crop", no_wrap=True)
    theme = SVG_EXPORT_THEME
    if frame.background is not None or frame.foreground is not None:
        palette = [tuple(SVG_EXPORT_THEME.ansi_colors[i]) for i in range(16)]
        theme = TerminalTheme(
            frame.background or tuple(SVG_EXPORT_THEME.background_color),
            frame.foreground or tuple(SVG_EXPORT_THEME.foreground_color),
            palette[:8],  # type: ignore[arg-type]
            palette[8:],  # type: ignore[arg-type]
        )
    return console.export_svg(title=title, theme=theme)


def _kind_indices(series: Sequence[Series]) -> dict[str, int]:
    """Position of each series among those of its kind (lines / points): picks its glyphs."""
    counters = {"points": 0, "line": 0}
    out = {}
    for s in series:
        kind = "points" if s.style == "points" else "line"
        out[s.key] = counters[kind]
        counters[kind] += 1
    return out


def _marker_for(series: Series, index: int, no_color: bool) -> tuple[str, str]:
    """(kind, char) used to draw a series; `index` from `_kind_indices`."""
    if series.style == "points":
        if not no_color:
            return "char", "•"
        return "char", _NO_COLOR_POINT_MARKERS[index % len(_NO_COLOR_POINT_MARKERS)]
    if no_color:
        return _NO_COLOR_LINE_MARKERS[index % len(_NO_COLOR_LINE_MARKERS)]
    return "braille", ""


def _swatch(series: Series, index: int, no_color: bool) -> str:
    kind, char = _marker_for(series, index, no_color)
    if series.style == "points":
        return f" {char}"
    if no_color:
        return {"braille": "⠒⠒", "hd": "▀▀"}.get(kind, char * 2)
    return "╍╍" if series.style == "dashed" else "━━"


def _swatch_style(color: Color, no_color: bool) -> Style:
    """The colour plotext would give `color` (names, 256-colour ints, RGB), as a rich Style."""
    if no_color or color is None:
        return Style()
    none = plotext_utility.no_color
    return Style(color=_plotext_style((color, none, none)).color)


def _legend(
    series: Sequence[Series],
    hidden: set[str],
    width: int,
    max_rows: int,
    no_color: bool,
    status: str,
) -> tuple[list[list[Run]], list[tuple[int, int, int, str]]]:
    """Legend rows (entries wrapped to `width`, status right-aligned) and their hit boxes."""
    rows: list[list[Run]] = [[]]
    used = [0]  # cells used on each row
    hits: list[tuple[int, int, int, str]] = []
    indices = _kind_indices(series)
    dim = Style(dim=True)
    for s in series:
        swatch = _swatch(s, indices[s.key], no_color)
        entry_len = len(swatch) + 1 + len(s.label)
        gap = 2 if used[-1] else 0
        if used[-1] and used[-1] + gap + entry_len > width:
            if len(rows) >= max_rows:
                break
            rows.append([])
            used.append(0)
            gap = 0
        off = s.metric in hidden
        base = Style(dim=True, strike=True) if off else Style()
        x0 = used[-1] + gap
        rows[-1] += [
            (" " * gap, None),
            (swatch, base + _swatch_style(s.color, no_color)),
            (" " + s.label, base),
        ]
        used[-1] = x0 + entry_len
        hits.append((len(rows) - 1, x0, used[-1], s.key))
    if status:
        if width - used[-1] - 2 >= len(status):
            rows[-1] += [(" " * (width - used[-1] - len(status)), None), (status, dim)]
        elif len(rows) < max_rows:
            rows.append([(status[:width].rjust(width), dim)])
    return rows, hits


_STYLE_CACHE: dict[tuple, Style] = {}


def _plotext_style(key: tuple) -> Style:
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


class _Matrix(plotext_matrix.matrix_class):
    """plotext's character matrix with a faster `set_matrices` (same result).

    The original decides the background of every cell with a per-cell lambda (~3 ms at
    120×35); here each row is built from three slices.
    """

    def set_matrices(self) -> None:
        cols, space, none = self.cols, plotext_utility.space, plotext_utility.no_color
        c0 = min(max(self.Cols_canvas.start, 0), cols)
        c1 = min(max(self.Cols_canvas.stop, c0), cols)
        axes, canvas = self.axes_color, self.canvas_color
        inside = [axes] * c0 + [canvas] * (c1 - c0) + [axes] * (cols - c1)
        self.marker = [[space] * cols for _ in self.Rows]
        self.fullground = [[none] * cols for _ in self.Rows]
        self.background = [
            list(inside) if row in self.Rows_canvas else [axes] * cols for row in self.Rows
        ]
        self.style = [[none] * cols for _ in self.Rows]


def _matrix_runs(matrix: object) -> list[list[Run]]:
    """plotext's character matrix as lines of styled runs, top line first.

    Same look as `Text.from_ansi(matrix.set_canvas())` at a fraction of the cost: runs of
    equal colours are cut directly instead of being encoded to escape codes and parsed back.
    """
    markers, fgs = matrix.marker, matrix.fullground  # type: ignore[attr-defined]
    bgs, styles = matrix.background, matrix.style  # type: ignore[attr-defined]
    lines: list[list[Run]] = []
    for row in range(matrix.rows - 1, -1, -1):  # type: ignore[attr-defined]
        chars = markers[row]
        runs: list[Run] = []
        start, prev = 0, None
        for col, key in enumerate(zip(fgs[row], styles[row], bgs[row])):
            if key != prev:
                if prev is not None:
                    runs.append(("".join(chars[start:col]), _plotext_style(prev)))
                start, prev = col, key
        if prev is not None:
            runs.append(("".join(chars[start:]), _plotext_style(prev)))
        lines.append(runs)
    return lines


def _time_origin(series: Series, all_series: Sequence[Series]) -> float:
    """The time that is 0 s on the time axis for this series."""
    if series.t0 is not None:
        return series.t0
    firsts = [s.x_time[0] for s in all_series if s.run == series.run and len(s)]
    return float(min(firsts)) if firsts else 0.0


def render_frame(
    series: Sequence[Series],
    *,
    width: int,
    height: int,
    x_range: tuple[float, float],
    x_mode: XMode = "step",
    hidden_metrics: Iterable[str] = (),
    smoothing: float = 0.0,
    log_y: bool = False,
    title: str = "",
    status: str = "",
    theme: str = DEFAULT_THEME,
    no_color: bool = False,
    ncols_hint: int | None = None,
) -> Frame:
    """Render the chart into `width` × `height` cells (legend rows included).

    `series` in legend order; `x_range` in x-axis units (steps, or seconds since each run's
    start); `theme` a Textual theme name (or a plotext one, see `plotext_theme`): the widget
    passes its app's theme, so a frame made without an app looks the same. Pure function of
    its arguments apart from the series' smoothing caches.
    """
    started = time.perf_counter()
    hidden = set(hidden_metrics)
    width, height = max(int(width), 1), max(int(height), 1)
    legend_rows, hits = _legend(series, hidden, width, max(1, height // 5), no_color, status)
    plot_h = max(height - len(legend_rows), 1)
    lo, hi = x_range
    visible = [(i, s) for i, s in enumerate(series) if s.metric not in hidden and len(s)]
    sides = {s.yside for _, s in visible}

    # ---- 1. reduce every visible series to per-sub-column spans ------------------------------
    sub_x = 2  # braille and quadrant markers both have two sub-columns per cell
    label_guess = 14 if "right" in sides else 8
    ncols = ncols_hint if ncols_hint else max(width - 2 - label_guess, 1)

    def reduce_all(ncols: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        spans = {}
        for _, s in visible:
            kind = "points" if s.style == "points" else "line"
            weight = smoothing if kind == "line" else 0.0
            x = s.x_step if x_mode == "step" else s.x_time
            offset = 0.0 if x_mode == "step" else _time_origin(s, series)
            s_lo, s_hi = reduce_columns(
                x,
                s.drawable(weight, log_y),  # NaN where a value can't be drawn (inf, <= 0 on log)
                lo,
                hi,
                ncols * sub_x,
                connect=kind == "line",
                x_offset=offset,
                blocks=s.block_minmax(weight, log_y),
            )
            if log_y:
                with np.errstate(divide="ignore", invalid="ignore"):
                    s_lo = np.where(s_lo > 0, np.log10(s_lo), np.nan)
                    s_hi = np.where(s_hi > 0, np.log10(s_hi), np.nan)
            spans[s.key] = (s_lo, s_hi)
        return spans

    spans = reduce_all(ncols)
    reduce_ms = (time.perf_counter() - started) * 1000

    # ---- 2. y ranges and ticks per side --------------------------------------------------------
    canvas_h = max(plot_h - 5 if title else plot_h - 4, 1)  # 2 axes, x tick row, label row, title
    y_ticks_max = max(2, min(8, canvas_h // 3 + 1))
    y_ranges: dict[str, tuple[float, float]] = {}
    y_ticks: dict[str, tuple[list[float], list[str]]] = {}
    for side in ("left", "right"):
        keys = [s.key for _, s in visible if s.yside == side]
        if side not in sides:
            continue
        mins = [np.nanmin(spans[k][0]) for k in keys if np.isfinite(spans[k][0]).any()]
        maxs = [np.nanmax(spans[k][1]) for k in keys if np.isfinite(spans[k][1]).any()]
        if mins:
            y0, y1 = axis_range(float(min(mins)), float(max(maxs)), log_y)
        else:
            y0, y1 = (0.0, 1.0)
        y_ranges[side] = (y0, y1)
        y_ticks[side] = (log_ticks if log_y else linear_ticks)(y0, y1, y_ticks_max)
    if not sides:  # nothing to draw: still show an empty frame with a left axis
        y_ranges["left"] = (0.0, 1.0)
        y_ticks["left"] = linear_ticks(0.0, 1.0, 3)

    # The canvas width plotext will use: total − 2 axis lines − widest tick label on each side.
    label_w = sum(max(len(t) for t in y_ticks[side][1]) for side in y_ticks)
    exact = max(width - 2 - label_w, 1)
    if exact != ncols:
        ncols = exact
        spans = reduce_all(ncols)
        reduce_ms = (time.perf_counter() - started) * 1000

    # ---- 3. the frame, drawn by plotext -------------------------------------------------------
    plt = Plot()
    plt.plotsize(width, plot_h)
    plt._set_size(width, plot_h)  # noqa: SLF001 - same work-around PlotextPlot.render uses
    theme_name = plotext_theme(theme)
    plt.theme(theme_name)
    if title:
        plt.title(title[: max(width - 4, 0)])
    plt.xlabel("step" if x_mode == "step" else "time")
    x_ticks_max = max(2, min(10, exact // 12))
    xt, xl = (step_ticks if x_mode == "step" else time_ticks)(lo, hi, x_ticks_max)
    plt.xlim(lo, hi)
    plt.xticks(xt, xl)
    for side, (y0, y1) in y_ranges.items():
        plt.ylim(y0, y1, yside=side)
        plt.yticks(*y_ticks[side], yside=side)
        plt.plot([], [], yside=side)  # an empty signal switches the side's axis and ticks on
        if side in sides:
            plt.ylabel(LEFT_LABEL if side == "left" else RIGHT_LABEL, yside=side)
    plt.monitor.matrix = _Matrix()
    plt._set_sizes()  # noqa: SLF001 - build() minus the final to-text step, so that we can
    plt._build_matrix()  # noqa: SLF001 - write our glyphs into the matrix first
    matrix = plt.monitor.matrix
    c0, c1 = matrix.Cols_canvas.start, matrix.Cols_canvas.stop
    r0, r1 = matrix.Rows_canvas.start, matrix.Rows_canvas.stop
    cells_w, cells_h = c1 - c0, r1 - r0
    if cells_w != ncols and cells_w > 0:  # plotext laid out differently than predicted
        spans = reduce_all(cells_w)

    # ---- 4. data glyphs -----------------------------------------------------------------------
    drawn: list[str] = []
    if cells_w > 0 and cells_h > 0:
        lines = [(i, s) for i, s in reversed(visible) if s.style != "points"]
        points = [(i, s) for i, s in reversed(visible) if s.style == "points"]
        marker, fullground = matrix.marker, matrix.fullground
        indices = _kind_indices(series)
        for _, s in lines + points:
            kind, char = _marker_for(s, indices[s.key], no_color)
            s_lo, s_hi = spans[s.key]
            if kind == "char":  # one glyph per cell: take the span of each cell's sub-columns
                s_lo = np.fmin(s_lo[0::2], s_lo[1::2])
                s_hi = np.fmax(s_hi[0::2], s_hi[1::2])
            sx = MARKER_RES[kind][0]
            y0, y1 = y_ranges[s.yside]
            rr, cc, chars = rasterize(
                s_lo[: cells_w * sx],
                s_hi[: cells_w * sx],
                y0,
                y1,
                cells_h,
                kind=kind,
                char=char,
                points=s.style == "points",
                dash=4 if s.style == "dashed" else 0,
            )
            if not chars:
                continue
            drawn.append(s.key)
            color = "default" if no_color or s.color is None else s.color
            for r, c, ch in zip((rr + r0).tolist(), (cc + c0).tolist(), chars):
                marker[r][c] = ch
                fullground[r][c] = color
        drawn.reverse()

    # ---- 5. compose ---------------------------------------------------------------------------
    top = len(legend_rows)
    background, foreground = _theme_colors(theme_name)
    return Frame(
        lines=legend_rows + _matrix_runs(matrix),
        width=width,
        drawn=[k for k in (s.key for s in series) if k in drawn],
        x_range=(lo, hi),
        plot_x=(c0, c1),
        plot_y=(top + plot_h - r1, top + plot_h - r0),
        legend_hits=hits,
        reduce_ms=reduce_ms,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        background=background,
        foreground=foreground,
    )


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------

_PAN = Binding.Group("Pan", compact=True)
_ZOOM = Binding.Group("Zoom", compact=True)
_SERIES = Binding.Group("Series", compact=True)

MIN_SPAN = {"step": 2.0, "time": 1.0}
"""Zoom stops at this x span (steps / seconds)."""


NOTE_WIDTH = 38
"""Text columns of a notification at 80 columns (Textual's toast: half the screen, padded)."""


def _short_dir(folder: Path) -> str:
    """`folder` for people: relative to the cwd when inside it, else with ~ for home."""
    folder = Path(folder)
    try:
        rel = folder.resolve().relative_to(Path.cwd().resolve())
        return "." if not rel.parts else str(rel)
    except (OSError, ValueError):
        pass
    home = Path.home()
    try:
        return str(Path("~") / folder.relative_to(home))
    except ValueError:
        return str(folder)


def _clip_middle(text: str, width: int, keep_tail: int = 0) -> str:
    """`text` cut to `width` with an ellipsis in the middle, keeping its last `keep_tail`."""
    if len(text) <= width:
        return text
    tail = min(max(keep_tail, 0), width - 2)
    head = width - 1 - tail
    return text[:head] + "…" + (text[-tail:] if tail else "")


def saved_note(svg: Path, csv_path: Path, width: int = NOTE_WIDTH) -> str:
    """The 'Chart saved' notification: the file name(s) on one line, the folder once.

    'tiny-20250301-121212.svg + .csv' / 'in ~/models/tiny/charts'. Each line fits `width`
    (long names keep their start and their time stamp), so at 80×24 the note covers a corner
    of the chart, not half of it. The full paths are in the `Saved` message.
    """
    if svg.parent == csv_path.parent and svg.stem == csv_path.stem:
        extra = f" + {csv_path.suffix}"
        names = _clip_middle(svg.stem, width - len(svg.suffix) - len(extra), 16) + svg.suffix
        names += extra
    else:
        names = f"{_clip_middle(svg.name, width, 20)}\n{_clip_middle(csv_path.name, width, 20)}"
    folder = _short_dir(svg.parent) if svg.parent == csv_path.parent else ""
    where = "\nin " + _clip_middle(folder, width - 3, width // 2) if folder else ""
    return names + where


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w.-]+", "-", text, flags=re.UNICODE).strip("-.")
    return slug[:60] or "chart"


class MetricsChart(PlotextPlot):
    """A zoomable, pannable chart of training metrics over steps or wall time.

    Feed it from the UI thread: `add_series(...)` once, then `append(key, steps, times, values)`
    whenever rows arrive (cheap: it only marks the chart dirty; a timer repaints ≤ 5×/s).
    State for owners and tests: `view`, `follow`, `hidden_metrics`, `smoothing`, `log_y`,
    `x_mode`, `fit_override` (all settable), `cleared_at`, `drawn_series`, `last_frame_ms`,
    `render_count` (frames built so far). Key and mouse actions post `ViewChanged`; the
    setters do not.

    View rules:
    * `view` None = fit all; pan/zoom are clamped to the data, and zooming out to the whole
      range returns to fit all. ←/→ do nothing while everything is visible.
    * Following: while the view reaches the newest point, appends slide it along (fit all
      always follows). Panning/zooming away stops it; End resumes it keeping the span.
    * c ("clear") starts a fresh view at the newest point: fit all, 0, pan and zoom are then
      limited to data from that point on (the history stays in memory). c again brings the
      whole history back.
    * Mouse: the wheel zooms around the x under the pointer (×0.8 per notch, inverse out);
      dragging with the left button pans; a press on a legend entry toggles its metric. The
      pointer's x is mapped through the data canvas of the last frame (its exact columns come
      from plotext's layout, after the y tick labels), so no margin is guessed.
    """

    DEFAULT_CSS = """
    MetricsChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
        background: $surface;  /* the plot canvas is drawn on the theme's surface colour */
    }
    """

    # The footer shows Zoom, Fit and Save only: at 80 columns the chart shares one footer line
    # with its screen's keys (Start/Stop, Form, F1–F4, ?), which must stay in sight. Every
    # key, shown or not, is listed in the ? help (made from these BINDINGS); the series also
    # toggle by a click on their legend entry.
    BINDINGS = [
        Binding("left", "pan(-1)", "Pan", group=_PAN, show=False),
        Binding("right", "pan(1)", "Pan", group=_PAN, show=False),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", group=_ZOOM, key_display="+"),
        Binding("minus", "zoom(2)", "Zoom out", group=_ZOOM, key_display="-"),
        Binding("0", "fit", "Fit"),
        Binding("end", "follow", "Follow", show=False),
        Binding("1", "toggle_metric('loss')", "Loss", group=_SERIES, show=False),
        Binding("2", "toggle_metric('reward')", "Reward", group=_SERIES, show=False),
        Binding("3", "toggle_metric('size')", "Size", group=_SERIES, show=False),
        Binding("s", "cycle_smoothing", "Smooth", show=False),
        Binding("l", "toggle_log", "Log y", show=False),
        Binding("ctrl+s", "save", "Save"),
        Binding("x", "toggle_x", "Step/time axis", show=False),
        Binding("c", "clear", "Clear view", show=False),
    ]

    can_focus = True

    REFRESH_INTERVAL = 0.2
    """Seconds between repaints while data keep arriving."""
    KEY_REFRESH_GAP = 0.1
    """A key press repaints at once unless the last repaint is more recent than this."""
    WHEEL_ZOOM = 0.8
    """Span factor of one wheel notch towards you (zoom in); its inverse zooms out."""
    PAN_FRACTION = 0.1

    class ViewChanged(Message):
        """Posted after a key or mouse action on the chart (pan, zoom, fit, follow, a metric
        toggle, smoothing, log y, x axis, clear) — not by the setters, so an owner can copy
        the new state to other charts (`compare_charts.CompareCharts` does) without loops."""

        def __init__(self, chart: "MetricsChart") -> None:
            super().__init__()
            self.chart = chart

        @property
        def control(self) -> "MetricsChart":
            return self.chart

    class Saved(Message):
        """Posted after ctrl+s wrote the chart's SVG and CSV."""

        def __init__(self, chart: "MetricsChart", svg_path: Path, csv_path: Path) -> None:
            super().__init__()
            self.chart = chart
            self.svg_path = svg_path
            self.csv_path = csv_path

    def __init__(
        self,
        series: Iterable[Series] = (),
        *,
        title: str = "",
        save_dir: str | os.PathLike[str] | None = None,
        no_color: bool | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._series: dict[str, Series] = {}
        self._title = title
        self.save_dir: Path | None = Path(save_dir) if save_dir is not None else None
        """Where ctrl+s writes (None: the current directory)."""
        self._no_color_override = no_color
        self._view: tuple[float, float] | None = None
        self.follow = True
        """New data keep the view on the newest point: true while the view shows the tail."""
        self._hidden: frozenset[str] = frozenset()
        self._smoothing = 0.0
        self._log_y = False
        self._x_mode: XMode = "step"
        self.drawn_series: list[str] = []
        """Keys of the series that the last frame drew (visible, with data in view)."""
        self.last_frame_ms = 0.0
        self.render_count = 0
        self._clear_floor: dict[str, float] | None = None
        self._fit_override: tuple[float, float] | None = None
        self._version = 0
        self._dirty = True
        self._last_refresh = 0.0
        self._cache_key: tuple | None = None
        self._frame: Frame | None = None
        self._ncols_hint: int | None = None
        self._drag: tuple[int, tuple[float, float], float] | None = None
        """(start column, x-range at the press, data units per cell) while dragging."""
        for s in series:
            self.add_series(s)

    @classmethod
    def for_run(cls, run: str = "", **kwargs: object) -> "MetricsChart":
        """A chart with the four series of a training run (see `training_series`)."""
        return cls(training_series(run), **kwargs)  # type: ignore[arg-type]

    # -- data API ----------------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._title = value
        self._changed()

    @property
    def series(self) -> list[Series]:
        """The series in legend order."""
        return list(self._series.values())

    def get_series(self, key: str) -> Series:
        try:
            return self._series[key]
        except KeyError:
            have = ", ".join(self._series) or "none"
            raise KeyError(f"no series {key!r} in this chart (have: {have})") from None

    def add_series(self, series: Series) -> Series:
        if series.key in self._series:
            raise ValueError(f"a series with key {series.key!r} is already in the chart")
        self._series[series.key] = series
        self._changed()
        return series

    def append(self, key: str, steps: object, times: object, values: object) -> None:
        """Append rows to one series (UI thread only). While following, the view keeps up."""
        if self.get_series(key).append(steps, times, values):
            if self.follow and self._view is not None:
                lo, hi = self._view
                tail = self._extent()[1]
                if tail > hi:
                    self._view = (tail - (hi - lo), tail)
            self._changed()

    def remove_series(self, key: str) -> None:
        self.get_series(key)
        del self._series[key]
        self._changed()

    def remove_all(self) -> None:
        """Drop every series and reset the view (for reuse with another run)."""
        self._series.clear()
        self._view, self.follow, self._clear_floor = None, True, None
        self._fit_override = None
        self._changed()

    # -- display state (settable by owners; keys and mouse go through the same setters) ----------

    @property
    def view(self) -> tuple[float, float] | None:
        """Visible x-range (x_lo, x_hi) in x-axis units, or None: fit everything."""
        return self._view

    @view.setter
    def view(self, value: tuple[float, float] | None) -> None:
        if value is None:
            self._fit()
        else:
            self.set_view(*value)

    @property
    def fit_override(self) -> tuple[float, float] | None:
        """The x-range 'fit all' shows instead of the data's own (x-axis units), or None.

        Charts side by side set the union of their runs' ranges here, so that runs of
        different lengths line up. c (clear) still limits it from the clear point on. Reset to
        None when the x axis changes (its units do).
        """
        return self._fit_override

    @fit_override.setter
    def fit_override(self, value: tuple[float, float] | None) -> None:
        if value is not None:
            lo, hi = float(value[0]), float(value[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
                raise ValueError(f"fit_override needs finite lo <= hi, not {value!r}")
            value = (lo, hi)
        if value == self._fit_override:
            return
        self._fit_override = value
        if self._view is not None:
            self.set_view(*self._view)  # clamped to the new range
        else:
            self._changed(immediate=True)

    @property
    def hidden_metrics(self) -> frozenset[str]:
        """Metrics ("loss", "reward", "size") whose series are hidden."""
        return self._hidden

    @hidden_metrics.setter
    def hidden_metrics(self, metrics: Iterable[str]) -> None:
        metrics = frozenset(metrics)
        unknown = metrics - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
        self._hidden = metrics
        self._changed(immediate=True)

    @property
    def smoothing(self) -> float:
        """EMA weight applied before drawing lines (0 = raw)."""
        return self._smoothing

    @smoothing.setter
    def smoothing(self, weight: float) -> None:
        weight = float(weight)
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smoothing is an EMA weight in [0, 1), not {weight}")
        self._smoothing = weight
        self._changed(immediate=True)

    @property
    def log_y(self) -> bool:
        """Log-scale y axes (values <= 0 are not drawn)."""
        return self._log_y

    @log_y.setter
    def log_y(self, on: bool) -> None:
        self._log_y = bool(on)
        self._changed(immediate=True)

    @property
    def x_mode(self) -> XMode:
        """"step" or "time" (seconds since each run's first row)."""
        return self._x_mode

    @x_mode.setter
    def x_mode(self, mode: XMode) -> None:
        if mode not in ("step", "time"):
            raise ValueError(f'x_mode is "step" or "time", not {mode!r}')
        if mode == self._x_mode:
            return
        view = self._view
        if view is not None:  # keep showing the same stretch of the run, in the new units
            ref = max(self._series.values(), key=len, default=None)
            if ref is None or len(ref) < 2:
                view = None
            else:
                t = ref.x_time - _time_origin(ref, self.series)
                src, dst = (ref.x_step, t) if mode == "time" else (t, ref.x_step)
                mapped = np.interp(view, src, dst)
                view = (float(mapped[0]), float(mapped[1])) if mapped[1] > mapped[0] else None
        following = self.follow
        self._x_mode = mode
        self._fit_override = None  # in the old axis' units
        if view is None:
            self._fit()
        else:
            self.set_view(*view)
            if following:
                self._follow()

    # -- view geometry -------------------------------------------------------------------------

    def _x_values(self, s: Series) -> tuple[np.ndarray, float]:
        if self.x_mode == "step":
            return s.x_step, 0.0
        return s.x_time, _time_origin(s, self.series)

    def _extent(self) -> tuple[float, float]:
        """Data x-range of the visible series (all series when none is visible)."""
        chosen = [s for s in self._series.values() if len(s) and s.metric not in self._hidden]
        chosen = chosen or [s for s in self._series.values() if len(s)]
        if not chosen:
            return (0.0, 1.0)
        los, his = [], []
        for s in chosen:
            x, off = self._x_values(s)
            los.append(x[0] - off)
            his.append(x[-1] - off)
        return float(min(los)), float(max(his))

    def data_range(self) -> tuple[float, float] | None:
        """The x-range of the data (visible series; all when none is visible), None if empty.

        What 'fit all' shows without a `fit_override` and before c (clear) cuts it.
        """
        if not any(len(s) for s in self._series.values()):
            return None
        return self._extent()

    def fit_range(self) -> tuple[float, float]:
        """The x-range shown by 'fit all': `fit_override` or the data's range, from the clear
        point on after c."""
        lo, hi = self._fit_override if self._fit_override is not None else self._extent()
        if self._clear_floor is not None:
            lo = max(lo, self._clear_floor[self.x_mode])
        if hi - lo < MIN_SPAN[self.x_mode]:
            hi = lo + MIN_SPAN[self.x_mode]
        return lo, hi

    @property
    def x_range(self) -> tuple[float, float]:
        """The x-range on screen now."""
        return self._view if self._view is not None else self.fit_range()

    def set_view(self, lo: float, hi: float) -> None:
        """Show [lo, hi] (clamped to the data; the whole range becomes 'fit all')."""
        f_lo, f_hi = self.fit_range()
        span = hi - lo
        if not math.isfinite(span) or span >= (f_hi - f_lo) * (1 - 1e-12):
            self._view, self.follow = None, True
        else:
            if lo < f_lo:
                lo, hi = f_lo, f_lo + span
            if hi > f_hi:
                lo, hi = f_hi - span, f_hi
            self._view = (float(lo), float(hi))
            self.follow = hi >= f_hi - 1e-9 * max(abs(f_hi), 1.0)
        self._changed(immediate=True)

    def zoom_at(self, anchor: float, factor: float) -> None:
        """Scale the visible span by `factor` keeping `anchor` (an x value) in place."""
        lo, hi = self.x_range
        anchor = min(max(anchor, lo), hi)
        new_lo, new_hi = anchor - (anchor - lo) * factor, anchor + (hi - anchor) * factor
        min_span = MIN_SPAN[self.x_mode]
        if new_hi - new_lo < min_span:
            if hi - lo <= min_span:
                return
            frac = (anchor - lo) / (hi - lo)
            new_lo, new_hi = anchor - frac * min_span, anchor + (1 - frac) * min_span
        self.set_view(new_lo, new_hi)

    def column_to_x(self, column: int) -> float:
        """Data x under content column `column` (clamped to the plot area)."""
        lo, hi = self.x_range
        if self._frame is None:
            return (lo + hi) / 2
        x0, x1 = self._frame.plot_x
        col = min(max(column, x0), x1 - 1)
        return lo + (col - x0 + 0.5) / max(x1 - x0, 1) * (hi - lo)

    # -- actions ------------------------------------------------------------------------------

    # Keys and the mouse act through these; each posts ViewChanged. Setters never post.

    def _view_changed(self) -> None:
        self.post_message(self.ViewChanged(self))

    def action_pan(self, direction: int) -> None:
        if self._view is None:
            return  # everything is on screen already
        lo, hi = self._view
        shift = direction * self.PAN_FRACTION * (hi - lo)
        self.set_view(lo + shift, hi + shift)
        self._view_changed()

    def action_zoom(self, factor: float) -> None:
        lo, hi = self.x_range
        self.zoom_at((lo + hi) / 2, factor)
        self._view_changed()

    def _fit(self) -> None:
        self._view, self.follow = None, True
        self._changed(immediate=True)

    def action_fit(self) -> None:
        self._fit()
        self._view_changed()

    def _follow(self) -> None:
        self.follow = True
        if self._view is not None:
            lo, hi = self._view
            tail = self.fit_range()[1]
            self._view = (tail - (hi - lo), tail)
        self._changed(immediate=True)

    def action_follow(self) -> None:
        self._follow()
        self._view_changed()

    def action_toggle_metric(self, metric: str) -> None:
        self.hidden_metrics = self._hidden ^ {metric}
        self._view_changed()

    def action_cycle_smoothing(self) -> None:
        modes = SMOOTHING_MODES
        i = modes.index(self._smoothing) if self._smoothing in modes else 0
        self.smoothing = modes[(i + 1) % len(modes)]
        self._view_changed()

    def action_toggle_log(self) -> None:
        self.log_y = not self._log_y
        self._view_changed()

    def action_toggle_x(self) -> None:
        self.x_mode = "time" if self._x_mode == "step" else "step"
        self._view_changed()

    def action_clear(self) -> None:
        """Start a fresh view at the newest point; press again to bring back the history."""
        if self._clear_floor is None:
            filled = [s for s in self._series.values() if len(s)]
            if not filled:
                return
            steps = [s.x_step[-1] for s in filled]
            times = [s.x_time[-1] - _time_origin(s, self.series) for s in filled]
            self._clear_floor = {"step": float(max(steps)), "time": float(max(times))}
            self.notify("Chart cleared — press c again to show the whole history.", timeout=3)
        else:
            self._clear_floor = None
        self._fit()
        self._view_changed()

    @property
    def cleared_at(self) -> float | None:
        """The x (current axis units) from which the chart shows data after c, else None."""
        return None if self._clear_floor is None else self._clear_floor[self.x_mode]

    def action_save(self) -> None:
        try:
            job = self._prepare_save(self.save_dir)
        except OSError as exc:
            self.notify(f"Could not save the chart: {exc}", severity="error")
            return
        self._write_save(job)

    @work(thread=True, exclusive=True, group="chart-save")
    def _write_save(self, job: "_SaveJob") -> None:
        try:
            svg, csv_path = job.write()
        except OSError as exc:
            message = f"Could not save the chart: {exc}"
            self.app.call_from_thread(self.notify, message, severity="error")
            return
        self.app.call_from_thread(self.notify, saved_note(svg, csv_path), title="Chart saved")
        self.post_message(self.Saved(self, svg, csv_path))

    # -- saving ------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
        """Write the chart as SVG and the visible series' raw rows in view as CSV (blocking).

        Returns (svg_path, csv_path). `directory` defaults to `save_dir`, then the cwd.
        """
        return self._prepare_save(directory if directory is not None else self.save_dir).write()

    def _prepare_save(self, directory: str | os.PathLike[str] | None) -> "_SaveJob":
        folder = Path(directory) if directory is not None else Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        width, height = self.size if self.size.width >= 20 and self.size.height >= 8 else (120, 35)
        frame = self._make_frame(width, height)
        title = self._title or "slavik-tui chart"
        svg = frame_svg(frame, title)
        lo, hi = frame.x_range
        columns: list[tuple[Series, np.ndarray, np.ndarray, np.ndarray, float]] = []
        for s in self._series.values():
            if s.metric in self._hidden or not len(s):
                continue
            x, off = self._x_values(s)
            i0 = int(np.searchsorted(x, lo + off, side="left"))
            i1 = int(np.searchsorted(x, hi + off, side="right"))
            t0 = _time_origin(s, self.series)
            rows = (s.x_step[i0:i1].copy(), s.x_time[i0:i1].copy(), s.y[i0:i1].copy())
            columns.append((s, *rows, t0))
        stem = f"{_slug(title)}-{datetime.now():%Y%m%d-%H%M%S}"
        n = 1
        while (folder / f"{stem}.svg").exists() or (folder / f"{stem}.csv").exists():
            n += 1
            stem = f"{_slug(title)}-{datetime.now():%Y%m%d-%H%M%S}-{n}"
        return _SaveJob(folder / f"{stem}.svg", folder / f"{stem}.csv", svg, columns)

    # -- painting ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        # PlotextPlot.on_mount (theme registration) runs too: Textual calls both.
        self.set_interval(self.REFRESH_INTERVAL, self._tick)

    def _changed(self, immediate: bool = False) -> None:
        """Something visible changed: repaint now (key press) or on the next tick (data)."""
        self._version += 1
        self._dirty = True
        if immediate and time.monotonic() - self._last_refresh > self.KEY_REFRESH_GAP:
            self._request_repaint()

    def _tick(self) -> None:
        if self._dirty:
            self._request_repaint()

    def _request_repaint(self) -> None:
        self._dirty = False
        self._last_refresh = time.monotonic()
        if self.is_mounted:
            self.refresh()

    def _no_color(self) -> bool:
        if self._no_color_override is not None:
            return self._no_color_override
        if "NO_COLOR" in os.environ:
            return True
        try:
            return bool(self.app.no_color)
        except Exception:  # noqa: BLE001 - not in an app (benchmarks, save without mounting)
            return False

    def _theme_name(self) -> str:
        """What `render_frame` gets: the app's Textual theme ('auto', the default), or the
        plotext theme this plot's `theme` names."""
        if self.theme != "auto":
            return self.theme
        try:
            return self.app.theme
        except Exception:  # noqa: BLE001 - not in an app
            return DEFAULT_THEME

    def status_text(self) -> str:
        """Mode line shown right of the legend."""
        parts = [f"EMA {self.smoothing:g}" if self.smoothing else "raw"]
        if self.log_y:
            parts.append("log y")
        parts.append("x: step" if self.x_mode == "step" else "x: time")
        if self._clear_floor is not None:
            floor = self._clear_floor[self.x_mode]
            parts.append(f"from {floor:g}" if self.x_mode == "step" else f"from {floor:.0f}s")
        parts.append("● live" if self.follow else "‖ paused")
        return " · ".join(parts)

    def _make_frame(self, width: int, height: int) -> Frame:
        frame = render_frame(
            self.series,
            width=width,
            height=height,
            x_range=self.x_range,
            x_mode=self.x_mode,
            hidden_metrics=self.hidden_metrics,
            smoothing=self.smoothing,
            log_y=self.log_y,
            title=self._title,
            status=self.status_text(),
            theme=self._theme_name(),
            no_color=self._no_color(),
            ncols_hint=self._ncols_hint,
        )
        self._ncols_hint = frame.plot_x[1] - frame.plot_x[0]
        return frame

    def _current_frame(self) -> Frame | None:
        """The frame for the current state and size, built only when something changed."""
        width, height = self.size
        if width < 20 or height < 6:
            return None
        key = (width, height, self._version, self._theme_name(), self._no_color())
        if key != self._cache_key or self._frame is None:
            frame = self._make_frame(width, height)
            self._frame, self._cache_key = frame, key
            self.drawn_series = frame.drawn
            self.last_frame_ms = frame.elapsed_ms
            self.render_count += 1
            self._dirty = False
        return self._frame

    def render_line(self, y: int) -> Strip:
        """Line API: paint straight from the frame's styled runs.

        Handing Textual a rich Text instead costs more than making the frame (~25 ms to turn
        thousands of coloured spans into strips at 120×35).
        """
        frame = self._current_frame()
        if frame is None:
            text = "chart: too small" if y == 0 else ""
            return Strip([Segment(text, Style(dim=True))]).adjust_cell_length(self.size.width)
        strips = frame.strips
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, Style())

    def render(self) -> Text:
        """The chart as rich Text (for anything asking for a renderable; painting uses lines)."""
        frame = self._current_frame()
        return frame.text if frame is not None else Text("chart: too small", style="dim")

    # -- mouse -------------------------------------------------------------------------------

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        x = self.column_to_x(event.get_content_offset_capture(self).x)
        self.zoom_at(x, self.WHEEL_ZOOM)
        self._view_changed()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        x = self.column_to_x(event.get_content_offset_capture(self).x)
        self.zoom_at(x, 1 / self.WHEEL_ZOOM)
        self._view_changed()

    def legend_entry_at(self, x: int, y: int) -> str | None:
        """Key of the series whose legend entry covers content cell (x, y)."""
        if self._frame is None:
            return None
        for row, x0, x1, key in self._frame.legend_hits:
            if row == y and x0 <= x < x1:
                return key
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        key = self.legend_entry_at(offset.x, offset.y)
        if key is not None:
            self.action_toggle_metric(self._series[key].metric)
            return
        lo, hi = self.x_range
        x0, x1 = self._frame.plot_x if self._frame is not None else (0, max(self.size.width, 1))
        self._drag = (offset.x, (lo, hi), (hi - lo) / max(x1 - x0, 1))
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None or event.button != 1:
            return
        event.stop()
        start_x, (lo, hi), per_cell = self._drag
        dx = event.get_content_offset_capture(self).x - start_x
        f_lo, f_hi = self.fit_range()
        if dx and hi - lo < f_hi - f_lo:  # 'fit all' has nothing to pan to
            self.set_view(lo - dx * per_cell, hi - dx * per_cell)
            self._view_changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag is not None:
            self._drag = None
            self.release_mouse()
            event.stop()


def _num(v: float) -> str:
    """CSV number: integers without '.0', everything else in full precision."""
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


@dataclass
class _SaveJob:
    """What ctrl+s writes, snapshotted on the UI thread so a worker thread can write it."""

    svg_path: Path
    csv_path: Path
    svg: str
    columns: list[tuple[Series, np.ndarray, np.ndarray, np.ndarray, float]]

    def write(self) -> tuple[Path, Path]:
        atomic_write_text(self.svg_path, self.svg)
        with replacing(self.csv_path, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["series", "label", "metric", "step", "time", "elapsed_s", "value"])
            for s, steps, times, values, t0 in self.columns:
                for step, t, v in zip(steps.tolist(), times.tolist(), values.tolist()):
                    numbers = (_num(step), _num(t), _num(t - t0), _num(v))
                    out.writerow([s.key, s.label, s.metric, *numbers])
        return self.svg_path, self.csv_path
