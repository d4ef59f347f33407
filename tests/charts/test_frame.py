"""A frame made without an app: series drawn, legend hits, axes, empty and hidden series, the
mouse geometry, and the SVG of it."""

from __future__ import annotations

import numpy as np

from slavik_tui.charts.frame import render_frame
from slavik_tui.charts.series import Series
from slavik_tui.charts.svg import frame_svg
from slavik_tui.charts.training import training_series

T0 = 1_700_000_000.0


def filled_run(n: int = 200) -> list[Series]:
    series = training_series()
    loss, val, reward, size = series
    x = np.arange(float(n))
    loss.append(x, T0 + x, 5.0 - x / n)
    ev = x[::20]
    val.append(ev, T0 + ev, 5.1 - ev / n)
    reward.append(x, T0 + x, x / n)
    size.append(ev, T0 + ev, np.full(ev.size, 2.0))
    return series


def test_render_frame_without_an_app_and_comparison_series():
    runs = [
        Series(f"m/r{i}", f"m/r{i}", "loss", color=(10 * i, 100, 200), run=f"m/r{i}")
        for i in range(3)
    ]
    for i, s in enumerate(runs):
        x = np.arange(100.0)
        s.append(x, 1000.0 * i + x, 3.0 - 0.01 * x + 0.1 * i)
    frame = render_frame(runs, width=80, height=20, x_range=(0.0, 99.0), title="compare")
    assert frame.drawn == ["m/r0", "m/r1", "m/r2"]
    assert "m/r1" in frame.text.plain.split("\n")[0]
    # On the time axis each run starts at 0 s (its own first row).
    frame = render_frame(runs, width=80, height=20, x_range=(0.0, 99.0), x_mode="time")
    assert frame.drawn == ["m/r0", "m/r1", "m/r2"]
    assert training_series("m/r")[0].key == "m/r:loss"



# ---- y axes --------------------------------------------------------------------------------


def test_a_nearly_constant_series_sits_mid_axis_with_round_ticks():
    loss, _val, _reward, size = training_series()
    size.from_zero = False  # a plain right-axis series (the real size axis starts at 0)
    x = np.arange(200.0)
    loss.append(x, T0 + x, 5.0 - x / 100)
    size.append(x, T0 + x, 0.3398 + 1e-5 * np.sin(x))  # 0.33979 … 0.33981
    frame = render_frame([loss, size], width=80, height=24, x_range=(0.0, 199.0))
    lines = frame.text.plain.split("\n")
    x1 = frame.plot_x[1]
    right = [line[x1 + 1:].strip() for line in lines[frame.plot_y[0]:frame.plot_y[1]]]
    labels = [label for label in right if label]
    assert len(labels) >= 2
    for label in labels:  # 0.338 / 0.340 / 0.342, not 0.33979 / 0.33980 / 0.33981
        assert len(label.split(".")[-1]) <= 3, labels
    def has_size_glyph(runs) -> bool:
        return any(style is not None and style.color is not None
                   and style.color.triplet == size.color and text.strip()
                   for text, style in runs)

    rows = [i for i, runs in enumerate(frame.lines[frame.plot_y[0]:frame.plot_y[1]])
            if has_size_glyph(runs)]
    height = frame.plot_y[1] - frame.plot_y[0]
    assert rows and abs((rows[0] + rows[-1]) / 2 - (height - 1) / 2) <= 1.5  # mid-axis


def test_lines_are_as_wide_as_the_frame_and_the_canvas_sits_inside():
    frame = render_frame(filled_run(), width=90, height=26, x_range=(0.0, 199.0), title="t")
    assert len(frame.lines) == 26
    widths = [sum(len(text) for text, _ in line) for line in frame.lines]
    top = len({row for row, *_ in frame.legend_hits})
    assert all(w <= 90 for w in widths[:top]) and set(widths[top:]) == {90}  # legend, plot
    x0, x1 = frame.plot_x
    y0, y1 = frame.plot_y
    assert 0 < x0 < x1 < 90 and 0 < y0 < y1 < 26
    plain = frame.text.plain.split("\n")
    assert "loss / reward" in frame.text.plain and "MB" in frame.text.plain  # both axes
    assert plain[0].startswith("━━ loss")  # the legend comes first
    assert frame.drawn == ["loss", "val_loss", "reward", "size_mb"]


def test_hidden_metrics_and_series_without_data_are_not_drawn():
    series = filled_run()
    frame = render_frame(series, width=80, height=24, x_range=(0.0, 199.0),
                         hidden_metrics={"reward", "size"})
    assert frame.drawn == ["loss", "val_loss"]
    assert "MB" not in frame.text.plain.split("\n", 1)[1]  # no right axis without its series
    empty = render_frame(training_series(), width=80, height=24, x_range=(0.0, 1.0))
    assert empty.drawn == [] and empty.plot_x[1] > empty.plot_x[0]  # an empty frame, still


def test_a_view_outside_the_data_draws_nothing_and_a_zoom_keeps_spikes():
    series = filled_run()
    assert render_frame(series, width=80, height=24, x_range=(500.0, 600.0)).drawn == []
    loss = series[0]
    spiky = Series("spiky", "spiky")
    y = loss.y.copy()
    y[123] = 50.0
    spiky.append(loss.x_step, loss.x_time, y)
    frame = render_frame([spiky], width=80, height=24, x_range=(0.0, 199.0))
    assert "50" in frame.text.plain  # the y axis reaches the spike


def test_legend_hits_and_columns_map_back_to_data():
    frame = render_frame(filled_run(), width=100, height=30, x_range=(0.0, 100.0))
    keys = [key for _row, _x0, _x1, key in frame.legend_hits]
    assert keys == ["loss", "val_loss", "reward", "size_mb"]
    row, x0, x1, key = frame.legend_hits[2]
    assert frame.legend_entry_at(x0, row) == "reward" == frame.legend_entry_at(x1 - 1, row)
    assert frame.legend_entry_at(x1 + 50, row + 5) is None
    c0, c1 = frame.plot_x
    assert frame.column_to_x(c0) < 1.0 and frame.column_to_x(c1 - 1) > 99.0
    assert frame.column_to_x(-5) == frame.column_to_x(c0)  # clamped to the canvas
    mid = frame.column_to_x((c0 + c1) // 2)
    assert 40.0 < mid < 60.0


def test_the_legend_wraps_and_the_status_goes_right():
    frame = render_frame(filled_run(), width=40, height=30, x_range=(0.0, 199.0),
                         status="raw · x: step")
    rows = {row for row, *_ in frame.legend_hits}
    assert rows == {0, 1}  # 4 entries do not fit 40 columns
    legend = frame.text.plain.split("\n")[:3]
    assert any(line.endswith("raw · x: step") for line in legend)


def test_log_y_and_smoothing_and_the_time_axis():
    series = filled_run(2000)
    frame = render_frame(series, width=100, height=30, x_range=(0.0, 1999.0), log_y=True,
                         smoothing=0.9, x_mode="time")
    assert frame.drawn == ["loss", "val_loss", "reward", "size_mb"]
    assert "time" in frame.text.plain and "30m" in frame.text.plain  # 2000 s of run
    noisy = Series("noisy", "noisy")
    x = np.arange(2000.0)
    noisy.append(x, T0 + x, 3.0 + np.random.default_rng(0).normal(0, 0.5, x.size))

    def tick_span(smoothing: float) -> float:  # the left axis' labelled range
        f = render_frame([noisy], width=100, height=30, x_range=(0.0, 1999.0),
                         smoothing=smoothing)
        rows = f.text.plain.split("\n")[f.plot_y[0]:f.plot_y[1]]
        left = [line[:f.plot_x[0] - 1].strip() for line in rows]
        labels = [float(text) for text in left if text]
        return max(labels) - min(labels)

    # The raw line stays drawn (faint) under the smoothed one: the axis still spans it.
    assert tick_span(0.99) >= tick_span(0.0) / 2


def test_the_size_is_a_staircase_on_an_axis_from_zero():
    series = filled_run()
    size = series[3]
    size.clear()
    size.append([0.0, 100.0], [T0, T0 + 100], [2.80, 2.85])  # one eval, then the next
    frame = render_frame([size], width=80, height=24, x_range=(0.0, 199.0))
    lines = frame.text.plain.split("\n")[frame.plot_y[0]:frame.plot_y[1]]
    x1 = frame.plot_x[1]
    right = [line[x1 + 1:].strip() for line in lines]
    assert right[-1] == "0"  # the axis starts at 0: a 2 % change is not a cliff
    c0 = frame.plot_x[0]
    rows_with_glyphs = [i for i, line in enumerate(lines) if line[c0:x1].strip()]
    assert rows_with_glyphs and max(rows_with_glyphs) <= 1  # 2.80 and 2.85: both at the top
    # Held, not ramped: between the two evals the value is 2.80 all along.
    from slavik_tui.charts.reduce import reduce_columns
    lo, hi = reduce_columns(size.x_step, size.y, 0.0, 100.0, 10, hold=True)
    assert np.allclose(lo[:9], 2.80) and np.allclose(hi[:9], 2.80) and hi[9] == 2.85
    lin_lo, _ = reduce_columns(size.x_step, size.y, 0.0, 100.0, 10)
    assert lin_lo[5] > 2.80  # a linear line would ramp


def test_ignoring_outliers_scales_to_the_percentiles_and_clips_the_spike():
    spiky = Series("spiky", "spiky", color=(200, 50, 50))
    x = np.arange(2000.0)
    y = 3.0 + 0.1 * np.sin(x / 50)
    y[700] = 80.0
    spiky.append(x, T0 + x, y)
    full = render_frame([spiky], width=100, height=30, x_range=(0.0, 1999.0))
    robust = render_frame([spiky], width=100, height=30, x_range=(0.0, 1999.0),
                          robust_y=True)
    assert "80" in full.text.plain and "80" not in robust.text.plain

    def labels(f):
        rows = f.text.plain.split("\n")[f.plot_y[0]:f.plot_y[1]]
        return [float(t) for t in (line[:f.plot_x[0] - 1].strip() for line in rows) if t]

    assert max(labels(robust)) < 3.5  # the axis is the sine's, not the spike's
    top = robust.text.plain.split("\n")[robust.plot_y[0]]
    assert top[robust.plot_x[0]:robust.plot_x[1]].strip()  # the spike clipped to the top edge


def test_frame_svg_is_an_svg_on_the_theme_background():
    frame = render_frame(filled_run(), width=80, height=24, x_range=(0.0, 199.0), title="tiny")
    svg = frame_svg(frame, "tiny run")
    assert svg.startswith("<svg") and "tiny&#160;run" in svg
    assert frame.background == (30, 30, 30) and "#1e1e1e" in svg.lower()


def two_runs() -> list[Series]:
    from slavik_tui.charts.theme import PALETTE

    out = []
    for i, (label, n) in enumerate((("tiny/1", 200), ("tiny2/3", 300))):
        loss, val, reward, size = training_series(label, PALETTE[i])
        x = np.arange(float(n))
        loss.append(x, T0 + x, 5.0 - 2 * x / n + 0.1 * i)
        ev = x[::25]
        val.append(ev, T0 + ev, 5.1 - 2 * ev / n)
        reward.append(ev, T0 + ev, ev / n)
        size.append(ev, T0 + ev, np.full(ev.size, 2.85))
        out += [loss, val, reward, size]
    return out


def test_a_comparison_is_coloured_by_run_styled_by_metric_and_its_legend_fits_80():
    series = two_runs()
    assert [s.style for s in series[:4]] == ["line", "points", "dotted", "dashed"]
    assert len({s.color for s in series[:4]}) == 1 != len({s.color for s in series})
    frame = render_frame(series, width=80, height=24, x_range=(0.0, 299.0), status="raw")
    assert {row for row, *_ in frame.legend_hits} == {0}  # 8 series, one row
    first = frame.text.plain.split("\n")[0]
    assert first.startswith("━ loss  • val  ┈ reward  ╍ MB  ━━ tiny/1 3.01  ━━ tiny2/3 3.107")
    # A click on a metric of the key toggles that metric (its hit is the first such series).
    assert [key for *_, key in frame.legend_hits] == [
        "tiny/1:loss", "tiny/1:val_loss", "tiny/1:reward", "tiny/1:size_mb"]


def test_the_readout_of_compared_runs_at_the_cursor():
    series = two_runs()
    frame = render_frame(series, width=160, height=30, x_range=(0.0, 299.0), cursor=150.0,
                         x_mode="rel", title="hidden while the cursor shows")
    lines = frame.text.plain.split("\n")
    readout = lines[1]
    assert readout.startswith("▏step +150   ■")  # runs compared: the cursor's own x
    assert "■ tiny/1: loss 3.5  val 3.6  reward 0.75  MB 2.85" in readout
    assert "■ tiny2/3: loss 4.1  val 4.1  reward 0.5  MB 2.85" in readout
    assert "hidden while" not in frame.text.plain  # the readout took the title's row
    assert frame.cursor_col is not None and frame.plot_x[0] < frame.cursor_col < frame.plot_x[1]
    # At 80 columns the two runs go on a row each; one metric shown: one row for both.
    narrow = render_frame(series, width=80, height=30, x_range=(0.0, 299.0), cursor=150.0)
    assert narrow.text.plain.split("\n")[2].startswith(" ■ tiny2/3: loss 4.1")
    solo = render_frame(series, width=80, height=30, x_range=(0.0, 299.0), cursor=150.0,
                        hidden_metrics={"reward", "size"})
    row = solo.text.plain.split("\n")[1]
    assert "tiny/1: loss 3.5  val 3.6" in row and "tiny2/3: loss 4.1  val 4.1" in row
    # Past the end of the shorter run: its last values, with where they are from.
    late = render_frame(series, width=120, height=30, x_range=(0.0, 299.0), cursor=250.0,
                        hidden_metrics={"reward", "size"})
    row = late.text.plain.split("\n")[1]
    assert row.startswith("▏step 250 ") and "tiny/1@199: loss 3.01" in row
    assert "tiny2/3: loss" in row
