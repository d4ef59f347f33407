"""One picture of the chart: `render_frame` turns series and a view into a `Frame` of styled runs.

How a frame is made, and why:

* Every visible series is sliced to the visible x-range and reduced to the min/max of its
  polyline in each sub-cell column (`reduce.reduce_columns`), EMA-smoothed first when asked
  (cached per series and weight, extended on append).
* plotext draws only the frame: axes, ticks, labels, title (`axes.draw_axes`). The [min, max]
  spans are rasterised with numpy into braille glyphs (`raster.rasterize`, 2×4 dots per cell)
  and written into plotext's character matrix: a noisy curve shows as the band it really is,
  spikes included, at a fixed cost per cell.
* The legend (`legend.legend`) is the first row(s) and carries the status.
* The result is lines of (text, style) runs: the widget paints them as Textual strips (handing
  Textual a rich Text with thousands of coloured spans would cost more than the frame itself),
  `svg.frame_svg` writes them as an SVG.

A whole frame of 3 × 1e6 points at 120×35 takes ~7–12 ms on 2 shared cores (target 25 ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Literal, Sequence

import numpy as np
from rich.text import Span, Text

from slavik_tui.charts.axes import Canvas, Ticks, YAxis, draw_axes
from slavik_tui.charts.legend import Hit, Run, legend
from slavik_tui.charts.markers import kind_indices, marker_for
from slavik_tui.charts.raster import MARKER_RES, rasterize
from slavik_tui.charts.reduce import reduce_columns
from slavik_tui.charts.series import Series, time_origin
from slavik_tui.charts.theme import DEFAULT_THEME, RGB, plotext_theme, theme_colors
from slavik_tui.charts.ticks import axis_range, linear_ticks, log_ticks, step_ticks, time_ticks

XMode = Literal["step", "time"]
X_MODES: tuple[str, ...] = ("step", "time")

LEFT_LABEL = "loss / reward"
RIGHT_LABEL = "MB"
SUB_X = 2
"""Sub-columns per cell: braille and quadrant markers both have two."""

Spans = dict[str, tuple[np.ndarray, np.ndarray]]
"""Per series key: the (min, max) of each sub-column (NaN where it has nothing)."""


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
    legend_hits: list[Hit] = field(default_factory=list)
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

    def legend_entry_at(self, x: int, y: int) -> str | None:
        """Key of the series whose legend entry covers cell (x, y)."""
        for row, x0, x1, key in self.legend_hits:
            if row == y and x0 <= x < x1:
                return key
        return None

    def column_to_x(self, column: int) -> float:
        """Data x under column `column` (clamped to the data canvas)."""
        lo, hi = self.x_range
        x0, x1 = self.plot_x
        col = min(max(column, x0), x1 - 1)
        return lo + (col - x0 + 0.5) / max(x1 - x0, 1) * (hi - lo)


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
    start); `theme` a Textual theme name (or a plotext one, see `theme.plotext_theme`): the
    widget passes its app's theme, so a frame made without an app looks the same.
    `ncols_hint`: the data columns of the last frame (saves a second reduction). Pure function
    of its arguments apart from the series' smoothing caches.
    """
    started = time.perf_counter()
    hidden = set(hidden_metrics)
    width, height = max(int(width), 1), max(int(height), 1)
    legend_rows, hits = legend(series, hidden, width, max(1, height // 5), no_color, status)
    plot_h = max(height - len(legend_rows), 1)
    visible = [s for s in series if s.metric not in hidden and len(s)]

    def reduce(ncols: int) -> Spans:
        return reduce_series(visible, series, x_range, x_mode, ncols * SUB_X, smoothing, log_y)

    label_guess = 14 if any(s.yside == "right" for s in visible) else 8
    ncols = ncols_hint if ncols_hint else max(width - 2 - label_guess, 1)
    spans = reduce(ncols)
    reduce_ms = (time.perf_counter() - started) * 1000

    canvas_h = max(plot_h - 5 if title else plot_h - 4, 1)  # 2 axes, x tick row, label row, title
    y_axes = y_axes_for(visible, spans, log_y, max_ticks=max(2, min(8, canvas_h // 3 + 1)))
    # The canvas width plotext will use: total − 2 axis lines − widest tick label on each side.
    exact = max(width - 2 - sum(max(map(len, a.ticks[1])) for a in y_axes.values()), 1)
    if exact != ncols:
        spans = reduce(exact)
        reduce_ms = (time.perf_counter() - started) * 1000

    theme_name = plotext_theme(theme)
    canvas = draw_axes(
        width,
        plot_h,
        theme=theme_name,
        title=title,
        x_label="step" if x_mode == "step" else "time",
        x_range=x_range,
        x_ticks=x_ticks(x_range, x_mode, max(2, min(10, exact // 12))),
        y_axes=y_axes,
    )
    if canvas.width != exact and canvas.width > 0:  # plotext laid out differently than predicted
        spans = reduce(canvas.width)
    drawn = draw_series(canvas, series, visible, spans, y_axes, no_color)

    top = len(legend_rows)
    (c0, c1), (r0, r1) = canvas.cols, canvas.rows
    background, foreground = theme_colors(theme_name)
    return Frame(
        lines=legend_rows + canvas.runs(),
        width=width,
        drawn=drawn,
        x_range=(x_range[0], x_range[1]),
        plot_x=(c0, c1),
        plot_y=(top + plot_h - r1, top + plot_h - r0),
        legend_hits=hits,
        reduce_ms=reduce_ms,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        background=background,
        foreground=foreground,
    )


def reduce_series(
    visible: Sequence[Series],
    every: Sequence[Series],
    x_range: tuple[float, float],
    x_mode: XMode,
    nsub: int,
    smoothing: float,
    log_y: bool,
) -> Spans:
    """Each visible series reduced to `nsub` sub-columns of `x_range`: lines smoothed and
    connected, points as they are; on a log axis, log10 of the spans. `every`: all series of
    the chart (time origins are per run)."""
    lo, hi = x_range
    spans: Spans = {}
    for s in visible:
        line = s.style != "points"
        weight = smoothing if line else 0.0
        s_lo, s_hi = reduce_columns(
            s.x_step if x_mode == "step" else s.x_time,
            s.drawable(weight, log_y),  # NaN where a value can't be drawn (inf, <= 0 on log)
            lo,
            hi,
            nsub,
            connect=line,
            x_offset=0.0 if x_mode == "step" else time_origin(s, every),
            blocks=s.block_minmax(weight, log_y),
        )
        if log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                s_lo = np.where(s_lo > 0, np.log10(s_lo), np.nan)
                s_hi = np.where(s_hi > 0, np.log10(s_hi), np.nan)
        spans[s.key] = (s_lo, s_hi)
    return spans


def y_axes_for(
    visible: Sequence[Series], spans: Spans, log_y: bool, max_ticks: int
) -> dict[str, YAxis]:
    """The y axis of each side that has visible series: range around their spans, ticks,
    label. With nothing visible, an empty left axis (0 to 1)."""
    axes: dict[str, YAxis] = {}
    for side in ("left", "right"):
        keys = [s.key for s in visible if s.yside == side]
        if not keys:
            continue
        mins = [np.nanmin(spans[k][0]) for k in keys if np.isfinite(spans[k][0]).any()]
        maxs = [np.nanmax(spans[k][1]) for k in keys if np.isfinite(spans[k][1]).any()]
        y0, y1 = axis_range(float(min(mins)), float(max(maxs)), log_y) if mins else (0.0, 1.0)
        ticks = (log_ticks if log_y else linear_ticks)(y0, y1, max_ticks)
        axes[side] = YAxis((y0, y1), ticks, LEFT_LABEL if side == "left" else RIGHT_LABEL)
    if not axes:  # nothing to draw: still show an empty frame with a left axis
        axes["left"] = YAxis((0.0, 1.0), linear_ticks(0.0, 1.0, 3))
    return axes


def x_ticks(x_range: tuple[float, float], x_mode: XMode, max_ticks: int) -> Ticks:
    """Ticks of the x axis: whole steps, or round durations on the time axis."""
    return (step_ticks if x_mode == "step" else time_ticks)(*x_range, max_ticks)


def draw_series(
    canvas: Canvas,
    series: Sequence[Series],
    visible: Sequence[Series],
    spans: Spans,
    y_axes: dict[str, YAxis],
    no_color: bool,
) -> list[str]:
    """Rasterise the visible series into the canvas; returns the keys of those that drew a
    glyph, in legend order. Lines go first, points over them; within each, the first series
    in the legend ends on top."""
    if canvas.width <= 0 or canvas.height <= 0:
        return []
    indices = kind_indices(series)
    lines = [s for s in reversed(visible) if s.style != "points"]
    points = [s for s in reversed(visible) if s.style == "points"]
    drawn: set[str] = set()
    for s in lines + points:
        kind, char = marker_for(s, indices[s.key], no_color)
        s_lo, s_hi = spans[s.key]
        if kind == "char":  # one glyph per cell: take the span of each cell's sub-columns
            s_lo = np.fmin(s_lo[0::2], s_lo[1::2])
            s_hi = np.fmax(s_hi[0::2], s_hi[1::2])
        n = canvas.width * MARKER_RES[kind][0]
        rr, cc, chars = rasterize(
            s_lo[:n],
            s_hi[:n],
            *y_axes[s.yside].range,
            canvas.height,
            kind=kind,
            char=char,
            points=s.style == "points",
            dash=4 if s.style == "dashed" else 0,
        )
        if chars:
            drawn.add(s.key)
            canvas.put(rr, cc, chars, "default" if no_color or s.color is None else s.color)
    return [s.key for s in series if s.key in drawn]
