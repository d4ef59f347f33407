"""Runs side by side: one small `MetricsChart` per run in a grid, linked — pan, zoom, fit,
follow, the metric toggles, smoothing, log y, outliers, the x axis and the cursor act on every
chart at once, so the runs stay aligned (by step, steps since each run's start, or wall time
since it: `x` cycles them) and one readout line per chart reads the same x. Every chart's
'fit all' is the union of the runs' x-ranges (`MetricsChart.fit_override`), so runs of
different lengths line up from the start. ctrl+s saves the focused chart; c (clear view) stays
per chart.

The link: a key or mouse action on a chart posts `MetricsChart.ViewChanged`; the grid copies
that chart's state to the others through setters, which post nothing, so nothing loops."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from textual.containers import Grid

from slavik_tui.charts.feed import fill_chart
from slavik_tui.ui.chart.widget import MetricsChart, training_series


def copy_view_state(src: MetricsChart, dst: MetricsChart) -> None:
    """Make `dst` show what `src` shows: axis, visible range, toggles, smoothing, log y,
    outliers, extras, cursor."""
    if dst.x_mode != src.x_mode:
        dst.x_mode = src.x_mode
    if dst.hidden_metrics != src.hidden_metrics:
        dst.hidden_metrics = src.hidden_metrics
    a, b = src.view_state, dst.view_state
    if a.smoothing_spec != b.smoothing_spec:
        dst.smoothing = a.smoothing_spec
    if dst.log_y != src.log_y:
        dst.log_y = src.log_y
    if (a.robust_y, a.extras) != (b.robust_y, b.extras):
        b.robust_y, b.extras = a.robust_y, a.extras
        dst.log_y = dst.log_y  # repaint
    if dst.cursor != src.cursor:
        dst.cursor = src.cursor
    if src.view is None:
        if dst.view is not None:
            dst.view = None
    elif dst.view != src.view:
        dst.set_view(*src.view)


class CompareCharts(Grid):
    """One linked chart per run: 2 runs side by side, 3 in a row, 4 as 2×2, more in rows of 3."""

    DEFAULT_CSS = """
    CompareCharts {
        grid-size: 2;
        grid-gutter: 0 1;
        height: 1fr;
    }
    CompareCharts MetricsChart {
        height: 1fr;
        min-height: 6;
    }
    """

    @staticmethod
    def columns_for(n: int) -> int:
        return n if n <= 3 else 2 if n == 4 else 3

    @property
    def charts(self) -> list[MetricsChart]:
        return list(self.query_children(MetricsChart))

    def align_ranges(self) -> tuple[float, float] | None:
        """Make 'fit all' of every chart the union of their data ranges; returns it."""
        charts = self.charts
        ranges = [r for r in (chart.data_range() for chart in charts) if r is not None]
        union = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None
        for chart in charts:
            chart.fit_override = union
        return union

    def on_metrics_chart_view_changed(self, message: MetricsChart.ViewChanged) -> None:
        src = message.chart
        if src.parent is not self:
            return
        peers = [chart for chart in self.charts if chart is not src]
        for peer in peers:  # axis, toggles, smoothing, log y, view
            copy_view_state(src, peer)
        before = src.fit_override
        # The union depends on the axis and on which metrics are shown: ranges clamped to
        # the old one are copied again.
        if self.align_ranges() != before:
            for peer in peers:
                copy_view_state(src, peer)

    async def show(
        self,
        runs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
        like: MetricsChart | None = None,
        save_dirs: Iterable[Any] | None = None,
        origins: Iterable[float | None] | None = None,
    ) -> None:
        """One chart per (label, steps arrays, evals arrays); each titled with its label and
        drawn in the usual metric colours. `like`: a chart whose view state they all take;
        `origins`: each run's start step on those arrays (0 of the relative-step axis)."""
        await self.remove_children()
        self.styles.grid_size_columns = self.columns_for(len(runs))
        dirs = list(save_dirs) if save_dirs is not None else [None] * len(runs)
        starts = list(origins) if origins is not None else [None] * len(runs)
        charts = []
        for (label, steps, evals), save_dir, s0 in zip(runs, dirs, starts):
            series = training_series()
            for s in series:
                s.s0 = s0
            chart = MetricsChart(series, title=label, save_dir=save_dir)
            fill_chart(chart, steps, evals)
            charts.append(chart)
        await self.mount_all(charts)
        self.align_ranges()
        if like is not None:
            for chart in charts:
                copy_view_state(like, chart)
