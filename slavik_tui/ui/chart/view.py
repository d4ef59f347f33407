"""What the chart shows, as a plain object: the x-range, follow, hidden metrics, smoothing (kind
and amount), log y, outliers ignored, the x axis, the cursor and the clear point — and the rules
that change them (pan, zoom, fit, follow, clear, cursor moves), with no Textual, so they are
tested without an app (tests/ui/test_chart_view.py).

Rules:
* `range` None = fit all; pan/zoom are clamped to the data, and zooming out to the whole range
  returns to fit all.
* Following: while the view reaches the newest point, appends slide it along (fit all always
  follows). Panning/zooming away stops it; `follow_tail` resumes it keeping the span.
* `toggle_clear` starts a fresh view at the newest point: fit all, pan and zoom are then limited
  to data from that point on (the history stays in memory); again brings the whole history back.
* The cursor (an x in axis units, None = hidden) first shows on the newest point in view; moved
  past the view's edge it pans the view along (a zoomed view) or stops at the data's edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from slavik_tui.charts.series import METRICS, X_MODES, Series, XMode, axis_values
from slavik_tui.charts.smooth import KINDS, LEVELS, Smoothing

MIN_SPAN = {"step": 2.0, "rel": 2.0, "time": 1.0}
"""Zoom stops at this x span (steps / seconds)."""
SMOOTHING_MODES: tuple[float, ...] = (0.0, *LEVELS["twema"])
"""twema amounts the smoothing key cycles through (the default kind)."""
SOLO_ORDER = ("loss", "reward", "size")
X_NAMES = {"step": "x: step", "rel": "x: +step", "time": "x: time"}


@dataclass
class ChartView:
    """The view state of one chart over its `series` (keyed by `Series.key`, legend order).

    Change it through the methods: they validate and clamp. The fields are there to read.
    """

    series: dict[str, Series] = field(default_factory=dict)
    range: tuple[float, float] | None = None
    """Visible x-range (lo, hi) in x-axis units, or None: fit everything."""
    follow: bool = True
    """New data keep the view on the newest point: true while the view shows the tail."""
    hidden: frozenset[str] = frozenset()
    """Metrics ("loss", "reward", "size", "extra") whose series are hidden."""
    extras: str | None = None
    """The group of "extra" series drawn (`Series.group`: "rewards" = every rewards/NAME, or
    one "gpu/NAME"), None = none (the default)."""
    smoothing: float = 0.0
    """The smoothing amount of `smoothing_kind` applied before drawing lines (0 = raw)."""
    smoothing_kind: str = "twema"
    """One of `smooth.KINDS`: W&B's time-weighted EMA, a running average, a Gaussian."""
    log_y: bool = False
    robust_y: bool = False
    """Scale y to the 1st–99th percentile of the values in view (outliers clipped)."""
    x_mode: XMode = "step"
    """"step", "rel" (steps since each run's start) or "time" (seconds since it)."""
    cursor: float | None = None
    """The readout cursor's x (axis units), None while hidden."""
    fit_override: tuple[float, float] | None = None
    """The x-range 'fit all' shows instead of the data's own (x-axis units), or None."""
    clear_floor: dict[str, float] | None = None
    """After `toggle_clear`: the x (per axis) from which data are shown."""
    live: bool = True
    """Rows may still arrive (a run being trained); False for a replay of an ended run or a
    comparison, whose mode line then never says "● live"."""

    # -- geometry -------------------------------------------------------------------------------

    def x_values(self, s: Series, mode: str | None = None) -> tuple[np.ndarray, float]:
        """(x array, offset to subtract) of `s` on the current axis (or on `mode`)."""
        return axis_values(s, mode or self.x_mode, list(self.series.values()))

    def extent(self) -> tuple[float, float]:
        """Data x-range of the visible series (all series when none is visible; (0, 1) when
        there are no data)."""
        filled = [s for s in self.series.values() if len(s)]
        filled = [s for s in filled if self.in_chart(s)] or filled
        chosen = [s for s in filled if s.metric not in self.hidden] or filled
        if not chosen:
            return (0.0, 1.0)
        los, his = [], []
        for s in chosen:
            x, off = self.x_values(s)
            los.append(x[0] - off)
            his.append(x[-1] - off)
        return float(min(los)), float(max(his))

    def data_range(self) -> tuple[float, float] | None:
        """`extent()`, or None without data: what 'fit all' shows without a `fit_override`
        and before a clear cuts it."""
        if not any(len(s) for s in self.series.values()):
            return None
        return self.extent()

    def fit_range(self) -> tuple[float, float]:
        """The x-range shown by 'fit all': `fit_override` or the data's range, from the clear
        point on after a clear, at least `MIN_SPAN` wide."""
        lo, hi = self.fit_override if self.fit_override is not None else self.extent()
        if self.clear_floor is not None:
            lo = max(lo, self.clear_floor[self.x_mode])
        if hi - lo < MIN_SPAN[self.x_mode]:
            hi = lo + MIN_SPAN[self.x_mode]
        return lo, hi

    @property
    def x_range(self) -> tuple[float, float]:
        """The x-range on screen now."""
        return self.range if self.range is not None else self.fit_range()

    @property
    def cleared_at(self) -> float | None:
        """The x (current axis units) from which the chart shows data after a clear, else None."""
        return None if self.clear_floor is None else self.clear_floor[self.x_mode]

    # -- moving ---------------------------------------------------------------------------------

    def set_range(self, lo: float, hi: float) -> None:
        """Show [lo, hi], clamped to the data; the whole range (or more) becomes 'fit all'."""
        f_lo, f_hi = self.fit_range()
        span = hi - lo
        if not math.isfinite(span) or span >= (f_hi - f_lo) * (1 - 1e-12):
            self.range, self.follow = None, True
            return
        if lo < f_lo:
            lo, hi = f_lo, f_lo + span
        if hi > f_hi:
            lo, hi = f_hi - span, f_hi
        self.range = (float(lo), float(hi))
        self.follow = hi >= f_hi - 1e-9 * max(abs(f_hi), 1.0)

    def set_view(self, value: tuple[float, float] | None) -> None:
        """`set_range(*value)`, or `fit()` for None."""
        self.fit() if value is None else self.set_range(*value)

    def zoom_at(self, anchor: float, factor: float) -> bool:
        """Scale the visible span by `factor` keeping `anchor` (an x value) in place. False
        when already at the smallest span."""
        lo, hi = self.x_range
        anchor = min(max(anchor, lo), hi)
        new_lo, new_hi = anchor - (anchor - lo) * factor, anchor + (hi - anchor) * factor
        min_span = MIN_SPAN[self.x_mode]
        if new_hi - new_lo < min_span:
            if hi - lo <= min_span:
                return False
            frac = (anchor - lo) / (hi - lo)
            new_lo, new_hi = anchor - frac * min_span, anchor + (1 - frac) * min_span
        self.set_range(new_lo, new_hi)
        return True

    def zoom(self, factor: float) -> bool:
        """`zoom_at` the middle of the view."""
        lo, hi = self.x_range
        return self.zoom_at((lo + hi) / 2, factor)

    def pan(self, fraction: float) -> bool:
        """Shift the view by `fraction` of its span (negative: left). False while everything is
        visible (nothing to pan to)."""
        if self.range is None:
            return False
        lo, hi = self.range
        shift = fraction * (hi - lo)
        self.set_range(lo + shift, hi + shift)
        return True

    def drag(self, start: tuple[float, float], shift: float) -> bool:
        """Show `start` (the range when a drag began) moved left by `shift` x units. False when
        'fit all' was showing (nothing to drag to)."""
        lo, hi = start
        f_lo, f_hi = self.fit_range()
        if not shift or hi - lo >= f_hi - f_lo:
            return False
        self.set_range(lo - shift, hi - shift)
        return True

    def fit(self) -> None:
        self.range, self.follow = None, True

    def follow_tail(self) -> None:
        """Follow again; a zoomed view keeps its span and jumps to the newest point."""
        self.follow = True
        if self.range is not None:
            lo, hi = self.range
            tail = self.fit_range()[1]
            self.range = (tail - (hi - lo), tail)

    def appended(self) -> None:
        """Data arrived: while following, slide the view to the newest point."""
        if self.follow and self.range is not None:
            lo, hi = self.range
            tail = self.extent()[1]
            if tail > hi:
                self.range = (tail - (hi - lo), tail)

    def toggle_clear(self) -> bool | None:
        """Clear (True), or bring the history back (False); None when there is nothing to
        clear (no data). Either way the view fits all."""
        if self.clear_floor is None:
            filled = [s for s in self.series.values() if len(s)]
            if not filled:
                return None
            self.clear_floor = {}
            for mode in X_MODES:
                ends = []
                for s in filled:
                    x, off = self.x_values(s, mode)
                    ends.append(x[-1] - off)
                self.clear_floor[mode] = float(max(ends))
            cleared = True
        else:
            self.clear_floor, cleared = None, False
        self.fit()
        return cleared

    def reset(self) -> None:
        """Forget the series and the view (for reuse with another run)."""
        self.series.clear()
        self.range, self.follow, self.clear_floor, self.fit_override = None, True, None, None
        self.cursor = None

    # -- what is drawn --------------------------------------------------------------------------

    def set_hidden(self, metrics: Iterable[str]) -> None:
        metrics = frozenset(metrics)
        unknown = metrics - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
        self.hidden = metrics

    def toggle_metric(self, metric: str) -> None:
        self.set_hidden(self.hidden ^ {metric})

    @property
    def smoothing_spec(self) -> Smoothing:
        """The smoothing lines are drawn with (what `Series.smoothed` takes)."""
        return Smoothing(self.smoothing_kind, self.smoothing)

    def set_smoothing(self, value: "float | Smoothing") -> None:
        """An amount of the current kind, or a `Smoothing` (kind and amount)."""
        spec = value if isinstance(value, Smoothing) else Smoothing(self.smoothing_kind, value)
        self.smoothing_kind, self.smoothing = spec.kind, spec.amount

    def _levels(self, kind: str | None = None) -> tuple[float, ...]:
        return (0.0, *LEVELS[kind or self.smoothing_kind])

    def cycle_smoothing(self) -> None:
        """The next strength of the current kind: raw → 4 levels → raw (from an amount that
        is none of them: the first level)."""
        levels = self._levels()
        i = levels.index(self.smoothing) if self.smoothing in levels else 0
        self.smoothing = levels[(i + 1) % len(levels)]

    def cycle_smoothing_kind(self) -> None:
        """The next kind (twema → running average → Gaussian), at the same strength level;
        from raw, the middle level (so the key always shows smoothing)."""
        levels = self._levels()
        level = levels.index(self.smoothing) if self.smoothing in levels else 0
        kind = KINDS[(KINDS.index(self.smoothing_kind) + 1) % len(KINDS)]
        self.smoothing_kind = kind
        self.smoothing = self._levels(kind)[level or 2]

    def solo_next(self) -> None:
        """Show one metric at a time: all → loss only → reward only → size only → all (the
        metrics that have series; the extras keep their own toggle)."""
        have = [m for m in SOLO_ORDER if any(s.metric == m for s in self.series.values())]
        if not have:
            return
        shown = [m for m in have if m not in self.hidden]
        current = shown[0] if len(shown) == 1 and len(have) > 1 else None
        states: list[str | None] = [None, *have]
        nxt = states[(states.index(current) + 1) % len(states)]
        extra = self.hidden & {"extra"}
        self.hidden = frozenset(extra | (set() if nxt is None else set(have) - {nxt}))

    def in_chart(self, s: Series) -> bool:
        """`s` is part of the picture (legend included): not an extra, or of the extras group
        shown. Hidden metrics stay in the legend, struck through."""
        return s.metric != "extra" or (self.extras is not None and s.group == self.extras)

    def extra_groups(self) -> list[str]:
        """The extras groups the series have: "rewards" first, then each GPU reading."""
        groups = dict.fromkeys(s.group for s in self.series.values() if s.metric == "extra")
        return sorted(groups, key=lambda g: (g != "rewards", g))

    def cycle_extras(self) -> str | None:
        """Show the next extras group (none → rewards → gpu/… one at a time → none); returns
        it. With no extra series there is nothing to show: stays None."""
        states: list[str | None] = [None, *self.extra_groups()]
        i = states.index(self.extras) if self.extras in states else 0
        self.extras = states[(i + 1) % len(states)]
        return self.extras

    # -- the cursor -----------------------------------------------------------------------------

    def move_cursor(self, cells: float, cell_width: float) -> None:
        """Move the cursor by `cells` data columns of `cell_width` x units (whole steps on a
        step axis); the first move shows it on the newest point in view. It stays within the
        data (the `fit_override` of charts side by side: their union)."""
        lo, hi = self.x_range
        d_lo, d_hi = self.fit_override if self.fit_override is not None else self.extent()
        if self.cursor is None:
            x = min(hi, d_hi)
        else:
            shift = cells * cell_width
            if self.x_mode != "time":
                shift = math.copysign(max(1.0, round(abs(shift))), cells) if shift else 0.0
            x = self.cursor + shift
        floor = self.cleared_at
        x = min(max(x, d_lo if floor is None else max(d_lo, floor)), d_hi)
        if self.x_mode != "time":
            x = float(round(x))
        self.cursor = x
        if self.range is not None and not lo <= x <= hi:  # keep it in view
            span = hi - lo
            self.set_range(x - span / 2, x + span / 2)

    def set_cursor(self, x: float | None) -> None:
        """Put the cursor at `x` (axis units; None hides it): the mouse's hover."""
        if x is not None and self.x_mode != "time":
            x = float(round(x))
        self.cursor = x

    def set_fit_override(self, value: tuple[float, float] | None) -> bool:
        """Set `fit_override` (a zoomed view is clamped to it); False if it was already so."""
        if value is not None:
            lo, hi = float(value[0]), float(value[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
                raise ValueError(f"fit_override needs finite lo <= hi, not {value!r}")
            value = (lo, hi)
        if value == self.fit_override:
            return False
        self.fit_override = value
        if self.range is not None:
            self.set_range(*self.range)
        return True

    def set_x_mode(self, mode: XMode) -> bool:
        """Switch the x axis, keeping a zoomed view on the same stretch of the run (mapped
        through the longest series); the fit override is dropped (its units changed). False
        when `mode` is the current one."""
        if mode not in X_MODES:
            raise ValueError(f"x_mode is one of {X_MODES}, not {mode!r}")
        if mode == self.x_mode:
            return False
        view = self.range
        if view is not None:
            ref = max(self.series.values(), key=len, default=None)
            if ref is None or len(ref) < 2:
                view = None
            else:
                (src, s_off), (dst, d_off) = self.x_values(ref), self.x_values(ref, mode)
                mapped = np.interp(np.asarray(view) + s_off, src, dst) - d_off
                view = (float(mapped[0]), float(mapped[1])) if mapped[1] > mapped[0] else None
        following = self.follow
        if self.cursor is not None:
            ref = max(self.series.values(), key=len, default=None)
            if ref is not None and len(ref) >= 2:
                (src, s_off), (dst, d_off) = self.x_values(ref), self.x_values(ref, mode)
                self.cursor = float(np.interp(self.cursor + s_off, src, dst) - d_off)
        self.x_mode = mode
        self.fit_override = None
        if view is None:
            self.fit()
        else:
            self.set_range(*view)
            if following:
                self.follow_tail()
        return True

    def cycle_x_mode(self) -> bool:
        """step → steps since each run's start → time → step."""
        return self.set_x_mode(X_MODES[(X_MODES.index(self.x_mode) + 1) % len(X_MODES)])

    def status_text(self) -> str:
        """The mode line right of the legend: smoothing · log y · outliers · x axis · clear ·
        live."""
        parts = [self.smoothing_spec.label]
        if self.log_y:
            parts.append("log y")
        if self.robust_y:
            parts.append("y 1–99%")
        parts.append(X_NAMES[self.x_mode])
        floor = self.cleared_at
        if floor is not None:
            parts.append(f"from {floor:.0f}s" if self.x_mode == "time" else f"from {floor:g}")
        if not any(len(s) for s in self.series.values()):
            pass  # nothing drawn yet (a model never trained): no run to call live or ended
        elif not self.live:
            parts.append("■ ended")
        else:
            parts.append("● live" if self.follow else "‖ paused")
        return " · ".join(parts)
