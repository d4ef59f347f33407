"""The chart's view state without an app: fit, pan, zoom, follow, clear, the x axis, toggles."""

from __future__ import annotations

import numpy as np
import pytest

from slavik_tui.charts.training import training_series
from slavik_tui.charts.smooth import Smoothing
from slavik_tui.ui.chart.view import MIN_SPAN, SMOOTHING_MODES, ChartView

T0 = 1_700_000_000.0


def make_view(n: int = 1001) -> ChartView:
    """Steps 0..n-1 at 2 s a step; evals every 100 steps."""
    view = ChartView()
    for s in training_series():
        view.series[s.key] = s
    x = np.arange(float(n))
    view.series["loss"].append(x, T0 + 2 * x, 5.0 - x / n)
    ev = x[::100]
    view.series["val_loss"].append(ev, T0 + 2 * ev, 5.0 - ev / n)
    return view


def test_fit_all_shows_the_data_and_set_range_clamps_to_it():
    view = make_view()
    assert view.range is None and view.x_range == (0.0, 1000.0) and view.follow
    view.set_range(100.0, 300.0)
    assert view.range == (100.0, 300.0) and not view.follow
    view.set_range(-50.0, 50.0)  # slides back inside, same span
    assert view.range == (0.0, 100.0)
    view.set_range(950.0, 1100.0)  # reaches the tail: follows
    assert view.range == (850.0, 1000.0) and view.follow
    view.set_range(-10.0, 2000.0)  # wider than the data: fit all
    assert view.range is None and view.follow
    view.set_view((10.0, 20.0))
    assert view.range == (10.0, 20.0)
    view.set_view(None)
    assert view.range is None


def test_zoom_keeps_the_anchor_and_stops_at_the_smallest_span():
    view = make_view()
    assert view.zoom_at(250.0, 0.5)
    assert view.range == (125.0, 625.0)  # 250 stays 1/4 of the way across
    assert view.zoom(2.0) and view.range is None  # out to everything: fit all again
    for _ in range(20):
        view.zoom(0.5)
    lo, hi = view.range
    assert hi - lo == pytest.approx(MIN_SPAN["step"])
    assert not view.zoom(0.5)  # nothing smaller


def test_pan_moves_by_a_fraction_and_only_when_zoomed():
    view = make_view()
    assert not view.pan(0.1) and view.range is None  # everything visible: nothing to pan to
    view.set_range(400.0, 600.0)
    assert view.pan(-0.1) and view.range == (380.0, 580.0)
    for _ in range(50):
        view.pan(-0.1)
    assert view.range == (0.0, 200.0)  # stops at the data


def test_drag_moves_the_range_from_where_it_started():
    view = make_view()
    assert not view.drag((0.0, 1000.0), 10.0)  # fit all: nothing to drag
    view.set_range(400.0, 600.0)
    assert view.drag((400.0, 600.0), 50.0)  # dragged right by 50 x units shows earlier data
    assert view.range == (350.0, 550.0)
    assert not view.drag((400.0, 600.0), 0.0)


def test_following_slides_with_new_data_until_the_view_leaves_the_tail():
    view = make_view()
    view.set_range(800.0, 1000.0)
    assert view.follow
    view.series["loss"].append([1001, 1002], [T0 + 2002, T0 + 2004], [1.0, 1.0])
    view.appended()
    assert view.range == (802.0, 1002.0)
    view.pan(-0.5)
    assert not view.follow
    before = view.range
    view.series["loss"].append([1003], [T0 + 2006], [1.0])
    view.appended()
    assert view.range == before  # not following: stays put
    view.follow_tail()  # End: back to the tail, same span
    assert view.follow and view.range == (803.0, 1003.0)


def test_clear_starts_at_the_newest_point_and_toggles_back():
    empty = ChartView()
    assert empty.toggle_clear() is None and empty.clear_floor is None
    view = make_view()
    view.set_range(10.0, 20.0)
    assert view.toggle_clear() is True
    assert view.cleared_at == 1000.0 and view.range is None
    assert view.x_range == (1000.0, 1000.0 + MIN_SPAN["step"])  # nothing newer yet
    view.series["loss"].append([1001, 1050], [T0 + 2002, T0 + 2100], [1.0, 1.0])
    assert view.x_range == (1000.0, 1050.0)
    assert "from 1000" in view.status_text()
    view.set_x_mode("time")  # the clear point has one value per axis
    assert view.cleared_at == 2000.0
    view.set_x_mode("step")
    assert view.toggle_clear() is False
    assert view.cleared_at is None and view.x_range == (0.0, 1050.0)


def test_the_x_axis_keeps_a_zoomed_stretch_and_drops_the_fit_override():
    view = make_view()
    view.set_range(100.0, 300.0)
    assert view.set_fit_override((0.0, 1000.0))
    assert view.set_x_mode("time")
    assert view.range == (200.0, 600.0) and view.fit_override is None  # 2 s a step
    assert not view.set_x_mode("time")  # already
    assert view.set_x_mode("step") and view.range == (100.0, 300.0)
    view.set_range(900.0, 1000.0)  # following the tail stays following
    view.set_x_mode("time")
    assert view.follow and view.range == (1800.0, 2000.0)
    with pytest.raises(ValueError, match="x_mode"):
        view.set_x_mode("epoch")  # type: ignore[arg-type]


def test_a_fit_override_widens_fit_all_and_clamps_a_zoom():
    view = make_view()
    assert view.set_fit_override((0.0, 2000.0))
    assert view.fit_range() == (0.0, 2000.0) and view.data_range() == (0.0, 1000.0)
    assert not view.set_fit_override((0.0, 2000.0))  # no change
    view.set_range(1500.0, 1900.0)
    view.set_fit_override((0.0, 1000.0))  # narrower: the zoom is clamped into it
    assert view.range == (600.0, 1000.0)
    with pytest.raises(ValueError, match="finite lo <= hi"):
        view.set_fit_override((5.0, 1.0))


def test_toggles_validate_and_cycle():
    view = make_view()
    view.toggle_metric("loss")
    assert view.hidden == {"loss"}
    view.toggle_metric("loss")
    assert view.hidden == frozenset()
    with pytest.raises(ValueError, match="unknown metrics"):
        view.set_hidden({"accuracy"})
    seen = []
    for _ in SMOOTHING_MODES:
        view.cycle_smoothing()
        seen.append(view.smoothing)
    assert seen == [0.8, 0.9, 0.95, 0.99, 0.0]
    view.set_smoothing(0.5)
    view.cycle_smoothing()  # from a weight not in the cycle: the first after raw
    assert view.smoothing == 0.8
    with pytest.raises(ValueError, match="out of range"):
        view.set_smoothing(1.0)
    # The kind key keeps the strength level: 0.8 is level 1 of twema -> 5 points -> 0.5 %.
    view.cycle_smoothing_kind()
    assert (view.smoothing_kind, view.smoothing) == ("mean", 5.0)
    view.cycle_smoothing_kind()
    assert view.smoothing_spec == Smoothing("gauss", 0.005)
    assert view.status_text().startswith("gauss 0.5% · ")
    view.cycle_smoothing_kind()
    view.set_smoothing(0.0)
    view.cycle_smoothing_kind()  # from raw: the middle level, so the key always smooths
    assert view.smoothing_spec == Smoothing("mean", 15.0)


def test_hidden_series_do_not_count_in_the_extent_unless_all_are_hidden():
    view = make_view()
    view.series["reward"].append([0, 5000], [T0, T0 + 10_000], [0.1, 0.9])
    assert view.extent() == (0.0, 5000.0)
    view.set_hidden({"reward"})
    assert view.extent() == (0.0, 1000.0)
    view.set_hidden({"loss", "reward", "size"})
    assert view.extent() == (0.0, 5000.0)  # nothing visible: all data


def test_status_text_says_the_mode():
    view = make_view()
    assert view.status_text() == "raw · x: step · ● live"
    view.set_smoothing(0.9)
    view.log_y = True
    view.set_x_mode("time")
    view.set_range(0.0, 100.0)
    assert view.status_text() == "EMA 0.9 · log y · x: time · ‖ paused"


def test_reset_forgets_series_and_view():
    view = make_view()
    view.set_range(1.0, 50.0)
    view.toggle_clear()
    view.reset()
    assert view.series == {} and view.range is None and view.clear_floor is None
    assert view.x_range == (0.0, 1.0 + 1.0)  # no data: (0, 1) widened to the smallest span


def test_status_text_of_an_ended_run_never_says_live():
    view = ChartView()
    view.live = False
    assert view.status_text() == "raw · x: step"  # an empty chart: neither live nor ended
    view = make_view()
    view.live = False
    assert view.status_text() == "raw · x: step · ■ ended"
    view.live = True
    assert view.status_text().endswith("● live")
