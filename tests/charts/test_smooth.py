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


# ---- W&B's kinds: time-weighted EMA, running average, Gaussian ------------------------------

from slavik_tui.charts.smooth import (  # noqa: E402
    KINDS, LEVELS, Smoothing, gaussian, running_mean, twema)


def test_twema_by_hand_on_uneven_steps():
    # x-range 3, so a gap of 1 step is 1000/3 viewport units: pick the weight that halves a
    # point's weight over one step (w ** (1000/3) = 0.5); a gap of 2 steps then quarters it.
    param = 0.5 ** (6 / 1000)  # w = sqrt(param)
    got = twema([0.0, 1.0, 3.0], [1.0, 3.0, 2.0], param)
    # N: 1 | 0.5·1 + 3 = 3.5 | 0.25·3.5 + 2 = 2.875;  D: 1 | 1.5 | 0.25·1.5 + 1 = 1.375
    assert got == pytest.approx([1.0, 3.5 / 1.5, 2.875 / 1.375], rel=1e-12)


def test_twema_starts_on_the_data_and_keeps_a_constant():
    assert twema(np.arange(50.0), np.full(50, 7.25), 0.99) == pytest.approx(np.full(50, 7.25))
    got = twema(np.arange(200.0), np.linspace(5, 3, 200), 0.95)
    assert got[0] == 5.0  # debiased: no pull towards 0 at the start


def test_twema_weighs_by_x_not_by_point_count():
    # The same curve sampled every step and every 7th step smooths to the same values at the
    # shared steps (nearly: the sparse one sees fewer points).
    x = np.arange(0.0, 7001.0)
    y = np.sin(x / 700.0)
    dense = twema(x, y, 0.9)
    sparse = twema(x[::7], y[::7], 0.9)
    assert np.abs(dense[::7] - sparse).max() < 0.02
    per_point = ema(y[::7], 0.9)  # a per-point EMA on the sparse one lags 7× further
    assert np.abs(dense[::7] - per_point).max() > 0.05


def twema_loop(x, y, param):
    """W&B's sample code, line by line."""
    w = min(math.sqrt(param), 0.999)
    span = x[-1] - x[0]
    last = dw = 0.0
    out = []
    for i, v in enumerate(y):
        change = (x[i] - x[i - 1 if i else 0]) / span * 1000
        a = w ** change
        last = last * a + v
        dw = dw * a + 1
        out.append(last / dw)
    return np.array(out)


@pytest.mark.parametrize("param", [0.01, 0.6, 0.9, 0.99])
def test_twema_matches_the_wandb_loop_over_many_groups(param):
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0, 1e5, 4000))
    y = rng.normal(size=x.size)
    assert twema(x, y, param) == pytest.approx(twema_loop(x, y, param), rel=1e-9, abs=1e-12)


def test_running_mean_by_hand_and_across_gaps():
    assert running_mean([1.0, 2.0, 3.0, 4.0, 10.0], 3) == pytest.approx(
        [1.5, 2.0, 3.0, 17 / 3, 7.0])
    got = running_mean([1.0, np.nan, 3.0, 5.0], 3)  # the NaN is left out and held over
    assert got == pytest.approx([2.0, 2.0, 3.0, 4.0])


def test_gaussian_by_hand_and_its_grid_against_the_exact_sum():
    g1, g2 = math.exp(-0.5), math.exp(-2.0)  # weights 1 and 2 sigma away (sigma = 1)
    got = gaussian([0.0, 1.0, 2.0], [0.0, 3.0, 6.0], 0.5)
    assert got == pytest.approx([(3 * g1 + 6 * g2) / (1 + g1 + g2), 3.0,
                                 (6 + 3 * g1) / (1 + g1 + g2)])
    from slavik_tui.charts import smooth

    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(0, 5000, 3000))
    y = np.sin(x / 300) + rng.normal(0, 0.3, x.size)
    sigma = 0.01 * (x[-1] - x[0])
    lo = np.searchsorted(x, x - 4 * sigma)
    hi = np.searchsorted(x, x + 4 * sigma, side="right")
    exact = smooth._gaussian_exact(x, y, sigma, lo, hi)
    assert np.abs(smooth._gaussian_grid(x, y, sigma) - exact).max() < 2e-3


def test_smoothing_validates_and_labels():
    assert Smoothing().label == "raw" and not Smoothing().on
    assert Smoothing("twema", 0.9).label == "EMA 0.9"
    assert Smoothing("mean", 15).label == "avg 15"
    assert Smoothing("gauss", 0.02).label == "gauss 2%"
    for kind, amount in (("twema", 1.0), ("mean", 0.5), ("gauss", 2.0), ("box", 1.0)):
        with pytest.raises(ValueError):
            Smoothing(kind, amount)
    assert set(LEVELS) == set(KINDS)


def test_a_series_recomputes_whole_series_smoothing_when_data_arrive():
    s = Series("loss", "loss")
    x = np.arange(100.0)
    s.append(x, x, np.cos(x / 10))
    spec = Smoothing("twema", 0.9)
    first = s.drawable(spec).copy()
    s.append(x + 100, x + 100, np.cos((x + 100) / 10))
    after = s.drawable(spec)
    assert after.size == 200
    assert after == pytest.approx(twema(s.x_step, s.y, 0.9))  # the x-range doubled: all of it
    assert not np.allclose(after[:100], first)
    mins, _maxs = s.block_minmax(spec)
    assert mins.size == 200 // 64 and mins[0] == pytest.approx(after[:64].min())


@pytest.mark.parametrize("spec", [Smoothing("twema", 0.95), Smoothing("mean", 15),
                                  Smoothing("gauss", 0.01)])
def test_live_rows_recompute_only_the_tail_at_the_scale_of_the_last_full_pass(spec):
    rng = np.random.default_rng(6)
    n = 20_000
    x = np.arange(float(n))
    y = np.sin(x / 900) + rng.normal(0, 0.2, n)
    y[[5, 19_990]] = np.nan  # gaps are held over in the tail too
    s = Series("loss", "loss")
    s.append(x[:19_900], x[:19_900], y[:19_900])
    s.drawable(spec)
    span = s._whole[spec][2]
    for a in range(19_900, n, 25):  # a live run: 4 polls of 25 rows (0.5 % longer)
        s.append(x[a:a + 25], x[a:a + 25], y[a:a + 25])
        got = s.drawable(spec)
    assert s._whole[spec][2] == span  # extended, not redone
    want = spec.apply(x, y, span)  # the same scale, computed in one go
    # exact for twema (to e^-40) and the running average; the Gaussian's grid starts elsewhere
    assert np.nanmax(np.abs(got - want)) < (2e-3 if spec.kind == "gauss" else 1e-9)
    mins, maxs = s.block_minmax(spec)
    full = got[: mins.size * 64].reshape(-1, 64)  # the block summaries follow the tail
    assert np.array_equal(mins, np.nanmin(full, axis=1))
    assert np.array_equal(maxs, np.nanmax(full, axis=1))
    # Grown by more than SPAN_GROWTH: a full pass at the new scale.
    s.append(x + n, x + n, y)
    assert s.drawable(spec) == pytest.approx(spec.apply(s.x_step, s.y), nan_ok=True)
    # A resumed run cutting the history starts over as well.
    s.append([100.0], [100.0], [3.0])
    assert len(s) == 101
    assert s.drawable(spec) == pytest.approx(spec.apply(s.x_step, s.y), nan_ok=True)
