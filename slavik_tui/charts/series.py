"""The numeric half of the training chart: series storage, smoothing, reduction, ticks.

Pure numpy — no Textual, rich or plotext here — so all of it is unit-testable and benchmarkable
on its own. `chart.py` turns what these functions compute into a picture.

The pipeline of one frame, per series:

1. `Series.drawable(w, log)` — the whole history, optionally EMA-smoothed (cached, extended on
   append), with undrawable values (inf; <= 0 on a log axis) as NaN.
2. `reduce_columns` — slice the visible x-range with `searchsorted` and reduce it to the min and
   max of the polyline inside every sub-cell column. The polyline is exact: besides the points in
   a column, the values where it crosses the column's edges count too, so a spike in 1e6 points
   survives and sparse data still draws as connected lines. `Series.block_minmax` (min/max of
   every 64 points, kept up to date on append) lets wide columns skip most of their points.
3. `rasterize` — turn the per-column [min, max] spans into braille / quadrant-block glyphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Metric = Literal["loss", "reward", "size"]
YSide = Literal["left", "right"]
LineStyle = Literal["line", "points", "dashed"]
Color = Union[str, int, tuple[int, int, int], None]

METRICS: tuple[str, ...] = ("loss", "reward", "size")
YSIDES: tuple[str, ...] = ("left", "right")
STYLES: tuple[str, ...] = ("line", "points", "dashed")


# ---------------------------------------------------------------------------------------------
# Growable storage
# ---------------------------------------------------------------------------------------------


BLOCK = 64
"""Points per block of the min/max summaries (`Series.block_minmax`)."""


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
    """Toggle group: keys 1/2/3 hide and show every series of "loss" / "reward" / "size"."""
    color: Color = None
    """plotext colour name, 256-colour int, or (r, g, b); None = the terminal's default."""
    yside: YSide = "left"
    style: LineStyle = "line"
    run: str = ""
    """Series of one run share the time origin (the earliest time of any of them)."""
    t0: float | None = None
    """Explicit time origin (e.g. the run's start, unix seconds); None = derived from `run`."""

    _xs: _Buffer = field(init=False, repr=False)
    _xt: _Buffer = field(init=False, repr=False)
    _y: _Buffer = field(init=False, repr=False)
    _ema: dict[float, _Buffer] = field(init=False, repr=False)
    _clean: dict[tuple[float, str], _Buffer] = field(init=False, repr=False)
    _blocks: dict[tuple[float, str], tuple[_Buffer, _Buffer]] = field(init=False, repr=False)
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

    def smoothed(self, weight: float) -> np.ndarray:
        """y smoothed by `ema(weight)`; cached and extended incrementally on append."""
        if weight <= 0:
            return self.y
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

    def _variant(self, log: bool) -> str:
        if log and self.has_nonpositive:
            return "positive"
        return "finite" if self.has_nonfinite else "raw"

    def drawable(self, weight: float = 0.0, log: bool = False) -> np.ndarray:
        """`smoothed(weight)` with what cannot be drawn set to NaN: inf, and y <= 0 on a log axis.

        The smoothed array itself when there is nothing to hide (the usual case); otherwise a
        cached copy, extended on append. `reduce_columns` skips NaN.
        """
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

    def block_minmax(self, weight: float = 0.0, log: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """NaN-ignoring min and max of every complete block of `BLOCK` values of `drawable()`.

        A one-level min/max pyramid, extended incrementally on append: `reduce_columns` uses it
        to skip over the inside of wide columns instead of scanning every point.
        """
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


# ---------------------------------------------------------------------------------------------
# Smoothing
# ---------------------------------------------------------------------------------------------

_BLOCK = 64


def _linear_recurrence(a: np.ndarray, r: float, s_init: float) -> np.ndarray:
    """s[i] = r * s[i-1] + a[i] with s[-1] = s_init, vectorised in blocks.

    Inside a block of B values the zero-state response is one matrix product with
    K[k, j] = r**(j-k) (j >= k); the states carried between blocks obey the same recurrence with
    r**B, solved recursively. Exact up to float rounding, ~50x faster than a Python loop.
    """
    n = a.size
    if n <= _BLOCK:
        out = np.empty(n)
        s = s_init
        for i in range(n):
            s = r * s + a[i]
            out[i] = s
        return out
    nb = -(-n // _BLOCK)
    blocks = np.zeros(nb * _BLOCK)
    blocks[:n] = a
    blocks = blocks.reshape(nb, _BLOCK)
    j = np.arange(_BLOCK)
    lag = j[None, :] - j[:, None]
    kernel = np.where(lag >= 0, r ** np.maximum(lag, 0).astype(np.float64), 0.0)
    zero_state = blocks @ kernel
    ends = _linear_recurrence(zero_state[:, -1], r**_BLOCK, s_init)
    carried = np.concatenate(([s_init], ends[:-1]))
    out = zero_state + carried[:, None] * (r ** (j + 1.0))[None, :]
    return out.ravel()[:n]


def ema(y: Sequence[float] | np.ndarray, weight: float, init: float | None = None) -> np.ndarray:
    """Exponential moving average: s[i] = weight * s[i-1] + (1 - weight) * y[i].

    s[-1] = `init`, or y[0] when `init` is None (so the curve starts on the data, no warm-up
    bias). Non-finite values are skipped: the smoothed value is held over them (NaN before the
    first finite value when there is no `init`). `weight` 0 returns a copy of `y`.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"EMA weight must be in [0, 1), not {weight}")
    if weight == 0.0 or y.size == 0:
        return y.copy()
    good = np.isfinite(y)
    if good.all():
        start = y[0] if init is None else init
        return _linear_recurrence((1.0 - weight) * y, weight, float(start))
    finite = y[good]
    fill = np.nan if init is None else float(init)
    if finite.size == 0:
        return np.full(y.size, fill)
    start = finite[0] if init is None else init
    smoothed = _linear_recurrence((1.0 - weight) * finite, weight, float(start))
    last = np.cumsum(good) - 1  # index into `smoothed` of the last finite value so far
    return np.where(last >= 0, smoothed[np.maximum(last, 0)], fill)


# ---------------------------------------------------------------------------------------------
# Reduction to columns
# ---------------------------------------------------------------------------------------------


def slice_range(x: np.ndarray, lo: float, hi: float, pad: int = 0) -> tuple[int, int]:
    """Index range [i0, i1) of a sorted `x` within [lo, hi], widened by `pad` on each side."""
    i0 = int(np.searchsorted(x, lo, side="left"))
    i1 = int(np.searchsorted(x, hi, side="right"))
    return max(i0 - pad, 0), min(i1 + pad, x.size)


def reduce_columns(
    x: np.ndarray,
    y: np.ndarray,
    lo: float,
    hi: float,
    ncols: int,
    *,
    connect: bool = True,
    x_offset: float = 0.0,
    blocks: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of a series inside each of `ncols` equal columns of [lo, hi].

    `x` is sorted (non-decreasing); column k covers [lo + k*w, lo + (k+1)*w), the last one is
    closed at `hi`. With `connect`, the series is treated as a polyline: a column also counts the
    values where the line crosses its edges (interpolated between the neighbouring points, even
    from outside the range), so lines stay connected across empty columns. Without `connect`
    only the points inside count (a scatter plot). NaN values are skipped (a line has a gap
    there); columns with nothing are NaN.

    `x_offset` is added to lo/hi before searching (time axes: the series stores unix time, the
    view is relative). `blocks` = `Series.block_minmax()` of this `y`: columns wider than a few
    blocks then read the block summaries for their inside and scan only their ragged ends.
    """
    out_lo = np.full(ncols, np.nan)
    out_hi = np.full(ncols, np.nan)
    if ncols <= 0 or x.size == 0 or not hi > lo:
        return out_lo, out_hi
    qlo, qhi = lo + x_offset, hi + x_offset
    i0, i1 = slice_range(x, qlo, qhi, pad=1 if connect else 0)
    xs, ys = x[i0:i1], y[i0:i1]
    if xs.size == 0:
        return out_lo, out_hi
    edges = qlo + (qhi - qlo) * (np.arange(ncols + 1) / ncols)
    edges[-1] = qhi
    # bounds[k] = first point at or after the left edge of column k; bounds[ncols] = first point
    # after `hi` (the last column is closed).
    bounds = np.searchsorted(xs, edges, side="left")
    bounds[-1] = np.searchsorted(xs, qhi, side="right")
    a, b = bounds[:-1], bounds[1:]
    nonempty = a < b
    with np.errstate(invalid="ignore"):
        if nonempty.any():
            cols = np.flatnonzero(nonempty)
            a, b = a[nonempty], b[nonempty]
            # Worth it when columns average several blocks; below that scanning all points wins.
            if blocks is not None and b[-1] - a[0] >= 8 * BLOCK * a.size:
                mins, maxs = _reduce_with_blocks(y, i0 + a, i0 + b, *blocks)
            else:
                # reduceat runs each segment up to the next index; the sentinel ends the last
                # one. Dropped (empty) columns hold no points, so segment k still ends at b[k].
                seg = np.append(a, b[-1]) if b[-1] < ys.size else a
                mins = np.fmin.reduceat(ys, seg)[: a.size]
                maxs = np.fmax.reduceat(ys, seg)[: a.size]
            out_lo[cols] = mins
            out_hi[cols] = maxs
        if connect and xs.size > 1:
            inside = (edges >= xs[0]) & (edges <= xs[-1])
            if inside.any():
                cross = np.full(ncols + 1, np.nan)
                cross[inside] = np.interp(edges[inside], xs, ys)
                left, right = cross[:-1], cross[1:]
                out_lo = np.fmin(out_lo, np.fmin(left, right))
                out_hi = np.fmax(out_hi, np.fmax(left, right))
    return out_lo, out_hi


def _reduce_with_blocks(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, bmin: np.ndarray, bmax: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """NaN-ignoring min/max of y[a[k]:b[k]] (non-empty, increasing, disjoint) via block summaries.

    Each range = a ragged head (< BLOCK points, scanned), whole blocks (read from the
    summaries), a ragged tail (< BLOCK points, scanned). NaN is the identity of fmin/fmax, so
    ranges with nothing but NaN come out NaN.
    """
    nblocks = bmin.size
    first_full = -(-a // BLOCK)  # first block starting at or after a
    last_full = np.minimum(b // BLOCK, nblocks)  # blocks [first_full, last_full) lie inside
    has_mid = last_full > first_full
    head_end = np.where(has_mid, first_full * BLOCK, b)
    tail_start = np.where(has_mid, last_full * BLOCK, b)
    lane = np.arange(BLOCK)
    windows = sliding_window_view(y, BLOCK)  # row i = y[i:i+BLOCK], no copy

    def scan(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = np.minimum(start, y.size - BLOCK)  # near the end, read a window that fits
        pos = row[:, None] + lane[None, :]
        valid = (pos >= start[:, None]) & (pos < stop[:, None])
        vals = windows[row]
        return (
            np.fmin.reduce(vals, axis=1, where=valid, initial=np.nan),
            np.fmax.reduce(vals, axis=1, where=valid, initial=np.nan),
        )

    head_min, head_max = scan(a, head_end)
    # Without middle blocks a range is shorter than 2 blocks: the tail scan covers the rest.
    tail_from = np.where(has_mid, tail_start, np.minimum(a + BLOCK, b))
    tail_min, tail_max = scan(tail_from, b)
    mid_min = np.full(a.size, np.nan)
    mid_max = np.full(a.size, np.nan)
    if has_mid.any():
        f, l = first_full[has_mid], last_full[has_mid]
        # Interleave [f0, l0, f1, l1, …]: reduceat's even segments are the wanted ranges (the
        # odd ones, gaps between them, are discarded). A sentinel keeps indices in range.
        idx = np.empty(2 * f.size, dtype=np.int64)
        idx[0::2], idx[1::2] = f, l
        mid_min[has_mid] = np.fmin.reduceat(np.append(bmin, np.nan), idx)[0::2]
        mid_max[has_mid] = np.fmax.reduceat(np.append(bmax, np.nan), idx)[0::2]
    return (
        np.fmin(np.fmin(head_min, tail_min), mid_min),
        np.fmax(np.fmax(head_max, tail_max), mid_max),
    )


# ---------------------------------------------------------------------------------------------
# Rasterising spans into glyphs
# ---------------------------------------------------------------------------------------------

# Sub-cell resolution (columns, rows) of each marker kind.
MARKER_RES: dict[str, tuple[int, int]] = {"braille": (2, 4), "hd": (2, 2), "char": (1, 1)}

# Bit of each sub-cell; rows listed bottom-up. Braille dots 1-2-3-7 are the left column
# (top to bottom), 4-5-6-8 the right one; bit k is dot k+1 for k < 6, dot 7/8 are bits 6/7.
_BRAILLE_BITS = np.array([[64, 128], [4, 32], [2, 16], [1, 8]], dtype=np.int64)
# Quadrants: TL=1, TR=2, BL=4, BR=8.
_HD_BITS = np.array([[4, 8], [1, 2]], dtype=np.int64)
_HD_GLYPHS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"


def value_to_row(v: np.ndarray, y_lo: float, y_hi: float, nrows: int) -> np.ndarray:
    """Sub-row index (0 = bottom) of each value; NaN -> -1."""
    if not y_hi > y_lo:
        y_hi = y_lo + 1.0
    with np.errstate(invalid="ignore"):
        r = np.floor((v - y_lo) / (y_hi - y_lo) * nrows)
    r = np.clip(np.nan_to_num(r, nan=-1.0), -1, nrows - 1)
    r[np.isnan(v)] = -1
    return r.astype(np.int64)


def rasterize(
    span_lo: np.ndarray,
    span_hi: np.ndarray,
    y_lo: float,
    y_hi: float,
    cell_rows: int,
    *,
    kind: str = "braille",
    char: str = "•",
    points: bool = False,
    dash: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Glyphs of one series: (cell rows (0 = bottom), cell columns, characters), non-empty only.

    `span_lo`/`span_hi` have one entry per sub-column (cell columns × the kind's x resolution).
    A line fills each sub-column from its min to its max row; `points` marks only the min and
    max rows; `dash` > 0 blanks every other run of `dash` sub-columns (a dashed look).
    """
    sx, sy = MARKER_RES[kind]
    ncols = span_lo.size // sx
    nsub = cell_rows * sy
    if ncols <= 0 or cell_rows <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), []
    r_lo = value_to_row(span_lo[: ncols * sx], y_lo, y_hi, nsub)
    r_hi = value_to_row(span_hi[: ncols * sx], y_lo, y_hi, nsub)
    empty = (r_lo < 0) | (r_hi < 0)
    if dash > 0:
        empty |= (np.arange(r_lo.size) // dash) % 2 == 1
    r_lo = np.where(empty, nsub, r_lo)
    r_hi = np.where(empty, -1, r_hi)
    rows = np.arange(nsub)[:, None]
    if points:
        grid = (rows == r_lo[None, :]) | (rows == r_hi[None, :])
    else:
        grid = (rows >= r_lo[None, :]) & (rows <= r_hi[None, :])
    cells = grid.reshape(cell_rows, sy, ncols, sx)
    if kind == "char":
        code = cells[:, 0, :, 0].astype(np.int64)
    else:
        bits = _BRAILLE_BITS if kind == "braille" else _HD_BITS
        code = np.einsum("aibj,ij->ab", cells.astype(np.int64), bits)
    rr, cc = np.nonzero(code)
    codes = code[rr, cc]
    if kind == "braille":
        chars = [chr(0x2800 + int(c)) for c in codes]
    elif kind == "hd":
        chars = [_HD_GLYPHS[int(c)] for c in codes]
    else:
        chars = [char] * int(codes.size)
    return rr, cc, chars


# ---------------------------------------------------------------------------------------------
# Ticks and labels
# ---------------------------------------------------------------------------------------------


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
    """Short label: 0, 0.25, 3.5, 1,200 -> 1.2k, 2.5M, 1e-05."""
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
