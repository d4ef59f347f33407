"""Axis ranges, round-number ticks and their labels (numbers, steps, durations). Pure Python.

`axis_range` pads a y axis around its data; `linear_ticks` / `log_ticks` / `step_ticks` /
`time_ticks` give (positions, labels) for one axis; `format_number` and `format_duration` are
the label formats.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

AXIS_PAD = 0.04
"""Padding of a y axis beyond its data, as a fraction of their span (lines clear the frame)."""
AXIS_MIN_REL = 0.01
"""A y axis spans at least ±1 % of its largest |value| (±1 when every value is 0), so a nearly
constant series sits mid-axis with round ticks (0.338 / 0.340 / 0.342, not 0.33979 / 0.33980 /
0.33981). Not more: a loss plateau zoomed into (EMA-smoothed, falling 0.5 % across the view)
must still fill half the height, not lie flat in a band twenty times taller than its change."""


def axis_range(lo: float, hi: float, log: bool = False) -> tuple[float, float]:
    """The y range of an axis whose data lie in [lo, hi]: padded by `AXIS_PAD` of their span, and
    never narrower than `AXIS_MIN_REL` either side of their middle (centred on it then).

    With `log`, lo and hi are log10 values and the minimum is the same ±1 % in y, i.e.
    ±log10(1.01) decades. Non-finite input gives (0, 1).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return (0.0, 1.0)
    if hi < lo:
        lo, hi = hi, lo
    mid = (lo + hi) / 2
    if log:
        half_min = math.log10(1.0 + AXIS_MIN_REL)
    else:
        half_min = AXIS_MIN_REL * max(abs(lo), abs(hi)) or 1.0
    pad = (hi - lo) * AXIS_PAD
    if (hi - lo) / 2 + pad < half_min:
        return mid - half_min, mid + half_min
    return lo - pad, hi + pad


def nice_step(span: float, max_ticks: int, bases: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The smallest 'round' step (1/2/2.5/5 × 10^k) giving at most `max_ticks` ticks over span."""
    max_ticks = max(int(max_ticks), 1)
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max_ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    for b in bases:
        if b * mag >= raw * (1 - 1e-9):
            return b * mag
    return 10.0 * mag


def nice_ticks(lo: float, hi: float, max_ticks: int) -> np.ndarray:
    """Round-number ticks inside [lo, hi] (at most `max_ticks`, at least one)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.array([0.0])
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return np.array([lo])
    step = nice_step(hi - lo, max_ticks)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = np.arange(first, last + 1) * step
    # Kill -0.0 and float noise such as 0.30000000000000004.
    ticks = np.round(ticks, 12) + 0.0
    return ticks if ticks.size else np.array([(lo + hi) / 2])


def format_number(v: float, step: float | None = None) -> str:
    """Short label: 0, 0.25, 3.5, 12,000 -> 12k, 2.5M, 1e-5 (`step`: decimals of a tick step)."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4:
        for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                return f"{v / div:.4g}{suffix}"
    if a < 1e-3:
        text = f"{v:.0e}" if step is None else f"{v:.1e}".replace(".0e", "e")
        return text.replace("e-0", "e-").replace("e+0", "e")
    if step is not None and step > 0:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        if step * 10**decimals % 1 > 1e-6:  # 2.5 × 10^k needs one digit more
            decimals += 1
        return f"{v:.{decimals}f}"
    return f"{v:.4g}"


def linear_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    ticks = nice_ticks(lo, hi, max_ticks)
    step = float(ticks[1] - ticks[0]) if ticks.size > 1 else None
    return [float(t) for t in ticks], [format_number(float(t), step) for t in ticks]


def log_ticks(log_lo: float, log_hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks for an axis that shows log10(y): positions in log10 units, labels in y units.

    Decades (…, 0.1, 1, 10, …) when at least three are visible (thinned to every 2nd, 3rd …
    when too many); otherwise 1-2-5 multiples; on a range shorter than that, plain round
    numbers (placed at their log10).
    """
    max_ticks = max(int(max_ticks), 2)
    if not (math.isfinite(log_lo) and math.isfinite(log_hi)):
        return [0.0], ["1"]
    if log_hi < log_lo:
        log_lo, log_hi = log_hi, log_lo
    eps = 1e-9
    span = range(math.floor(log_lo), math.ceil(log_hi) + 1)
    decades = [float(d) for d in span if log_lo - eps <= d <= log_hi + eps]
    if len(decades) > max_ticks:
        k = -(-len(decades) // max_ticks)
        decades = [d for d in decades if round(d) % k == 0]
    if len(decades) >= 3:
        return decades, [format_number(10.0**d) for d in decades]
    multiples = sorted(
        d + math.log10(m)
        for d in span
        for m in (1, 2, 5)
        if log_lo - eps <= d + math.log10(m) <= log_hi + eps
    )
    if 2 <= len(multiples) <= max_ticks:
        return multiples, [format_number(10.0**t) for t in multiples]
    if len(decades) >= 2:
        return decades, [format_number(10.0**d) for d in decades]
    ticks, labels = linear_ticks(10.0**log_lo, 10.0**log_hi, max_ticks)
    keep = [(math.log10(t), lab) for t, lab in zip(ticks, labels) if t > 0]
    if not keep:
        return [log_lo], [format_number(10.0**log_lo)]
    return [k for k, _ in keep], [lab for _, lab in keep]


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 172800, 604800)


def format_duration(seconds: float) -> str:
    """0s, 45s, 1m, 1m30s, 2h, 2h05m, 1d3h."""
    s = int(round(seconds))
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{sign}{m}m" + (f"{r:02d}s" if r else "")
    if s < 86400:
        h, r = divmod(s, 3600)
        m = r // 60
        return f"{sign}{h}h" + (f"{m:02d}m" if m else "")
    d, r = divmod(s, 86400)
    h = r // 3600
    return f"{sign}{d}d" + (f"{h}h" if h else "")


def time_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks on a seconds axis at round durations (1s … 1w) labelled like '30s', '1m30s', '2h'."""
    span = hi - lo
    if not span > 0:
        return [lo], [format_duration(lo)]
    step = next((s for s in _TIME_STEPS if span / s <= max_ticks), None)
    if step is None:
        step = nice_step(span / 86400, max_ticks) * 86400
    if span < 1:  # sub-second: plain numbers
        return linear_ticks(lo, hi, max_ticks)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = [float(k * step) for k in range(first, last + 1)]
    return ticks, [format_duration(t) for t in ticks]


def step_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks on a step axis: integers (never 0.5 steps), 1.2k / 3M for big ones."""
    if hi - lo >= 1:
        step = max(nice_step(hi - lo, max_ticks, bases=(1, 2, 5, 10)), 1.0)
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        ticks = [float(k * step) for k in range(first, last + 1)]
        if ticks:
            return ticks, [format_number(t) for t in ticks]
    return linear_ticks(lo, hi, max_ticks)
