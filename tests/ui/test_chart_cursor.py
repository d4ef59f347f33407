"""The readout cursor, the legend's last values, the x-axis cycle, smoothing kinds, ignoring
outliers and one metric at a time — driven by keys and the mouse through Pilot."""

from __future__ import annotations

import numpy as np
from test_chart import N, repainted, run, running

from slavik_tui.charts.feed import append_metric_rows
from slavik_tui.charts.readout import format_value
from slavik_tui.ui.chart.widget import MetricsChart


def readout(chart: MetricsChart) -> str:
    lines = chart.frame.text.plain.split("\n")
    found = [line for line in lines if line.startswith("▏")]
    return found[0] if found else ""


def left_ticks(chart: MetricsChart) -> list[float]:
    f = chart.frame
    rows = f.text.plain.split("\n")[f.plot_y[0]:f.plot_y[1]]
    labels = [line[:f.plot_x[0] - 1].strip() for line in rows]
    return [float(t.replace("k", "e3")) for t in labels if t]


def test_cursor_keys_move_it_and_the_readout_reads_every_series():
    async def scenario():
        async with running() as (app, pilot, chart):
            assert chart.cursor is None and readout(chart) == ""
            loss, val = chart.get_series("loss"), chart.get_series("val_loss")
            await pilot.press("full_stop")  # shows on the newest point
            await repainted(pilot, chart)
            assert chart.cursor == N - 1
            line = readout(chart)
            assert line.startswith(f"▏step {N - 1:,}")
            assert f"loss {format_value(loss.y[-1])}" in line
            assert f"val {format_value(val.y[-1])}" in line and "MB 82" in line
            assert "reward 0.7" in line
            assert chart.frame.cursor_col == chart.frame.plot_x[1] - 1
            # One cell back, then ten: a cell is the view's span over the data columns.
            ncols = chart.frame.plot_x[1] - chart.frame.plot_x[0]
            cell = (N - 1) / ncols
            await pilot.press("comma")
            assert chart.cursor == round(N - 1 - cell)
            await pilot.press("less_than_sign")
            step = int(chart.cursor)
            assert step == round(round(N - 1 - cell) - 10 * cell)
            await repainted(pilot, chart)
            line = readout(chart)
            assert f"step {step:,}" in line and f"loss {format_value(loss.y[step])}" in line
            # val loss: the last eval at or before the cursor (evals every 250 steps)
            at = int(np.searchsorted(val.x_step, step, side="right")) - 1
            assert f"val {format_value(val.y[at])}" in line
            await pilot.press("greater_than_sign", "greater_than_sign")  # stops at the end
            assert chart.cursor == N - 1
            await pilot.press("escape")
            await repainted(pilot, chart)
            assert chart.cursor is None and readout(chart) == ""
            await pilot.press("escape")  # no cursor: Esc is the screen's again, nothing breaks
            assert chart.cursor is None

    run(scenario())


def test_a_zoomed_view_pans_with_the_cursor_and_smoothed_values_say_so():
    async def scenario():
        async with running() as (app, pilot, chart):
            chart.view = (1000.0, 2000.0)
            await repainted(pilot, chart)
            await pilot.press("full_stop")
            assert chart.cursor == 2000.0
            for _ in range(8):
                await pilot.press("greater_than_sign")
            lo, hi = chart.view
            assert lo <= chart.cursor <= hi and hi > 2000.0
            await pilot.press("s", "s")  # EMA 0.9
            await repainted(pilot, chart)
            line = readout(chart)
            assert "loss ~" in line and "val ~" not in line  # points are never smoothed

    run(scenario())


def test_hover_moves_the_cursor_and_leaving_the_canvas_hides_it():
    async def scenario():
        async with running() as (app, pilot, chart):
            frame = chart.frame
            col = (frame.plot_x[0] + frame.plot_x[1]) // 2
            row = (frame.plot_y[0] + frame.plot_y[1]) // 2
            await pilot.hover(chart, offset=(col, row))
            await repainted(pilot, chart)
            assert chart.cursor == round(frame.column_to_x(col))
            assert readout(chart).startswith(f"▏step {int(chart.cursor):,}")
            await pilot.hover(chart, offset=(col + 5, row))
            assert chart.cursor == round(chart.frame.column_to_x(col + 5))
            await pilot.hover(chart, offset=(col, 0))  # over the legend: off the canvas
            assert chart.cursor is None

    run(scenario())


def test_the_legend_shows_each_series_last_value():
    async def scenario():
        async with running() as (app, pilot, chart):
            first = chart.frame.text.plain.split("\n")[0]
            loss = chart.get_series("loss")
            assert f"loss {format_value(loss.y[-1])}" in first
            assert "size MB 82" in chart.frame.text.plain

    run(scenario())


def test_keys_cycle_the_axis_smoothing_kind_outliers_and_one_metric():
    async def scenario():
        async with running() as (app, pilot, chart):
            status = lambda: chart.status_text()  # noqa: E731
            await pilot.press("x")
            assert chart.x_mode == "rel" and "x: +step" in status()
            await pilot.press("x", "x")
            assert chart.x_mode == "step"
            await pilot.press("S")  # the kind key from raw: a running average, mid strength
            assert status().startswith("avg 15 · ")
            await pilot.press("S", "s")
            assert status().startswith("gauss 2% · ")  # its level 2 (1 %), then one more
            await pilot.press("S")
            assert chart.view_state.smoothing_kind == "twema"
            assert any("s: smoothing strength" in note for _title, note in app.notes)
            # Ignore outliers: a spike of 1e3 no longer sets the axis.
            chart.append("loss", [N], [1_700_000_000.0 + N / 2], [1000.0])
            await pilot.press("y")
            await repainted(pilot, chart)
            assert chart.view_state.robust_y and "y 1–99%" in status()
            assert max(left_ticks(chart)) < 10
            await pilot.press("y")
            await repainted(pilot, chart)
            assert max(left_ticks(chart)) >= 1000
            # One metric at a time: loss, reward, size, then all again.
            seen = []
            for _ in range(4):
                await pilot.press("o")
                seen.append(set(chart.hidden_metrics))
            assert seen == [{"reward", "size"}, {"loss", "size"}, {"loss", "reward"}, set()]

    run(scenario())


def test_extras_are_hidden_until_their_key_shows_one_group_at_a_time():
    async def scenario():
        chart = MetricsChart.for_run(title="t")
        async with running(chart) as (app, pilot, chart):
            await pilot.press("4")  # nothing to show yet: a note, no state change
            assert chart.view_state.extras is None
            assert any("No extra series" in note for _title, note in app.notes)
            rows = [(i + 1, 1, step, 1.7e9 + step / 2, name, value)
                    for i, (step, name, value) in enumerate([
                        (0, "rewards/chrf", 0.2), (0, "gpu/util", 50.0),
                        (2500, "rewards/chrf", 0.4), (2500, "gpu/util", 97.0),
                        (2500, "rewards/prefix", 0.1)])]
            append_metric_rows(chart, rows)
            await repainted(pilot, chart)
            assert not set(chart.drawn_series) & {"rewards/chrf", "gpu/util"}
            assert "chrf" not in chart.frame.text.plain  # not even in the legend
            await pilot.press("4")
            await repainted(pilot, chart)
            assert {"rewards/chrf", "rewards/prefix"} <= set(chart.drawn_series)
            assert "gpu/util" not in chart.drawn_series
            await pilot.press("4")
            await repainted(pilot, chart)
            assert "gpu/util" in chart.drawn_series and "rewards/chrf" not in chart.drawn_series
            assert "MB / %" in chart.frame.text.plain  # the right axis names both units
            await pilot.press("4")
            await repainted(pilot, chart)
            assert chart.view_state.extras is None and "gpu/util" not in chart.drawn_series

    run(scenario())


def test_side_by_side_charts_share_the_cursor_smoothing_and_outliers():
    from conftest import wait_for
    from test_chart import T0, _arrays, _SideApp

    from slavik_tui.ui.chart.compare import CompareCharts

    async def scenario():
        app = _SideApp()
        async with app.run_test(size=(120, 30)) as pilot:
            side = app.query_one(CompareCharts)
            await side.show([("long", *_arrays(100, T0)), ("short", *_arrays(40, T0 + 5000))])
            long, short = side.charts
            await wait_for(pilot, lambda: long.drawn_series and short.drawn_series)
            short.focus()
            await pilot.press("full_stop", "S", "y")
            assert long.cursor == short.cursor == 100.0  # the union range's newest step
            assert long.view_state.smoothing_spec == short.view_state.smoothing_spec
            assert long.view_state.robust_y and short.view_state.robust_y
            await repainted(pilot, long)
            await repainted(pilot, short)
            assert readout(long).startswith("▏step 100")
            assert "loss ~4.0" in readout(short)  # its last point, step 40: it ended earlier
            await pilot.press("escape")
            assert long.cursor is None and short.cursor is None

    run(scenario())
