"""EMA smoothing: matches a plain loop, skips non-finite values, extends its cache on append."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slavik_tui.charts.series import Series
from slavik_tui.charts.smooth import ema


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
