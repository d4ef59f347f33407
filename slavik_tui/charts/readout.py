"""The chart's numbers in words: the last value beside each legend entry, and, while the cursor
is shown, the readout rows under the legend — the step, the wall time and the value of every
visible series (of every compared run) at the cursor's x: per series the last point at or
before it, smoothed like its line when smoothing is on ("~3.41"). Pure numpy + rich styles."""

from __future__ import annotations

import math
import time as _time
from typing import Sequence

import numpy as np
from rich.style import Style

from slavik_tui.charts.legend import Run, short_label
from slavik_tui.charts.series import Series, axis_values, time_origin
from slavik_tui.charts.smooth import Smoothing
from slavik_tui.charts.theme import color_style
from slavik_tui.charts.ticks import format_duration

CURSOR_MARK = "▏"


def format_value(v: float | None) -> str:
    """4 significant digits (3.412, 0.02131, 12.35k); "–" for nothing."""
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    if a >= 1e4:
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                return f"{v / div:.4g}{suffix}"
    if 0 < a < 1e-3:
        return f"{v:.2e}".replace("e-0", "e-")
    return f"{v:.4g}"


def last_value(s: Series) -> float | None:
    """The series' newest finite value (None: none yet)."""
    y = s.y
    if not y.size:
        return None
    if math.isfinite(y[-1]):
        return float(y[-1])
    finite = np.flatnonzero(np.isfinite(y))
    return float(y[finite[-1]]) if finite.size else None


def point_at(s: Series, x: float, x_mode: str, every: Sequence[Series]) -> int | None:
    """Index of the last point of `s` at or before `x` (axis units), None when there is none."""
    arr, off = axis_values(s, x_mode, every)
    i = int(np.searchsorted(arr, x + off, side="right")) - 1
    return i if i >= 0 else None


def value_at(s: Series, i: int, smoothing: float | Smoothing) -> tuple[float | None, bool]:
    """(value of point `i` as its line shows it, smoothed?): points are never smoothed."""
    smoothed = s.style != "points" and not s.hold and (
        smoothing.on if isinstance(smoothing, Smoothing) else smoothing > 0)
    y = s.smoothed(smoothing) if smoothed else s.y
    v = float(y[i])
    return (v if math.isfinite(v) else None), smoothed


def _elsewhere(s: Series, i: int, x: float, x_mode: str, every: Sequence[Series]) -> str:
    """"@N" when a compared run's point under the cursor is not at the cursor's x (the run
    ended before it, or logs sparsely), N in axis units; "" when it is."""
    arr, off = axis_values(s, x_mode, every)
    at = float(arr[i] - off)
    if x_mode == "time":
        return "" if abs(at - x) < 1 else f"@{format_duration(at)}"
    return "" if round(at) == round(x) else f"@{at:,.0f}"


def _header(ref: Series | None, i: int | None, x: float, x_mode: str,
            every: Sequence[Series], clock: bool = True) -> str:
    if ref is None or i is None:
        where = {"time": format_duration(x), "rel": f"step +{x:,.0f}"}.get(
            x_mode, f"step {x:,.0f}")
        return f"{CURSOR_MARK}{where}"
    step, t = float(ref.x_step[i]), float(ref.x_time[i])
    parts = [f"step {step:,.0f}"]
    if x_mode == "rel":
        parts[0] += f" (+{x:,.0f})"
    parts.append(format_duration(t - time_origin(ref, every)))
    if clock and t > 1e9:  # unix seconds: the wall clock too
        parts.append(_time.strftime("%H:%M:%S", _time.localtime(t)))
    return CURSOR_MARK + " · ".join(parts)


def readout_rows(
    series: Sequence[Series],
    visible: Sequence[Series],
    x: float,
    *,
    x_mode: str,
    smoothing: float | Smoothing,
    width: int,
    max_rows: int,
    no_color: bool,
) -> list[list[Run]]:
    """The readout at cursor x: a header (step · elapsed · clock of the first visible series
    with a point there) and "label value" per visible series, grouped per run (each group led
    by a swatch in the run's colour when runs are compared), wrapped between items."""
    runs = list(dict.fromkeys(s.run for s in visible))
    compare = len(runs) > 1
    found = [(s, point_at(s, x, x_mode, series)) for s in visible]
    ref, ref_i = next(((s, i) for s, i in found if i is not None), (None, None))
    if compare:  # runs differ in where their points are: the header says the cursor's x
        ref, ref_i = None, None
    dim, plain = Style(dim=True), Style()
    items: list[tuple[list[Run], int, int]] = []  # (runs, cells, cells of the group it starts)
    for run in runs:
        start = len(items)
        for s, i in found:
            if s.run != run:
                continue
            value, smoothed = value_at(s, i, smoothing) if i is not None else (None, False)
            text = ("~" if smoothed and value is not None else "") + format_value(value)
            chunks: list[Run] = []
            if compare and len(items) == start:
                at = "" if i is None else _elsewhere(s, i, x, x_mode, series)
                chunks += [("■", color_style(s.color, no_color)), (f" {run}{at}: ", plain)]
            chunks += [(short_label(s) + " ", dim), (text, plain)]
            items.append((chunks, sum(len(c) for c, _ in chunks), 0))
        if compare and len(items) > start:  # the first item carries its group's width
            group = sum(cells + 2 for _c, cells, _g in items[start:]) + 1
            items[start] = (items[start][0], items[start][1], group)
    head = _header(ref, ref_i, x, x_mode, series)
    if len(head) + sum(3 + cells for _c, cells, _g in items) > width:  # the clock goes first
        head = _header(ref, ref_i, x, x_mode, series, clock=False)
    rows: list[list[Run]] = [[(head, plain)]]
    used = [len(rows[0][0][0])]
    for chunks, cells, group in items:
        gap = 3 if group else 2
        # A run's values stay on one row when they fit one: the group moves down whole.
        whole = group and used[-1] > 1 and used[-1] + group > width and group < width
        if used[-1] + gap + cells > width or whole:
            if len(rows) >= max_rows:
                break
            rows.append([(" ", None)])
            used.append(1)
            gap = 0
        rows[-1] += [(" " * gap, None), *chunks]
        used[-1] += gap + cells
    return rows
