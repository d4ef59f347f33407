"""Charts as SVG documents.

`chart_svg` is the saved chart (ctrl+s, the run report): a vector chart made from the data, not
from the terminal picture — one polyline per series in the series' own colour (the size line
as steps), loss and reward on the left axis, MB on the right from 0, round ticks with their
units, a grid, a legend with each series' last value in view, the title once, and under it the
x-range and smoothing the view had. Hidden metrics are left out. Lines are drawn through real
data points: where a view holds more points than the plot has pixels, each pixel column keeps
its first, lowest, highest and last point (the picture is the same, the file stays small).

`frame_svg` is the terminal picture of a frame (rich's export): what the screen looked like.

Text is escaped (a run called `<&>` stays text), and characters XML cannot hold are dropped.
Standard library string building plus numpy; `frame_svg` alone imports rich.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from slavik_tui.charts.series import Series, axis_values
from slavik_tui.charts.smooth import Smoothing
from slavik_tui.charts.svg_parts import (
    INK, css_color, decimate, points_attr, segments, xml_attr, xml_text,
)
from slavik_tui.charts.ticks import (
    axis_range, format_duration, format_number, linear_ticks, log_ticks, step_ticks,
    time_ticks,
)

if TYPE_CHECKING:
    from slavik_tui.charts.frame import Frame

SIZE = (960, 540)
"""Default (width, height) of a saved chart in SVG user units (pixels)."""
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
MUTED, GRID, PAPER = "#666666", "#e3e3e3", "#ffffff"
UNITS = {"loss": "loss (nats/token)", "reward": "reward", "extra": "rewards"}
"""Axis words of the left axis' metrics (the right axis names its series' units: MB, %, W)."""
X_WORDS = {"step": ("step", "steps"), "rel": ("steps since the run's start", "steps +"),
           "time": ("time since the run's start", "time")}
"""Per x axis: its label, and the word before the x-range in the subtitle."""
RAW_OPACITY = 0.25
"""The raw line under a smoothed one (as W&B draws it)."""

class _Layout:
    """Where the plot sits in the picture, and how data map onto it."""

    def __init__(self, width: int, height: int, right: bool, legend_rows: int) -> None:
        self.width, self.height = width, height
        self.x0, self.x1 = 78.0, width - (78.0 if right else 28.0)
        self.y0 = 66.0  # top of the plot (title and subtitle above)
        self.y1 = height - 58.0 - 20.0 * legend_rows  # x ticks, x label, the legend below

    def px(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return self.x0 + (x - lo) / ((hi - lo) or 1.0) * (self.x1 - self.x0)

    def py(self, y: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return self.y1 - (y - lo) / ((hi - lo) or 1.0) * (self.y1 - self.y0)


def _legend_rows(entries: Sequence[str], width: int) -> list[list[int]]:
    """Entries (by index) on each legend row: 7 px per character plus the swatch."""
    rows: list[list[int]] = []
    used = math.inf
    for i, text in enumerate(entries):
        need = 34 + 7.0 * len(text)
        if used + need > width - 56:
            rows, used = [*rows, []], 0.0
        rows[-1].append(i)
        used += need
    return rows


def chart_svg(
    series: Sequence[Series],
    *,
    x_range: tuple[float, float],
    x_mode: str = "step",
    hidden: Iterable[str] = (),
    smoothing: float | Smoothing = 0.0,
    smoothing_label: str = "",
    log_y: bool = False,
    robust_y: bool = False,
    title: str = "",
    size: tuple[int, int] = SIZE,
) -> str:
    """The chart of `series` (legend order) over `x_range` in `x_mode`'s units (steps, steps
    since each run's start "rel", seconds since it "time") as an SVG document.

    `smoothing` (a `Smoothing`; a number is the twema amount, as `render_frame` takes it)
    smooths loss and reward lines (points and staircases are drawn as they are), the raw line
    faint beneath; `smoothing_label` says it in the subtitle (default: its `label`).
    Series of a `hidden` metric, and empty ones, are left out. A y axis spans what is in view
    (the 1st–99th percentile with `robust_y`), from 0 where a series is `from_zero`.
    """
    width, height = int(size[0]), int(size[1])
    hidden = set(hidden)
    lo, hi = float(x_range[0]), float(x_range[1])
    if not hi > lo:
        hi = lo + 1.0
    every = list(series)
    spec = smoothing if isinstance(smoothing, Smoothing) else Smoothing("twema", smoothing)
    smoothing_label = smoothing_label or spec.label
    shown = [s for s in every if s.metric not in hidden and len(s)]

    # -- the data in view, per series: x, y (smoothed), raw y (when smoothed) ------------------
    views: list[tuple[Series, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for s in shown:
        stored, offset = axis_values(s, x_mode, every)
        x = stored - offset
        i0 = max(int(np.searchsorted(x, lo, side="left")) - 1, 0)  # one point beyond each
        i1 = min(int(np.searchsorted(x, hi, side="right")) + 1, x.size)  # edge: lines reach it
        if i0 >= i1:
            continue
        line = s.style != "points" and not _holds(s)  # a staircase is drawn as it was
        smooth = spec if line and spec.on else 0.0
        y = np.asarray(s.drawable(smooth, log_y)[i0:i1], dtype=np.float64)
        raw = np.asarray(s.drawable(0.0, log_y)[i0:i1], dtype=np.float64) if smooth else None
        views.append((s, np.asarray(x[i0:i1], dtype=np.float64), y, raw))

    robust = None
    if robust_y:
        from slavik_tui.charts.frame import robust_values  # the chart's own percentiles

        robust = robust_values([s for s, *_ in views], every, (lo, hi), x_mode, log_y)
    (y_lo, y_hi), (r_lo, r_hi) = (_y_range(side, views, (lo, hi), log_y and side == "left",
                                           robust) for side in ("left", "right"))
    has_right = any(s.yside == "right" for s, *_ in views)

    entries = [f"{s.label}  {_last_in_view(x, y, raw, lo, hi)}" for s, x, y, raw in views]
    rows = _legend_rows(entries, width)
    box = _Layout(width, height, has_right, max(len(rows), 1))
    max_y_ticks = max(2, min(8, int((box.y1 - box.y0) // 40)))
    left_ticks = (log_ticks if log_y else linear_ticks)(y_lo, y_hi, max_y_ticks)
    right_ticks = linear_ticks(r_lo, r_hi, max_y_ticks)
    x_ticks = (time_ticks if x_mode == "time" else step_ticks)(lo, hi, max(2, min(10, int(
        (box.x1 - box.x0) // 80))))

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT} font-size="12">',
        f"<title>{xml_text(title or 'slavik-tui chart')}</title>",
        f'<rect width="{width}" height="{height}" fill="{PAPER}"/>',
        f'<defs><clipPath id="plot"><rect x="{box.x0:.2f}" y="{box.y0:.2f}" '
        f'width="{box.x1 - box.x0:.2f}" height="{box.y1 - box.y0:.2f}"/></clipPath></defs>',
    ]
    if title:
        out.append(f'<text class="title" x="{width / 2:.1f}" y="24" text-anchor="middle" '
                   f'font-size="16" font-weight="bold" fill="{INK}">{xml_text(title)}</text>')
    out.append(f'<text class="subtitle" x="{width / 2:.1f}" y="44" text-anchor="middle" '
               f'fill="{MUTED}">{xml_text(_subtitle(lo, hi, x_mode, smoothing_label, log_y))}'
               "</text>")
    out += _grid_and_axes(box, x_ticks, left_ticks, right_ticks if has_right else None,
                          (lo, hi), (y_lo, y_hi), (r_lo, r_hi), views, x_mode, log_y)
    out.append('<g clip-path="url(#plot)">')  # the lines, clipped to the plot
    for s, x, y, raw in views:
        out += _series_svg(s, x, y, raw, box, (lo, hi), (r_lo, r_hi) if s.yside == "right"
                           else (y_lo, y_hi), log_y and s.yside == "left")
    out.append("</g>")
    top = box.y1 + 56  # the legend, under the x axis
    for r, row in enumerate(rows):
        xpos = box.x0
        for i in row:
            s, y = views[i][0], top + 20 * r
            color = css_color(s.color)
            swatch = (f'<circle cx="{xpos + 11:.1f}" cy="{y - 4:.1f}" r="3.5" fill="{color}" '
                      f'stroke="{INK}" stroke-width="0.5"/>' if s.style == "points" else
                      f'<line x1="{xpos:.1f}" y1="{y - 4:.1f}" x2="{xpos + 22:.1f}" '
                      f'y2="{y - 4:.1f}" stroke="{color}" stroke-width="2.5"{_dash(s)}/>')
            out.append(f'<g class="legend-entry" data-key={xml_attr(s.key)}>{swatch}'
                       f'<text x="{xpos + 28:.1f}" y="{y:.1f}" fill="{INK}">'
                       f"{xml_text(entries[i])}</text></g>")
            xpos += 34 + 7.0 * len(entries[i])
    if not views:
        out.append(f'<text x="{(box.x0 + box.x1) / 2:.1f}" y="{(box.y0 + box.y1) / 2:.1f}" '
                   f'text-anchor="middle" fill="{MUTED}">no data in view</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _holds(s: Series) -> bool:
    """Drawn as a staircase (each value holds until the next point): sizes."""
    return bool(getattr(s, "hold", False)) or s.metric == "size"


def _y_range(side: str, views, x_range: tuple[float, float], log: bool,
             robust: dict | None) -> tuple[float, float]:
    """A y axis' range: around the values of its series in view (NaN: not drawable; log10 on
    a log axis), or their percentiles in `robust`; from 0 when a series is `from_zero`."""
    lows, highs, zero = [], [], False
    for s, x, y, raw in views:
        if s.yside != side:
            continue
        zero |= bool(getattr(s, "from_zero", False)) or s.metric == "size"
        a, b = np.searchsorted(x, x_range[0], "left"), np.searchsorted(x, x_range[1], "right")
        for v in (y[a:b], raw[a:b] if raw is not None else y[:0]):
            if np.isfinite(v).any():
                lows.append(np.nanmin(v))
                highs.append(np.nanmax(v))
    if not lows:
        return (0.0, 1.0)
    lo, hi = float(min(lows)), float(max(highs))
    lo, hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
    lo, hi = robust[side] if robust and side in robust else (lo, hi)
    if zero and not log and lo >= 0:  # no padding below 0: the axis starts at it
        return 0.0, axis_range(0.0, hi)[1]
    return axis_range(lo, hi, log)


def _dash(s: Series) -> str:
    if s.style in ("dashed", "dotted"):
        return f' stroke-dasharray="{"6 4" if s.style == "dashed" else "1.5 3"}"'
    return ""


def _last_in_view(x: np.ndarray, y: np.ndarray, raw: np.ndarray | None, lo: float,
                  hi: float) -> str:
    """The last finite value in view (of the raw data when smoothed), for the legend."""
    values = raw if raw is not None else y
    ok = (x >= lo) & (x <= hi) & np.isfinite(values)
    return format_number(float(values[ok][-1])) if ok.any() else "–"


def _subtitle(lo: float, hi: float, x_mode: str, smoothing_label: str, log_y: bool) -> str:
    fmt = format_duration if x_mode == "time" else (lambda v: format_number(round(v)))
    span = f"{X_WORDS[x_mode][1]} {fmt(lo)}–{fmt(hi)}".replace("+ ", "+")
    return " · ".join([span, smoothing_label or "raw"] + (["log y"] if log_y else []))


def _grid_and_axes(box: _Layout, x_ticks, left_ticks, right_ticks, x_range, y_range, r_range,
                   views, x_mode: str, log_y: bool) -> list[str]:
    out = ['<g class="grid" stroke="%s" stroke-width="1">' % GRID]
    for t in x_ticks[0]:
        px = float(box.px(np.float64(t), *x_range))
        if box.x0 - 0.5 <= px <= box.x1 + 0.5:
            out.append(f'<line x1="{px:.2f}" y1="{box.y0:.2f}" x2="{px:.2f}" y2="{box.y1:.2f}"/>')
    grid_ticks, grid_range = (left_ticks, y_range) if any(
        s.yside == "left" for s, *_ in views) or right_ticks is None else (right_ticks, r_range)
    for t in grid_ticks[0]:
        py = float(box.py(np.float64(t), *grid_range))
        if box.y0 - 0.5 <= py <= box.y1 + 0.5:
            out.append(f'<line x1="{box.x0:.2f}" y1="{py:.2f}" x2="{box.x1:.2f}" y2="{py:.2f}"/>')
    out.append("</g>")
    out.append(f'<rect x="{box.x0:.2f}" y="{box.y0:.2f}" width="{box.x1 - box.x0:.2f}" '
               f'height="{box.y1 - box.y0:.2f}" fill="none" stroke="{MUTED}"/>')
    out.append(f'<g class="x-axis" fill="{INK}" text-anchor="middle">')
    for t, label in zip(*x_ticks):
        px = float(box.px(np.float64(t), *x_range))
        if box.x0 - 0.5 <= px <= box.x1 + 0.5:
            out.append(f'<text x="{px:.2f}" y="{box.y1 + 16:.2f}">{xml_text(label)}</text>')
    x_label = X_WORDS[x_mode][0]
    out.append(f'<text class="axis-label" x="{(box.x0 + box.x1) / 2:.2f}" y="{box.y1 + 36:.2f}"'
               f">{xml_text(x_label)}</text></g>")
    left_metrics = [m for m in UNITS if any(
        s.metric == m and s.yside == "left" for s, *_ in views)]
    if left_metrics or right_ticks is None:
        words = " · ".join(UNITS[m] for m in left_metrics) or "value"
        out += _y_axis(box, left_ticks, y_range, words + (" (log scale)" if log_y else ""),
                       "left")
    if right_ticks is not None:
        units = dict.fromkeys("size (MB)" if s.metric == "size" else f"{s.group or s.label} "
                              f"({s.unit or 'MB'})" for s, *_ in views if s.yside == "right")
        out += _y_axis(box, right_ticks, r_range, " · ".join(units), "right")
    return out


def _y_axis(box: _Layout, ticks, y_range, label: str, side: str) -> list[str]:
    left = side == "left"
    x = box.x0 - 6 if left else box.x1 + 6
    out = [f'<g class="y-axis-{side}" fill="{INK}" text-anchor="{"end" if left else "start"}">']
    for t, text in zip(*ticks):
        py = float(box.py(np.float64(t), *y_range))
        if box.y0 - 0.5 <= py <= box.y1 + 0.5:
            out.append(f'<text x="{x:.2f}" y="{py + 4:.2f}">{xml_text(text)}</text>')
    lx = 16.0 if left else box.width - 16.0
    cy = (box.y0 + box.y1) / 2
    out.append(f'<text class="axis-label" x="{lx:.1f}" y="{cy:.1f}" text-anchor="middle" '
               f'transform="rotate({-90 if left else 90} {lx:.1f} {cy:.1f})">{xml_text(label)}'
               "</text></g>")
    return out


def _series_svg(s: Series, x: np.ndarray, y: np.ndarray, raw: np.ndarray | None, box: _Layout,
                x_range: tuple[float, float], y_range: tuple[float, float],
                log: bool) -> list[str]:
    color = css_color(s.color)
    out = [f'<g class="series" data-key={xml_attr(s.key)} data-metric={xml_attr(s.metric)}>']
    columns = int(box.x1 - box.x0)

    def mapped(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = decimate(x, values, *x_range, columns)
        v = values[keep]
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log10(v), np.nan)
        return box.px(x[keep], *x_range), box.py(v, *y_range)

    if s.style == "points":
        px, py = mapped(y)
        for a, b in zip(px.tolist(), py.tolist()):
            if math.isfinite(b):
                out.append(f'<circle cx="{a:.2f}" cy="{b:.2f}" r="3" fill="{color}" '
                           f'stroke="{INK}" stroke-width="0.5"/>')
    else:
        steps = _holds(s)
        for values, cls, extra in ((raw, "raw", f' stroke-opacity="{RAW_OPACITY}"'),
                                   (y, "line", "")):
            if values is None:
                continue
            px, py = mapped(values)
            for seg in segments(px, py):
                out.append(f'<polyline class="{cls}" fill="none" stroke="{color}" '
                           f'stroke-width="{1.2 if cls == "raw" else 2}" stroke-linejoin="round"'
                           f'{extra}{_dash(s)} points="{points_attr(px[seg], py[seg], steps)}"/>')
    out.append("</g>")
    return out


def run_chart_svg(steps: dict, evals: dict, title: str, size: tuple[int, int] = SIZE) -> str:
    """`chart_svg` of one run's whole curve by step, from `History.steps_arrays` /
    `evals_arrays` (the run report's chart; what an autosave can write)."""
    from slavik_tui.charts.feed import fill_chart
    from slavik_tui.charts.training import training_series

    series = training_series()
    by_key = {s.key: s for s in series}
    fill_chart(SimpleNamespace(append=lambda key, *rows: by_key[key].append(*rows)), steps, evals)
    filled = [s for s in series if len(s)]
    lo = float(min(s.x_step[0] for s in filled)) if filled else 0.0
    hi = float(max(s.x_step[-1] for s in filled)) if filled else 0.0
    return chart_svg(series, x_range=(lo, max(hi, lo + 1.0)), title=title, size=size)


def frame_svg(frame: "Frame", title: str) -> str:
    """`frame` as the terminal picture it is, titled `title` (rich's SVG export).

    Cells without a style of their own (legend, status) get the frame's theme colours, as the
    widget paints them on its $surface background: the file looks like the screen.
    """
    import io

    from rich.console import Console
    from rich.terminal_theme import SVG_EXPORT_THEME, TerminalTheme

    console = Console(record=True, width=frame.width, file=io.StringIO(),
                      color_system="truecolor", force_terminal=True)
    console.print(frame.text, crop=True, overflow="crop", no_wrap=True)
    theme, base = SVG_EXPORT_THEME, SVG_EXPORT_THEME
    if frame.background is not None or frame.foreground is not None:
        palette = [tuple(base.ansi_colors[i]) for i in range(16)]
        theme = TerminalTheme(frame.background or tuple(base.background_color),
                              frame.foreground or tuple(base.foreground_color),
                              palette[:8], palette[8:])  # type: ignore[arg-type]
    return console.export_svg(title=title, theme=theme)
