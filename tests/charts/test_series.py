"""The chart's numeric core: storage, smoothing, min/max reduction, rasterising, ticks."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.charts.series import (
    BLOCK,
    Series,
    axis_range,
    ema,
    format_duration,
    linear_ticks,
    log_ticks,
    nice_ticks,
    rasterize,
    reduce_columns,
    slice_range,
    step_ticks,
    time_ticks,
)


def brute_columns(x, y, lo, hi, ncols, connect):
    """Reference: per-column min/max by explicit loops over a densely sampled polyline."""
    out_lo = np.full(ncols, np.nan)
    out_hi = np.full(ncols, np.nan)
    width = (hi - lo) / ncols
    for k in range(ncols):
        c0, c1 = lo + k * width, lo + (k + 1) * width
        last = k == ncols - 1
        vals = [v for xi, v in zip(x, y) if c0 <= xi < c1 or (last and xi == hi)]
        if connect:
            for edge in (c0, c1):
                if x[0] <= edge <= x[-1]:
                    vals.append(float(np.interp(edge, x, y)))
        if vals:
            out_lo[k], out_hi[k] = min(vals), max(vals)
    return out_lo, out_hi


# -- storage -----------------------------------------------------------------------------------


def test_append_grows_by_doubling_and_keeps_everything():
    s = Series("loss", "loss")
    capacities = set()
    for i in range(5000):
        s.append([i], [100.0 + i], [1.0 / (i + 1)])
        capacities.add(s._y.capacity)
    assert len(s) == 5000
    assert np.array_equal(s.x_step, np.arange(5000.0))
    assert s.y[-1] == pytest.approx(1 / 5000)
    # Doubling: a handful of distinct capacities, each twice the previous one.
    caps = sorted(capacities)
    assert len(caps) <= 6
    assert all(b == 2 * a for a, b in zip(caps, caps[1:]))


def test_append_validates_and_normalises_rows():
    s = Series("r", "reward", metric="reward")
    with pytest.raises(ValueError, match="equal lengths"):
        s.append([1, 2], [1], [1, 2])
    # Unsorted chunk is sorted by step; rows without a finite step/time are dropped.
    kept = s.append([3, 1, 2, np.nan], [30, 10, 20, 40], [0.3, 0.1, 0.2, 0.4])
    assert kept == 3
    assert s.x_step.tolist() == [1, 2, 3]
    assert s.y.tolist() == [0.1, 0.2, 0.3]
    # A time that steps back is clamped so the time axis stays searchable.
    s.append([4], [5], [0.5])
    assert s.x_time.tolist() == [10, 20, 30, 30]
    # A NaN value is kept (it belongs in the CSV) but flagged.
    s.append([5], [50], [np.nan])
    assert len(s) == 5 and s.has_nonfinite


def test_resumed_run_replaces_repeated_steps():
    s = Series("loss", "loss")
    s.append(np.arange(10), np.arange(10), np.full(10, 2.0))
    s.smoothed(0.9)  # a cache that must be cut back too
    s.block_minmax()
    s.append([6, 7, 8], [20, 21, 22], [1.0, 1.0, 1.0])  # resumed from step 5's checkpoint
    assert s.x_step.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert s.y[-3:].tolist() == [1.0, 1.0, 1.0]
    assert np.allclose(s.smoothed(0.9), ema(s.y, 0.9))


def test_series_rejects_bad_fields():
    with pytest.raises(ValueError, match="metric"):
        Series("k", "x", metric="accuracy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="yside"):
        Series("k", "x", yside="top")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="style"):
        Series("k", "x", style="bars")  # type: ignore[arg-type]


# -- smoothing ---------------------------------------------------------------------------------


def ema_loop(y, w, init=None):
    s = None if init is None else init
    out = []
    for v in y:
        if not math.isfinite(v):
            out.append(np.nan if s is None else s)
            continue
        s = v if s is None else w * s + (1 - w) * v
        out.append(s)
    return np.array(out)


@pytest.mark.parametrize("weight", [0.6, 0.9, 0.99])
def test_ema_matches_a_loop(weight):
    rng = np.random.default_rng(1)
    y = rng.normal(3, 1, 20_011)  # not a multiple of the block size
    assert np.allclose(ema(y, weight), ema_loop(y, weight), rtol=1e-12, atol=1e-12)
    assert np.allclose(ema(y[:7], weight, init=2.5), ema_loop(y[:7], weight, init=2.5))


def test_ema_skips_non_finite_values():
    y = np.array([np.nan, 1.0, 2.0, np.inf, 4.0, np.nan])
    got = ema(y, 0.5)
    assert np.isnan(got[0])
    assert np.allclose(got[1:], ema_loop(y, 0.5)[1:])
    assert got[3] == got[2]  # held over the inf


def test_smoothed_cache_extends_incrementally():
    rng = np.random.default_rng(2)
    y = rng.normal(size=3000)
    s = Series("loss", "loss")
    for chunk in np.array_split(np.arange(3000), 17):
        s.append(chunk, chunk, y[chunk])
        s.smoothed(0.9)
    assert np.allclose(s.smoothed(0.9), ema(y, 0.9), rtol=1e-12)
    assert s.smoothed(0.0) is not None and np.array_equal(s.smoothed(0.0), y)


# -- reduction ---------------------------------------------------------------------------------


def test_spike_in_a_million_points_survives():
    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    y = np.sin(x / 5000.0)
    y[654_321] = 40.0
    y[123_457] = -40.0
    s = Series("loss", "loss")
    s.append(x, x, y)
    for blocks in (None, s.block_minmax()):
        lo, hi = reduce_columns(s.x_step, s.y, 0, n - 1, 240, blocks=blocks)
        assert np.nanmax(hi) == 40.0 and np.nanmin(lo) == -40.0
        assert np.nanargmax(hi) == int(654_321 / (n - 1) * 240)
        assert np.isfinite(lo).all()


@pytest.mark.parametrize("connect", [True, False])
def test_reduction_matches_brute_force(connect):
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 100, 300))
    y = rng.normal(size=300)
    for lo, hi, ncols in [(0, 100, 37), (12.5, 40.0, 50), (-10, 5, 9), (99, 130, 4), (20, 20.3, 8)]:
        got = reduce_columns(x, y, lo, hi, ncols, connect=connect)
        want = brute_columns(x, y, lo, hi, ncols, connect)
        assert np.allclose(got[0], want[0], equal_nan=True), (lo, hi)
        assert np.allclose(got[1], want[1], equal_nan=True), (lo, hi)


def test_block_summaries_give_the_same_answer():
    rng = np.random.default_rng(4)
    n = 200_000
    x = np.sort(rng.integers(0, n // 2, n)).astype(np.float64)  # repeated steps too
    y = rng.standard_cauchy(n)
    s = Series("loss", "loss")
    s.append(x, x, y)
    blocks = s.block_minmax()
    assert blocks[0].size == n // BLOCK
    for _ in range(50):
        lo, hi = np.sort(rng.uniform(-100, n // 2 + 100, 2))
        ncols = int(rng.integers(1, 260))
        direct = reduce_columns(s.x_step, s.y, lo, hi, ncols)
        fast = reduce_columns(s.x_step, s.y, lo, hi, ncols, blocks=blocks)
        assert np.array_equal(direct[0], fast[0], equal_nan=True)
        assert np.array_equal(direct[1], fast[1], equal_nan=True)


def test_slicing_ignores_points_outside_the_range():
    x = np.arange(100.0)
    y = np.zeros(100)
    y[10] = 99.0  # outside [50, 80]
    assert slice_range(x, 50, 80) == (50, 81)
    assert slice_range(x, 50, 80, pad=1) == (49, 82)
    lo, hi = reduce_columns(x, y, 50, 80, 10, connect=False)
    assert np.nanmax(hi) == 0.0
    # A line from a point outside still enters the range: the crossing at the edge counts.
    y[49] = 10.0
    lo, hi = reduce_columns(x, y, 49.5, 80, 10, connect=True)
    assert hi[0] == pytest.approx(5.0)
    lo, hi = reduce_columns(x, y, 49.5, 80, 10, connect=False)
    assert hi[0] == 0.0


def test_values_that_cannot_be_drawn_are_skipped():
    s = Series("reward", "reward", metric="reward")
    s.append(np.arange(6.0), np.arange(6.0), [1.0, 0.0, -3.0, 10.0, np.inf, 100.0])
    assert s.has_nonpositive and s.has_nonfinite
    linear = s.drawable(0.0, log=False)
    assert np.isnan(linear[4]) and linear[2] == -3.0  # inf hidden, negatives fine
    log = s.drawable(0.0, log=True)
    assert np.isnan(log[[1, 2, 4]]).all() and log[[0, 3, 5]].tolist() == [1.0, 10.0, 100.0]
    lo, hi = reduce_columns(s.x_step, log, 0, 5, 6, connect=False)
    assert lo[0] == 1.0 and hi[5] == 100.0
    assert np.isnan(lo[[1, 2, 4]]).all()
    # As a line, a NaN leaves a gap instead of poisoning its neighbours.
    lo, hi = reduce_columns(s.x_step, log, 0, 5, 6, connect=True)
    assert np.isnan(lo[1]) and np.isnan(lo[2])
    assert lo[3] == 10.0 and hi[5] == 100.0
    # A series without such values is drawn from its own array (no copy).
    clean = Series("loss", "loss")
    clean.append([0, 1], [0, 1], [2.0, 1.0])
    assert clean.drawable(0.0, log=True) is clean.drawable(0.0) or np.shares_memory(
        clean.drawable(0.0, log=True), clean.y
    )


def test_block_summaries_skip_nan():
    rng = np.random.default_rng(5)
    n = 100_000
    y = rng.normal(size=n)
    y[rng.random(n) < 0.3] = np.nan
    y[10_000:12_000] = np.nan  # whole blocks of nothing
    s = Series("loss", "loss")
    s.append(np.arange(n), np.arange(n), y)
    values = s.drawable()
    cases = [(0, n - 1, 50, [5]), (9_000, 13_000, 7, [2, 3, 4]), (500, 99_000, 3, [])]
    for lo, hi, ncols, empty in cases:
        direct = reduce_columns(s.x_step, values, lo, hi, ncols)
        fast = reduce_columns(s.x_step, values, lo, hi, ncols, blocks=s.block_minmax())
        assert np.array_equal(direct[0], fast[0], equal_nan=True)
        assert np.array_equal(direct[1], fast[1], equal_nan=True)
        # Only the columns inside the all-NaN stretch are empty.
        assert np.flatnonzero(np.isnan(direct[0])).tolist() == empty


def test_time_offset_shifts_the_query():
    x = 1.7e9 + np.arange(10.0)
    y = np.arange(10.0)
    lo, hi = reduce_columns(x, y, 2.0, 5.0, 3, connect=False, x_offset=1.7e9)
    assert lo.tolist() == [2.0, 3.0, 4.0]
    assert hi.tolist() == [2.0, 3.0, 5.0]


# -- rasterising -------------------------------------------------------------------------------


def test_rasterize_braille_line_and_points():
    span = np.full(8, 0.5)
    rows, cols, chars = rasterize(span, span, 0.0, 1.0, 2, kind="braille")
    # 4 cells wide, one row: y=0.5 is sub-row 4 of 8 -> bottom dots of the top cell row.
    assert cols.tolist() == [0, 1, 2, 3] and set(rows.tolist()) == {1}
    assert set(chars) == {"⣀"}
    # A vertical stroke fills every dot of its sub-column.
    lo = np.array([0.0, np.nan])
    hi = np.array([1.0, np.nan])
    rows, cols, chars = rasterize(lo, hi, 0.0, 1.0, 1, kind="braille")
    assert chars == ["⡇"]
    # Points mark only min and max.
    rows, cols, chars = rasterize(lo[:1], hi[:1], 0.0, 1.0, 3, kind="char", points=True, char="•")
    assert rows.tolist() == [0, 2] and chars == ["•", "•"]


def test_rasterize_hd_and_dashes():
    lo = np.array([0.0, 0.0, 0.9, 0.9])
    rows, cols, chars = rasterize(lo, lo, 0.0, 1.0, 1, kind="hd")
    assert chars == ["▄", "▀"]
    span = np.zeros(16)
    rows, cols, chars = rasterize(span, span, 0.0, 1.0, 1, kind="braille", dash=4)
    assert cols.tolist() == [0, 1, 4, 5]  # 2 cells on, 2 cells off


# -- ticks -------------------------------------------------------------------------------------


def test_nice_ticks_are_round():
    assert nice_ticks(0.013, 0.97, 6).tolist() == [0.2, 0.4, 0.6, 0.8]
    ticks, labels = linear_ticks(2.0, 3.0, 6)
    assert labels == ["2.0", "2.2", "2.4", "2.6", "2.8", "3.0"]
    assert step_ticks(0, 1_000_000, 6)[1] == ["0", "200k", "400k", "600k", "800k", "1M"]
    assert step_ticks(10, 13, 8)[1] == ["10", "11", "12", "13"]


def test_axis_range_has_a_minimum_span_around_flat_data():
    # a nearly constant series (size MB ≈ 0.3398): centred, ±1 %, round ticks
    lo, hi = axis_range(0.33979, 0.33981)
    assert (lo + hi) / 2 == pytest.approx(0.3398)
    assert hi - lo == pytest.approx(2 * 0.01 * 0.33981)
    ticks, labels = linear_ticks(lo, hi, 5)
    assert labels == ["0.338", "0.340", "0.342"]
    assert axis_range(82.0, 82.0) == pytest.approx((81.18, 82.82))
    assert axis_range(-2.0, -2.0) == pytest.approx((-2.02, -1.98))
    assert axis_range(0.0, 0.0) == (-1.0, 1.0)  # zero: ±1
    # real variation keeps the 4 % padding, even around zero and on a zoomed plateau
    assert axis_range(1.0, 3.0) == pytest.approx((0.92, 3.08))
    assert axis_range(-0.001, 0.001) == pytest.approx((-0.00108, 0.00108))
    assert axis_range(2.5, 2.6) == pytest.approx((2.496, 2.604))
    lo, hi = axis_range(2.5, 2.53)  # a 1.2 % plateau: centred, and still over half the height
    assert (lo + hi) / 2 == pytest.approx(2.515) and 0.03 / (hi - lo) > 0.5
    # log axes (log10 values): at least ±1 % in y too
    lo, hi = axis_range(math.log10(4.4), math.log10(4.4), log=True)
    assert 10**lo == pytest.approx(4.4 / 1.01) and 10**hi == pytest.approx(4.4 * 1.01)
    assert axis_range(float("nan"), 1.0) == (0.0, 1.0)
    assert axis_range(3.0, 1.0) == pytest.approx((0.92, 3.08))


def test_log_ticks_are_decades_or_round_multiples():
    pos, labels = log_ticks(math.log10(0.01), math.log10(20), 8)
    assert labels == ["0.01", "0.1", "1", "10"]
    assert pos == [-2.0, -1.0, 0.0, 1.0]
    pos, labels = log_ticks(math.log10(0.15), math.log10(1.2), 8)
    assert labels == ["0.2", "0.5", "1"]
    pos, labels = log_ticks(math.log10(2.5), math.log10(3.1), 8)
    assert labels[0] == "2.5" and labels[-1] == "3.1"
    for p, lab in zip(pos, labels):
        assert p == pytest.approx(math.log10(float(lab)))
    pos, labels = log_ticks(-12, 5, 6)
    assert len(pos) <= 6 and all(float(lab) > 0 for lab in labels)


def test_time_labels():
    assert [format_duration(s) for s in (0, 45, 60, 90, 3600, 7500, 90000)] == [
        "0s", "45s", "1m", "1m30s", "1h", "2h05m", "1d1h"
    ]
    assert time_ticks(0, 95, 6)[1] == ["0s", "30s", "1m", "1m30s"]
    assert time_ticks(0, 3700, 6)[1] == ["0s", "15m", "30m", "45m", "1h"]


def test_chart_data_imports_no_ui_or_torch():
    code = (
        "import sys, slavik_tui.charts.series\n"
        "bad = [m for m in ('textual', 'rich', 'plotext', 'torch') if m in sys.modules]\n"
        "print(bad)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"
