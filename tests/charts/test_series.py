"""Series storage: growing buffers, sorting and resumed runs, validation; no UI in charts/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.charts.series import Series, time_origin
from slavik_tui.charts.smooth import ema


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


def test_time_origin_is_the_runs_first_row_or_t0():
    a = Series("a:loss", "a loss", run="a")
    b = Series("a:reward", "a reward", metric="reward", run="a")
    other = Series("b:loss", "b loss", run="b")
    a.append([1, 2], [105.0, 106.0], [1.0, 1.0])
    b.append([1], [100.0], [0.5])
    other.append([1], [900.0], [2.0])
    every = [a, b, other]
    assert time_origin(a, every) == 100.0  # the earliest of run "a", from its reward
    assert time_origin(other, every) == 900.0
    pinned = Series("c", "c", run="a", t0=50.0)
    assert time_origin(pinned, every) == 50.0
    assert time_origin(Series("d", "d", run="none"), every) == 0.0


def test_the_numeric_modules_import_no_ui_or_torch():
    code = (
        "import sys, slavik_tui.charts.series, slavik_tui.charts.smooth, "
        "slavik_tui.charts.reduce, slavik_tui.charts.raster, slavik_tui.charts.ticks\n"
        "bad = [m for m in ('textual', 'rich', 'plotext', 'torch') if m in sys.modules]\n"
        "print(bad)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"
