"""Min/max reduction to columns: exact against brute force, spikes survive, block summaries
give the same answer, NaN and values a log axis cannot show are skipped."""

from __future__ import annotations

import numpy as np
import pytest

from slavik_tui.charts.reduce import reduce_columns, slice_range
from slavik_tui.charts.series import BLOCK, Series


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
