"""Axis ranges, round ticks and their labels."""

from __future__ import annotations

import math

import pytest

from slavik_tui.charts.ticks import (
    axis_range,
    format_duration,
    format_number,
    linear_ticks,
    log_ticks,
    nice_ticks,
    step_ticks,
    time_ticks,
)


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


def test_number_labels_are_short():
    assert [format_number(v) for v in (0, 0.25, 3.5, 12_000, 2_500_000, 1e-5)] == [
        "0", "0.25", "3.5", "12k", "2.5M", "1e-5"
    ]
    assert format_number(2.5, step=2.5) == "2.5" and format_number(3.0, step=0.5) == "3.0"
