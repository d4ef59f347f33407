"""Smoothing a series before it is drawn, as W&B does: `Smoothing(kind, amount)`.

* "twema" (the default): W&B's time-weighted EMA (`twema`). The decay is per unit of x, not
  per point: over every 1/1000 of the series' x-range a point's weight shrinks by
  sqrt(amount), so uneven spacing (evals at odd steps, a gap after a resume) and series of
  different density (loss per step, reward per eval) smooth alike; a debias term (the weights'
  own running sum) keeps the start on the data instead of pulled towards 0.
* "mean": a running average of `amount` points centred on each point (truncated at the ends).
* "gauss": a Gaussian kernel of standard deviation `amount` × the x-range, on both sides.

`ema` is the plain per-point EMA (TensorBoard's, no debias needed as it starts on y[0]),
vectorised as a blocked linear recurrence; `Series` extends it incrementally on append.
The other kinds depend on the whole series (its x-range), so `Series` recomputes them when the
data change: a few ms for 1e6 points. Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

KINDS: tuple[str, ...] = ("twema", "mean", "gauss")
LEVELS: dict[str, tuple[float, ...]] = {
    "twema": (0.8, 0.9, 0.95, 0.99),  # ≈ 1 %, 2 %, 4 %, 20 % of the x-range per e-fold
    "mean": (5.0, 15.0, 51.0, 151.0),  # points in the window
    "gauss": (0.005, 0.01, 0.02, 0.05),  # sigma as a fraction of the x-range
}
"""The amounts the strength key steps through, per kind (0 = raw comes before them)."""
KIND_NAMES = {"twema": "EMA", "mean": "avg", "gauss": "gauss"}
VIEWPORT = 1000.0
"""W&B's VIEWPORT_SCALE: the twema weight applies per 1/1000 of the x-range."""


@dataclass(frozen=True)
class Smoothing:
    """How lines are smoothed: `kind` (one of `KINDS`) and its `amount` (0 = raw): the twema
    parameter in [0, 1), the running average's points (>= 1), the Gaussian's sigma as a
    fraction of the x-range in [0, 1]."""

    kind: str = "twema"
    amount: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"smoothing kind must be one of {KINDS}, not {self.kind!r}")
        a = float(self.amount)
        limit = {"twema": 0 <= a < 1, "mean": a == 0 or a >= 1, "gauss": 0 <= a <= 1}
        if not (math.isfinite(a) and limit[self.kind]):
            raise ValueError(f"{self.kind} smoothing amount out of range: {self.amount}")
        object.__setattr__(self, "amount", a)

    @property
    def on(self) -> bool:
        return self.amount > 0

    @property
    def label(self) -> str:
        """"raw", "EMA 0.9", "avg 15", "gauss 2%": what the status line shows."""
        if not self.on:
            return "raw"
        amount = {"twema": f"{self.amount:g}", "mean": f"{self.amount:.0f}",
                  "gauss": f"{self.amount * 100:g}%"}[self.kind]
        return f"{KIND_NAMES[self.kind]} {amount}"

    def apply(self, x: np.ndarray, y: np.ndarray, span: float | None = None) -> np.ndarray:
        """`y` (at sorted `x`) smoothed; a copy of `y` when off. `span`: the x-range the
        twema and Gaussian scale to (None: the data's own)."""
        if not self.on:
            return np.array(y, dtype=np.float64)
        if self.kind == "twema":
            return twema(x, y, self.amount, span)
        if self.kind == "mean":
            return running_mean(y, int(self.amount))
        return gaussian(x, y, self.amount, span)

    def start(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, object]:
        """`apply(x, y)` and what `extend` needs to carry on (twema's state)."""
        if self.kind == "twema":
            return twema_from(x, y, self.amount)
        return self.apply(x, y), None

    def extend(self, x: np.ndarray, y: np.ndarray, old: np.ndarray, span: float,
               state: object = None) -> tuple[np.ndarray, int, object]:
        """`apply(x, y, span)` given `old` = that of the first `old.size` points (same span)
        and `state` from `start`/`extend`: twema carries on from its state (the old values
        stand); the windowed kinds recompute the tail whose values the new points change,
        from one window further back (exact). Returns (smoothed, first index that changed,
        the state)."""
        n_old = old.size
        if self.kind == "twema":
            tail, state = twema_from(x[n_old:], y[n_old:], self.amount, span,
                                     state)  # type: ignore[arg-type]
            return np.concatenate((old, tail)), n_old, state
        if self.kind == "mean":
            window = int(self.amount)
            j0 = max(n_old - window // 2, 0)  # centred: the last half-window sees new points
            i0 = max(j0 - (window - 1) // 2, 0)
        else:
            reach = _TRUNCATE * self.amount * span
            j0 = int(np.searchsorted(x, x[n_old] - reach, side="left"))
            i0 = int(np.searchsorted(x, x[j0] - reach, side="left"))
        seg = self.apply(x[i0:], y[i0:], span)
        return np.concatenate((old[:j0], seg[j0 - i0:])), j0, None


def _on_finite(x: np.ndarray, y: np.ndarray, fn) -> np.ndarray:
    """`fn(x, y)` over the finite values only; a non-finite value holds the smoothed value
    before it (NaN before the first finite one)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    good = np.isfinite(y)
    if good.all():
        return fn(x, y) if y.size else y.copy()
    if not good.any():
        return np.full(y.size, np.nan)
    smoothed = fn(x[good], y[good])
    last = np.cumsum(good) - 1
    return np.where(last >= 0, smoothed[np.maximum(last, 0)], np.nan)


_GROUP = 500.0  # e^500 stays far from float64's overflow (e^709)


TwemaState = tuple[float, float, float, float]
"""(N, D, x, value) at the last finite point: where `twema_from` carries on."""


def twema(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
          param: float, span: float | None = None) -> np.ndarray:
    """W&B's time-weighted EMA of `y` at sorted `x`:

        w = min(sqrt(param), 0.999);  a_i = w ** ((x_i - x_{i-1}) / range(x) * 1000)
        N_i = a_i N_{i-1} + y_i;  D_i = a_i D_{i-1} + 1;  smoothed_i = N_i / D_i

    Vectorised: N_i = sum_j y_j exp(-(d_i - d_j)) with d = k (x - x_0), evaluated as a cumsum
    in groups over which d grows by at most 500 (no overflow), the sums carried between groups.
    A range of 0 (all x equal) weighs every point alike (a cumulative mean). `span` replaces
    range(x) (a tail computed at the scale of the whole series). Non-finite values hold the
    smoothed value before them.
    """
    return twema_from(x, y, param, span)[0]


def twema_from(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, param: float,
               span: float | None = None, state: TwemaState | None = None,
               ) -> tuple[np.ndarray, TwemaState | None]:
    """`twema` carrying on from `state` (that of the points before these, at the same span):
    (smoothed, the state after them). Appending rows then costs their own number only."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    w = min(math.sqrt(param), 0.999)
    if param <= 0 or w <= 0 or y.size == 0:
        return y.copy(), state
    good = np.isfinite(y)
    xf, yf = (x, y) if good.all() else (x[good], y[good])
    held = np.nan if state is None else state[3]
    if xf.size == 0:
        return np.full(y.size, held), state
    width = float(x[-1] - x[0]) if span is None else span
    k = -math.log(w) * VIEWPORT / width if width > 0 else 0.0
    num, den, x_prev = (0.0, 0.0, xf[0]) if state is None else state[:3]
    d = k * (xf - x_prev)
    out = np.empty(yf.size)
    groups = np.floor(d / _GROUP).astype(np.int64)
    starts = np.flatnonzero(np.diff(groups, prepend=-1))
    ends = np.append(starts[1:], yf.size)
    d_last = 0.0
    for a, b in zip(starts.tolist(), ends.tolist()):
        grow = np.exp(d[a:b] - d[a])
        carry = np.exp(-(d[a:b] - d_last))  # the sums so far, decayed to each point
        n_i = carry * num + np.cumsum(yf[a:b] * grow) / grow
        d_i = carry * den + np.cumsum(grow) / grow
        out[a:b] = n_i / d_i
        num, den, d_last = float(n_i[-1]), float(d_i[-1]), float(d[b - 1])
    after = (num, den, float(xf[-1]), float(out[-1]))
    if good.all():
        return out, after
    last = np.cumsum(good) - 1
    return np.where(last >= 0, out[np.maximum(last, 0)], held), after


def running_mean(y: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """The mean of the `window` points centred on each point (fewer at the ends: those there
    are); non-finite values are left out."""
    window = int(window)

    def run(_x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if window <= 1:
            return y.copy()
        half_lo, half_hi = (window - 1) // 2, window // 2
        csum = np.concatenate(([0.0], np.cumsum(y)))
        i = np.arange(y.size)
        lo = np.maximum(i - half_lo, 0)
        hi = np.minimum(i + half_hi + 1, y.size)
        return (csum[hi] - csum[lo]) / (hi - lo)

    y = np.asarray(y, dtype=np.float64).ravel()
    return _on_finite(np.arange(y.size, dtype=np.float64), y, run)


_EXACT_PAIRS = 200_000
_TRUNCATE = 4.0  # sigmas


def gaussian(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
             fraction: float, span: float | None = None) -> np.ndarray:
    """Gaussian kernel smoothing: each point becomes sum_j y_j g_ij / sum_j g_ij with
    g_ij = exp(-(x_i - x_j)^2 / (2 sigma^2)), sigma = `fraction` × the x-range, neighbours
    beyond 4 sigma ignored. Exact while that makes under 2e5 pairs; beyond, the points are
    spread onto a grid of sigma/8 (linear weights), convolved and read back by linear
    interpolation (relative error ~1e-3 of the local variation). `span` replaces the x-range.
    """
    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        sigma = fraction * (float(x[-1] - x[0]) if span is None else span)
        if not sigma > 0 or y.size < 2:
            return y.copy()
        reach = _TRUNCATE * sigma
        lo = np.searchsorted(x, x - reach, side="left")
        hi = np.searchsorted(x, x + reach, side="right")
        if int((hi - lo).sum()) <= _EXACT_PAIRS:
            return _gaussian_exact(x, y, sigma, lo, hi)
        return _gaussian_grid(x, y, sigma)

    return _on_finite(np.asarray(x), np.asarray(y), run)


def _gaussian_exact(x, y, sigma, lo, hi) -> np.ndarray:
    out = np.empty(y.size)
    widest = int((hi - lo).max())
    chunk = max(1, _EXACT_PAIRS // max(widest, 1) // 4)
    for a in range(0, y.size, chunk):
        b = min(a + chunk, y.size)
        j0, j1 = int(lo[a]), int(hi[b - 1])
        dx = x[a:b, None] - x[None, j0:j1]
        g = np.exp(-0.5 * (dx / sigma) ** 2)
        g[np.abs(dx) > _TRUNCATE * sigma] = 0.0
        out[a:b] = (g @ y[j0:j1]) / g.sum(axis=1)
    return out


def _gaussian_grid(x, y, sigma) -> np.ndarray:
    h = sigma / 8
    pos = (x - x[0]) / h
    cell = np.minimum(np.floor(pos).astype(np.int64), int(pos[-1]))
    frac = pos - cell
    size = int(pos[-1]) + 2
    num = np.bincount(cell, y * (1 - frac), size) + np.bincount(cell + 1, y * frac, size)
    den = np.bincount(cell, 1 - frac, size) + np.bincount(cell + 1, frac, size)
    taps = np.arange(-int(8 * _TRUNCATE), int(8 * _TRUNCATE) + 1)
    kernel = np.exp(-0.5 * (taps / 8.0) ** 2)
    num = np.convolve(num, kernel, mode="same")
    den = np.convolve(den, kernel, mode="same")
    grid = np.arange(size, dtype=np.float64)
    return np.interp(pos, grid, num) / np.interp(pos, grid, den)

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
