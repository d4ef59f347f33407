"""One picture of the chart: `render_frame` turns series and a view into a `Frame` of styled runs.

How a frame is made, and why:

* Every visible series is sliced to the visible x-range and reduced to the min/max of its
  polyline in each sub-cell column (`reduce.reduce_columns`), EMA-smoothed first when asked
  (cached per series and weight, extended on append).
* plotext draws only the frame: axes, ticks, labels, title (`axes.draw_axes`). The [min, max]
  spans are rasterised with numpy into braille glyphs (`raster.rasterize`, 2×4 dots per cell)
  and written into plotext's character matrix: a noisy curve shows as the band it really is,
  spikes included, at a fixed cost per cell.
* Smoothing (`smooth.Smoothing`, W&B's kinds) draws the raw line faint under the smoothed one:
  the raw min/max per column is the band where many points share a cell.
* `robust_y` scales each y axis to the 1st–99th percentile of what is in view (outliers are
  clipped to the edge); a series with `from_zero` keeps 0 on its axis; `hold` draws a
  staircase.
* The legend (`legend.legend`) is the first row(s), with the last values and the status;
  with a `cursor`, the readout (`readout.readout_rows`) replaces the title row (or comes under
  the legend) and a dim vertical line marks the cursor's column.
* The result is lines of (text, style) runs: the widget paints them as Textual strips (handing
  Textual a rich Text with thousands of coloured spans would cost more than the frame itself),
  `svg.frame_svg` writes them as an SVG.

A whole frame of 3 × 1e6 points at 120×35 takes ~7–12 ms on 2 shared cores (target 25 ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
from rich.text import Span, Text

from slavik_tui.charts.axes import Canvas, Ticks, YAxis, draw_axes
from slavik_tui.charts.legend import Hit, Run, legend
from slavik_tui.charts.markers import kind_indices, marker_for
from slavik_tui.charts.raster import MARKER_RES, rasterize
from slavik_tui.charts.readout import format_value, last_value, readout_rows
from slavik_tui.charts.reduce import reduce_columns, slice_range
from slavik_tui.charts.series import X_MODES, Series, XMode, axis_values
from slavik_tui.charts.smooth import Smoothing
from slavik_tui.charts.theme import DEFAULT_THEME, RGB, blend, plotext_theme, theme_colors
from slavik_tui.charts.ticks import axis_range, linear_ticks, log_ticks, step_ticks, time_ticks

__all__ = ["X_MODES", "XMode", "Frame", "render_frame"]
X_LABELS = {"step": "step", "rel": "steps since start", "time": "time"}
ROBUST_PERCENTILES = (1.0, 99.0)
"""What `robust_y` scales a y axis to: these percentiles of the values in view."""
FAINT = 0.35
"""How much of its colour the raw line under a smoothed one keeps (the rest: the canvas)."""

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
    cursor_col: int | None = None
    """Content column of the cursor's line (None: no cursor, or outside the view)."""
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
    smoothing: float | Smoothing = 0.0,
    log_y: bool = False,
    robust_y: bool = False,
    cursor: float | None = None,
    title: str = "",
    status: str = "",
    theme: str = DEFAULT_THEME,
    no_color: bool = False,
    ncols_hint: int | None = None,
) -> Frame:
    """Render the chart into `width` × `height` cells (legend rows included).

    `series` in legend order; `x_range` in x-axis units (steps, steps since each run's start,
    or seconds since it); `smoothing` a `Smoothing` (a float: the twema amount); `cursor` an
    x in axis units (None: no cursor); `theme` a Textual theme name (or a plotext one, see
    `theme.plotext_theme`): the widget passes its app's theme, so a frame made without an app
    looks the same. `ncols_hint`: the data columns of the last frame (saves a second
    reduction). Pure function of its arguments apart from the series' smoothing caches.
    """
    started = time.perf_counter()
    hidden = set(hidden_metrics)
    smooth = smoothing if isinstance(smoothing, Smoothing) else Smoothing("twema", smoothing)
    width, height = max(int(width), 1), max(int(height), 1)
    values = {s.key: format_value(v) for s in series if (v := last_value(s)) is not None}
    legend_rows, hits = legend(series, hidden, width, max(1, height // 5), no_color, status,
                               values)
    visible = [s for s in series if s.metric not in hidden and len(s)]
    header = list(legend_rows)
    if cursor is not None:
        header += readout_rows(series, visible, cursor, x_mode=x_mode, smoothing=smooth,
                               width=width, max_rows=max(1, height // 5), no_color=no_color)
        title = ""  # the readout takes the title's row
    plot_h = max(height - len(header), 1)

    def reduce(ncols: int) -> tuple[Spans, Spans]:
        nsub = ncols * SUB_X
        spans = reduce_series(visible, series, x_range, x_mode, nsub, smooth, log_y)
        raw = {}
        if smooth.on:  # the raw lines, drawn faint under the smoothed ones
            lines = [s for s in visible if s.style != "points"]
            raw = reduce_series(lines, series, x_range, x_mode, nsub, 0.0, log_y)
        return spans, raw

    label_guess = 14 if any(s.yside == "right" for s in visible) else 8
    ncols = ncols_hint if ncols_hint else max(width - 2 - label_guess, 1)
    spans, raw = reduce(ncols)
    reduce_ms = (time.perf_counter() - started) * 1000

    canvas_h = max(plot_h - 5 if title else plot_h - 4, 1)  # 2 axes, x tick row, label row, title
    max_ticks = max(2, min(8, canvas_h // 3 + 1))
    robust = robust_values(visible, series, x_range, x_mode, log_y) if robust_y else None
    y_axes = y_axes_for(visible, {**spans, **{f"raw:{k}": v for k, v in raw.items()}}, log_y,
                        max_ticks, robust)
    # The canvas width plotext will use: total − 2 axis lines − widest tick label on each side.
    exact = max(width - 2 - sum(max(map(len, a.ticks[1])) for a in y_axes.values()), 1)
    if exact != ncols:
        spans, raw = reduce(exact)
        reduce_ms = (time.perf_counter() - started) * 1000

    theme_name = plotext_theme(theme)
    canvas = draw_axes(
        width,
        plot_h,
        theme=theme_name,
        title=title,
        x_label=X_LABELS.get(x_mode, x_mode),
        x_range=x_range,
        x_ticks=x_ticks(x_range, x_mode, max(2, min(10, exact // 12))),
        y_axes=y_axes,
    )
    if canvas.width != exact and canvas.width > 0:  # plotext laid out differently than predicted
        spans, raw = reduce(canvas.width)
    background, foreground = theme_colors(theme_name)
    if raw and not no_color:
        draw_series(canvas, series, [s for s in visible if s.key in raw], raw, y_axes, no_color,
                    faint=background)
    drawn = draw_series(canvas, series, visible, spans, y_axes, no_color)
    cursor_col = None
    if cursor is not None:
        cursor_col = draw_cursor(canvas, x_range, cursor, foreground, background, no_color)

    top = len(header)
    (c0, c1), (r0, r1) = canvas.cols, canvas.rows
    return Frame(
        lines=header + canvas.runs(),
        width=width,
        drawn=drawn,
        x_range=(x_range[0], x_range[1]),
        plot_x=(c0, c1),
        plot_y=(top + plot_h - r1, top + plot_h - r0),
        legend_hits=hits,
        cursor_col=None if cursor_col is None else c0 + cursor_col,
        reduce_ms=reduce_ms,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        background=background,
        foreground=foreground,
    )


def draw_cursor(canvas: Canvas, x_range: tuple[float, float], x: float, foreground: RGB | None,
                background: RGB | None, no_color: bool) -> int | None:
    """A dim vertical line in the empty cells of the cursor's column; returns the column."""
    lo, hi = x_range
    if not hi > lo or not lo <= x <= hi or canvas.width <= 0:
        return None
    col = min(int((x - lo) / (hi - lo) * canvas.width), canvas.width - 1)
    color: object = "default"
    if not no_color and foreground is not None and background is not None:
        color = blend(foreground, background, 0.5)
    free = [r for r in range(canvas.height) if canvas.char_at(r, col) == " "]
    if free:
        canvas.put(np.array(free), np.full(len(free), col), ["│"] * len(free), color)
    return col


def reduce_series(
    visible: Sequence[Series],
    every: Sequence[Series],
    x_range: tuple[float, float],
    x_mode: XMode,
    nsub: int,
    smoothing: float | Smoothing,
    log_y: bool,
) -> Spans:
    """Each visible series reduced to `nsub` sub-columns of `x_range`: lines smoothed and
    connected, points as they are; on a log axis, log10 of the spans. `every`: all series of
    the chart (time origins are per run)."""
    lo, hi = x_range
    spans: Spans = {}
    for s in visible:
        line = s.style != "points"
        weight = smoothing if line and not s.hold else 0.0  # a staircase is not smoothed
        x, offset = axis_values(s, x_mode, every)
        s_lo, s_hi = reduce_columns(
            x,
            s.drawable(weight, log_y),  # NaN where a value can't be drawn (inf, <= 0 on log)
            lo,
            hi,
            nsub,
            connect=line,
            hold=s.hold,
            x_offset=offset,
            blocks=s.block_minmax(weight, log_y),
        )
        if log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                s_lo = np.where(s_lo > 0, np.log10(s_lo), np.nan)
                s_hi = np.where(s_hi > 0, np.log10(s_hi), np.nan)
        spans[s.key] = (s_lo, s_hi)
    return spans


ROBUST_SAMPLE = 200_000
"""At most this many values in view (evenly strided) go into the percentiles."""


def robust_values(visible: Sequence[Series], every: Sequence[Series],
                  x_range: tuple[float, float], x_mode: XMode,
                  log_y: bool) -> dict[str, tuple[float, float]]:
    """Per y side, the `ROBUST_PERCENTILES` of the raw values in view (log10 on a log axis)."""
    out: dict[str, tuple[float, float]] = {}
    for side in ("left", "right"):
        chunks = []
        for s in visible:
            if s.yside != side:
                continue
            x, off = axis_values(s, x_mode, every)
            i0, i1 = slice_range(x, x_range[0] + off, x_range[1] + off)
            y = s.drawable(0.0, log_y)[i0:i1]
            chunks.append(y[:: max(1, y.size // ROBUST_SAMPLE)])
        values = np.concatenate(chunks) if chunks else np.empty(0)
        values = values[np.isfinite(values)]
        if log_y:
            values = np.log10(values[values > 0])
        if values.size:
            lo, hi = np.percentile(values, ROBUST_PERCENTILES)
            out[side] = (float(lo), float(hi))
    return out


def y_axes_for(
    visible: Sequence[Series], spans: Spans, log_y: bool, max_ticks: int,
    robust: dict[str, tuple[float, float]] | None = None,
) -> dict[str, YAxis]:
    """The y axis of each side that has visible series: range around their spans (and the
    raw spans under smoothed lines, keyed "raw:<key>"), ticks, label; with `robust` (from
    `robust_values`) the percentiles of the values in view instead; 0 included where a series
    is `from_zero` (linear axes). With nothing visible, an empty left axis (0 to 1)."""
    axes: dict[str, YAxis] = {}
    for side in ("left", "right"):
        on_side = [s for s in visible if s.yside == side]
        if not on_side:
            continue
        keys = [k for s in on_side for k in (s.key, f"raw:{s.key}") if k in spans]
        lows = [spans[k][0][np.isfinite(spans[k][0])] for k in keys]
        highs = [spans[k][1][np.isfinite(spans[k][1])] for k in keys]
        low = np.concatenate(lows) if lows else np.empty(0)
        high = np.concatenate(highs) if highs else np.empty(0)
        if low.size and high.size:
            if robust and side in robust:
                lo_v, hi_v = robust[side]
            else:
                lo_v, hi_v = float(low.min()), float(high.max())
            if not log_y and any(s.from_zero for s in on_side):
                lo_v, hi_v = min(lo_v, 0.0), max(hi_v, 0.0)
            y0, y1 = axis_range(lo_v, hi_v, log_y)
            if not log_y and any(s.from_zero for s in on_side) and lo_v >= 0:
                y0 = 0.0  # no padding below 0: the axis starts at it
        else:
            y0, y1 = 0.0, 1.0
        ticks = (log_ticks if log_y else linear_ticks)(y0, y1, max_ticks)
        units = list(dict.fromkeys(s.unit or RIGHT_LABEL for s in on_side))
        axes[side] = YAxis((y0, y1), ticks, LEFT_LABEL if side == "left" else " / ".join(units))
    if not axes:  # nothing to draw: still show an empty frame with a left axis
        axes["left"] = YAxis((0.0, 1.0), linear_ticks(0.0, 1.0, 3))
    return axes


def x_ticks(x_range: tuple[float, float], x_mode: XMode, max_ticks: int) -> Ticks:
    """Ticks of the x axis: whole steps, or round durations on the time axis."""
    return (time_ticks if x_mode == "time" else step_ticks)(*x_range, max_ticks)


def draw_series(
    canvas: Canvas,
    series: Sequence[Series],
    visible: Sequence[Series],
    spans: Spans,
    y_axes: dict[str, YAxis],
    no_color: bool,
    faint: RGB | None = None,
) -> list[str]:
    """Rasterise the visible series into the canvas; returns the keys of those that drew a
    glyph, in legend order. Lines go first, points over them; within each, the first series
    in the legend ends on top. `faint`: the canvas colour, to draw in the series' colours
    mixed `FAINT` into it (the raw lines under smoothed ones)."""
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
            dash={"dashed": 4, "dotted": 1}.get(s.style, 0),
        )
        if chars:
            drawn.add(s.key)
            color = "default" if no_color or s.color is None else s.color
            if faint is not None:
                color = blend(color, faint, FAINT)
            canvas.put(rr, cc, chars, color)
    return [s.key for s in series if s.key in drawn]
