"""Runs side by side: one small `MetricsChart` per run in a grid, linked — pan, zoom, fit,
follow, the metric toggles, smoothing, log y and the x axis act on every chart at once, so the
runs stay aligned (by step, or by wall time since each run's start with `x`). ctrl+s saves the
focused chart; c (clear view) stays per chart."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from textual import events
from textual.containers import Grid

from slavik_tui.ui.feed import fill_chart
from slavik_tui.ui.widgets.chart import MetricsChart, training_series


def copy_view_state(src: MetricsChart, dst: MetricsChart) -> None:
    """Make `dst` show what `src` shows: axis, visible range, toggles, smoothing, log y."""
    if dst.x_mode != src.x_mode:
        dst.x_mode = src.x_mode
    if dst.hidden_metrics != src.hidden_metrics:
        dst.hidden_metrics = src.hidden_metrics
    if dst.smoothing != src.smoothing:
        dst.smoothing = src.smoothing
    if dst.log_y != src.log_y:
        dst.log_y = src.log_y
    if src.view is None:
        if dst.view is not None:
            dst.action_fit()
    elif dst.view != src.view:
        dst.set_view(*src.view)


class LinkedChart(MetricsChart):
    """A MetricsChart that, after each key or mouse action, gives its siblings in the same
    `CompareCharts` the same view. Only actions sync (never setters), so nothing loops."""

    def _sync_later(self) -> None:
        self.call_later(self._sync)

    def _sync(self) -> None:
        parent = self.parent
        if parent is None:
            return
        for peer in parent.query_children(LinkedChart):
            if peer is not self:
                copy_view_state(self, peer)

    # -- the chart's own actions, then the peers -------------------------------------------
    def action_pan(self, direction: int) -> None:
        super().action_pan(direction)
        self._sync()

    def action_zoom(self, factor: float) -> None:
        super().action_zoom(factor)
        self._sync()

    def action_fit(self) -> None:
        super().action_fit()
        self._sync()

    def action_follow(self) -> None:
        super().action_follow()
        self._sync()

    def action_toggle_metric(self, metric: str) -> None:
        super().action_toggle_metric(metric)
        self._sync()

    def action_cycle_smoothing(self) -> None:
        super().action_cycle_smoothing()
        self._sync()

    def action_toggle_log(self) -> None:
        super().action_toggle_log()
        self._sync()

    def action_toggle_x(self) -> None:
        super().action_toggle_x()
        self._sync()

    # -- the mouse: Textual runs the base class's handler after this one -------------------
    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._sync_later()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._sync_later()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if event.button == 1:
            self._sync_later()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._sync_later()


class CompareCharts(Grid):
    """One linked chart per run: 2 runs side by side, 3 in a row, 4 as 2×2, more in rows of 3."""

    DEFAULT_CSS = """
    CompareCharts {
        grid-size: 2;
        grid-gutter: 0 1;
        height: 1fr;
    }
    CompareCharts LinkedChart {
        height: 1fr;
        min-height: 6;
    }
    """

    @staticmethod
    def columns_for(n: int) -> int:
        return n if n <= 3 else 2 if n == 4 else 3

    @property
    def charts(self) -> list[LinkedChart]:
        return list(self.query_children(LinkedChart))

    async def show(
        self,
        runs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
        like: MetricsChart | None = None,
        save_dirs: Iterable[Any] | None = None,
    ) -> None:
        """One chart per (label, steps arrays, evals arrays); each titled with its label and
        drawn in the usual metric colours. `like`: a chart whose view state they all take."""
        await self.remove_children()
        self.styles.grid_size_columns = self.columns_for(len(runs))
        dirs = list(save_dirs) if save_dirs is not None else [None] * len(runs)
        charts = []
        for (label, steps, evals), save_dir in zip(runs, dirs):
            chart = LinkedChart(training_series(), title=label, save_dir=save_dir)
            fill_chart(chart, steps, evals)
            charts.append(chart)
        await self.mount_all(charts)
        if like is not None:
            for chart in charts:
                copy_view_state(like, chart)
