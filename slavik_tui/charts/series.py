"""One line of the chart and its whole history: `Series` (growing buffers, smoothing caches,
block min/max summaries). Pure numpy.

How a frame uses a series (see `frame.render_frame`):

1. `Series.drawable(w, log)` — the whole history, optionally EMA-smoothed (`smooth.ema`, cached,
   extended on append), with undrawable values (inf; <= 0 on a log axis) as NaN.
2. `reduce.reduce_columns` — the visible x-range reduced to per-sub-column [min, max], reading
   `Series.block_minmax` to skip the inside of wide columns.
3. `raster.rasterize` — those spans as braille / quadrant-block glyphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence, Union

import numpy as np

from slavik_tui.charts.smooth import Smoothing, ema

Metric = Literal["loss", "reward", "size", "extra"]
YSide = Literal["left", "right"]
LineStyle = Literal["line", "points", "dashed", "dotted"]
Color = Union[str, int, tuple[int, int, int], None]

METRICS: tuple[str, ...] = ("loss", "reward", "size", "extra")
YSIDES: tuple[str, ...] = ("left", "right")
STYLES: tuple[str, ...] = ("line", "points", "dashed", "dotted")
XMode = Literal["step", "rel", "time"]
X_MODES: tuple[str, ...] = ("step", "rel", "time")
"""The x axes: the model's step, steps since each run's start, seconds since each run's start."""


BLOCK = 64
"""Points per block of the min/max summaries (`Series.block_minmax`)."""
SPAN_GROWTH = 0.02
"""A whole-series smoothing is redone in full once the x-range grew by this fraction."""


class _Buffer:
    """A float64 array that grows by doubling its capacity: appending is amortised O(1)."""

    __slots__ = ("_data", "n")

    def __init__(self, capacity: int = 256) -> None:
        self._data = np.empty(max(int(capacity), 1), dtype=np.float64)
        self.n = 0

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]

    @property
    def capacity(self) -> int:
        return self._data.size

    def extend(self, values: np.ndarray) -> None:
        need = self.n + values.size
        if need > self._data.size:
            capacity = self._data.size
            while capacity < need:
                capacity *= 2
            grown = np.empty(capacity, dtype=np.float64)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : need] = values
        self.n = need

    def truncate(self, n: int) -> None:
        self.n = max(0, min(self.n, int(n)))


def _as_1d(values: object) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()


@dataclass(eq=False)
class Series:
    """One line of the chart and its whole history (never capped).

    `x_step`, `x_time` and `y` are read-only views of growing buffers. Steps are kept
    non-decreasing: a chunk that starts at or before the last stored step (a resumed run re-doing
    the steps after its last checkpoint) replaces the stored rows from that step on. Times are
    kept non-decreasing too (a clock that steps back is clamped), so both x axes can be searched.
    """

    key: str
    """Unique id within one chart."""
    label: str
    """Legend text ("loss", or "model/run" when runs are compared)."""
    metric: Metric = "loss"
    """Toggle group: keys 1/2/3 hide and show every series of "loss" / "reward" / "size";
    "extra" (per-function rewards, GPU readings) is hidden until the extras key shows it."""
    color: Color = None
    """plotext colour name, 256-colour int, or (r, g, b); None = the terminal's default."""
    yside: YSide = "left"
    style: LineStyle = "line"
    run: str = ""
    """Series of one run share the time origin (the earliest time of any of them)."""
    t0: float | None = None
    """Explicit time origin (e.g. the run's start, unix seconds); None = derived from `run`."""
    s0: float | None = None
    """Explicit step origin of the "steps since the run's start" axis (the run's start step);
    None = derived from `run` (the earliest step of any of its series)."""
    hold: bool = False
    """Drawn as a staircase: a value holds until the next point (a size between evals)."""
    from_zero: bool = False
    """Its y axis starts at 0 (sizes: a 1 % change must not look like a cliff)."""
    group: str = ""
    """For "extra" series: what the extras key shows together ("rewards", or one "gpu/NAME")."""
    unit: str = ""
    """The right axis' label names the units of its series ("MB", "%", "W"); "" = "MB"."""

    _xs: _Buffer = field(init=False, repr=False)
    _xt: _Buffer = field(init=False, repr=False)
    _y: _Buffer = field(init=False, repr=False)
    _ema: dict[float, _Buffer] = field(init=False, repr=False)
    _clean: dict[tuple[float, str], _Buffer] = field(init=False, repr=False)
    _blocks: dict[tuple[float, str], tuple[_Buffer, _Buffer]] = field(init=False, repr=False)
    _whole: dict[Smoothing, tuple[int, int, float, np.ndarray, object]] = field(
        init=False, repr=False)
    _cuts: int = field(init=False, default=0, repr=False)
    version: int = field(init=False, default=0)
    """Bumped on every change of the data (for caches)."""
    has_nonfinite: bool = field(init=False, default=False)
    """Some y is NaN/inf (they are skipped when drawing and smoothing)."""
    has_nonpositive: bool = field(init=False, default=False)
    """Some y is <= 0 (they are dropped on a log axis)."""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("Series.key must be a non-empty string")
        if self.metric not in METRICS:
            raise ValueError(f"Series.metric must be one of {METRICS}, not {self.metric!r}")
        if self.yside not in YSIDES:
            raise ValueError(f"Series.yside must be one of {YSIDES}, not {self.yside!r}")
        if self.style not in STYLES:
            raise ValueError(f"Series.style must be one of {STYLES}, not {self.style!r}")
        self._xs, self._xt, self._y = _Buffer(), _Buffer(), _Buffer()
        self._ema = {}
        self._clean = {}
        self._blocks = {}
        self._whole = {}

    # -- data ----------------------------------------------------------------------------------

    @property
    def x_step(self) -> np.ndarray:
        return self._xs.view

    @property
    def x_time(self) -> np.ndarray:
        return self._xt.view

    @property
    def y(self) -> np.ndarray:
        return self._y.view

    def __len__(self) -> int:
        return self._y.n

    def append(self, steps: object, times: object, values: object) -> int:
        """Append rows (arrays, lists or scalars of equal length). Returns how many were kept.

        Rows whose step or time is not finite cannot be placed on an axis and are dropped; a
        non-finite *value* is kept (it shows in the CSV) but skipped when drawing.
        """
        xs, xt, y = _as_1d(steps), _as_1d(times), _as_1d(values)
        if not (xs.size == xt.size == y.size):
            raise ValueError(
                f"append needs equal lengths, got steps={xs.size} times={xt.size} values={y.size}"
            )
        keep = np.isfinite(xs) & np.isfinite(xt)
        if not keep.all():
            xs, xt, y = xs[keep], xt[keep], y[keep]
        if xs.size == 0:
            return 0
        if xs.size > 1 and np.any(xs[1:] < xs[:-1]):
            order = np.argsort(xs, kind="stable")
            xs, xt, y = xs[order], xt[order], y[order]
        n = self._y.n
        if n and xs[0] <= self._xs.view[-1]:
            # A resumed run repeats the steps after its last checkpoint: the new rows win.
            self._truncate(int(np.searchsorted(self._xs.view, xs[0], side="left")))
            n = self._y.n
        if n:
            xt = np.maximum.accumulate(np.concatenate(([self._xt.view[-1]], xt)))[1:]
        elif xt.size > 1:
            xt = np.maximum.accumulate(xt)
        self._xs.extend(xs)
        self._xt.extend(xt)
        self._y.extend(y)
        finite = np.isfinite(y)
        self.has_nonfinite |= not bool(finite.all())
        self.has_nonpositive |= bool(np.any(y[finite] <= 0))
        self.version += 1
        return int(y.size)

    def _truncate(self, n: int) -> None:
        self._cuts += 1  # the whole-series smoothings start over
        for buf in (self._xs, self._xt, self._y, *self._ema.values(), *self._clean.values()):
            buf.truncate(n)
        for lo, hi in self._blocks.values():
            lo.truncate(n // BLOCK)
            hi.truncate(n // BLOCK)

    def clear(self) -> None:
        self._truncate(0)
        self.has_nonfinite = self.has_nonpositive = False
        self.version += 1

    # -- smoothing ------------------------------------------------------------------------------

    def smoothed(self, smoothing: "float | Smoothing") -> np.ndarray:
        """y smoothed: a float is the plain EMA weight (`ema`; cached and extended on append),
        a `Smoothing` W&B's kinds over the step axis. Those scale to the series' x-range, so
        appended rows recompute only the tail they change while the range has grown by under
        `SPAN_GROWTH` since the last full pass (at that pass' scale); beyond, or after a cut,
        all of it (a few ms per 1e5 points)."""
        key = _key(smoothing)
        if key == 0.0:
            return self.y
        if isinstance(key, Smoothing):
            return self._smoothed_whole(key)
        weight = float(key)
        cache = self._ema.get(weight)
        if cache is None:
            cache = self._ema[weight] = _Buffer(max(self._y.capacity, 1))
        done, n = cache.n, self._y.n
        if done < n:
            prev = cache.view[-1] if done else None
            if prev is not None and not np.isfinite(prev):
                prev = None  # still waiting for the first finite value
            cache.extend(ema(self._y.view[done:n], weight, init=prev))
        return cache.view

    def _smoothed_whole(self, key: Smoothing) -> np.ndarray:
        entry = self._whole.get(key)
        if entry is not None and entry[0] == self.version:
            return entry[3]
        x, y, n = self.x_step, self.y, self._y.n
        span = float(x[-1] - x[0]) if n else 0.0
        derived = [k for k in (*self._clean, *self._blocks) if k[0] == key]
        if (entry is not None and entry[1] == self._cuts and 0 < entry[3].size < n
                and entry[2] > 0 and span <= entry[2] * (1 + SPAN_GROWTH)):
            values, j0, state = key.extend(x, y, entry[3], entry[2], entry[4])
            for k in derived:  # what before j0 was derived still stands
                if k in self._clean:
                    self._clean[k].truncate(j0)
                if k in self._blocks:
                    for buf in self._blocks[k]:
                        buf.truncate(j0 // BLOCK)
            span = entry[2]
        else:
            values, state = key.start(x, y)
            for k in derived:
                self._clean.pop(k, None)
                self._blocks.pop(k, None)
        self._whole[key] = (self.version, self._cuts, span, values, state)
        return values

    def _variant(self, log: bool) -> str:
        if log and self.has_nonpositive:
            return "positive"
        return "finite" if self.has_nonfinite else "raw"

    def drawable(self, weight: "float | Smoothing" = 0.0, log: bool = False) -> np.ndarray:
        """`smoothed(weight)` with what cannot be drawn set to NaN: inf, and y <= 0 on a log axis.

        The smoothed array itself when there is nothing to hide (the usual case); otherwise a
        cached copy, extended on append. `reduce_columns` skips NaN.
        """
        weight = _key(weight)
        y = self.smoothed(weight)
        variant = self._variant(log)
        if variant == "raw":
            return y
        cache = self._clean.setdefault((weight, variant), _Buffer(max(self._y.capacity, 1)))
        if cache.n < y.size:
            chunk = y[cache.n :]
            ok = np.isfinite(chunk)
            if variant == "positive":
                ok &= chunk > 0
            cache.extend(np.where(ok, chunk, np.nan))
        return cache.view

    def block_minmax(
        self, weight: "float | Smoothing" = 0.0, log: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """NaN-ignoring min and max of every complete block of `BLOCK` values of `drawable()`.

        A one-level min/max pyramid, extended incrementally on append: `reduce_columns` uses it
        to skip over the inside of wide columns instead of scanning every point.
        """
        weight = _key(weight)
        y = self.drawable(weight, log)
        key = (weight, self._variant(log))
        mins, maxs = self._blocks.setdefault(key, (_Buffer(64), _Buffer(64)))
        done, full = mins.n, y.size // BLOCK
        if done < full:
            chunk = y[done * BLOCK : full * BLOCK].reshape(-1, BLOCK)
            with np.errstate(invalid="ignore"):
                mins.extend(np.fmin.reduce(chunk, axis=1))
                maxs.extend(np.fmax.reduce(chunk, axis=1))
        return mins.view, maxs.view


def _key(smoothing: "float | Smoothing") -> "float | Smoothing":
    """The cache key of a smoothing: 0.0 for raw (a weight of 0 or a `Smoothing` that is off)."""
    if isinstance(smoothing, Smoothing):
        return smoothing if smoothing.on else 0.0
    return float(smoothing) if smoothing > 0 else 0.0


def step_origin(series: Series, all_series: Sequence[Series]) -> float:
    """The step that is 0 on the "steps since the run's start" axis for `series`: its `s0`,
    else the `s0` of a series of its run (a metric added later), else the earliest step of
    any series of its run in `all_series`."""
    if series.s0 is not None:
        return series.s0
    same_run = [s for s in all_series if s.run == series.run]
    for s in same_run:
        if s.s0 is not None:
            return s.s0
    firsts = [s.x_step[0] for s in same_run if len(s)]
    return float(min(firsts)) if firsts else 0.0


def time_origin(series: Series, all_series: Sequence[Series]) -> float:
    """The time that is 0 s on the time axis for `series`: its `t0`, else the earliest time of
    any series of its run in `all_series`."""
    if series.t0 is not None:
        return series.t0
    firsts = [s.x_time[0] for s in all_series if s.run == series.run and len(s)]
    return float(min(firsts)) if firsts else 0.0


def axis_values(
    series: Series, x_mode: str, all_series: Sequence[Series]
) -> tuple[np.ndarray, float]:
    """(stored x array, offset to subtract) of `series` on the x axis `x_mode`."""
    if x_mode == "step":
        return series.x_step, 0.0
    if x_mode == "rel":
        return series.x_step, step_origin(series, all_series)
    return series.x_time, time_origin(series, all_series)
