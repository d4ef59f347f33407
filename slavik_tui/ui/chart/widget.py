"""`MetricsChart`: the live training chart (also used for history replay and run comparison).

This module is the interaction: keys, saving, and the messages they post (the mouse is
`mouse.ChartMouse`). What the chart shows is a `view.ChartView` (x-range, follow, toggles,
smoothing, log y, outliers, x axis, cursor, clear point: the pan/zoom rules live there); `paint.ChartPainter`, its base, paints it as the frame
`slavik_tui.charts.frame.render_frame` makes, a few times a second at most.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from textual import work
from textual.binding import Binding
from textual.message import Message

from slavik_tui.charts.series import Series
from slavik_tui.charts.theme import PALETTE
from slavik_tui.charts.training import training_series
from slavik_tui.errors import UserError
from slavik_tui.ui.chart.mouse import ChartMouse
from slavik_tui.ui.chart.paint import ChartPainter
from slavik_tui.ui.chart.save import SaveJob, prepare_save, saved_note

__all__ = ["PALETTE", "MetricsChart", "Series", "training_series"]  # what the screens import

_PAN = Binding.Group("Pan", compact=True)
_ZOOM = Binding.Group("Zoom", compact=True)
_SERIES = Binding.Group("Series", compact=True)
_CURSOR = Binding.Group("Cursor", compact=True)
_CURSOR10 = Binding.Group("Cursor ×10", compact=True)


class _ViewField:
    """A `ChartView` field as a property of the chart: reads `view_state.<field>`; writing goes
    through `view_state.<setter>` (which validates and clamps) and repaints at once."""

    def __init__(self, field: str, setter: str, doc: str) -> None:
        self._field, self._setter, self.__doc__ = field, setter, doc

    def __get__(self, chart: "MetricsChart | None", owner: type | None = None) -> object:
        return self if chart is None else getattr(chart.view_state, self._field)

    def __set__(self, chart: "MetricsChart", value: object) -> None:
        if getattr(chart.view_state, self._setter)(value) is not False:  # False: no change
            chart._changed(immediate=True)  # noqa: SLF001 - the chart's own repaint request


class MetricsChart(ChartMouse, ChartPainter):
    """A zoomable, pannable chart of training metrics over steps or wall time.

    Feed it from the UI thread: `add_series(...)` once, then `append(key, steps, times, values)`
    whenever rows arrive (cheap: it only marks the chart dirty; a timer repaints ≤ 5×/s).
    State for owners and tests: `view`, `follow`, `hidden_metrics`, `smoothing`, `log_y`,
    `x_mode`, `fit_override`, `cursor` (all settable; the rules are `ChartView`'s; the rest —
    smoothing kind, outliers, extras — is on `view_state`), `cleared_at`,
    `drawn_series`, `frame` (the one on screen), `up_to_date`, `last_frame_ms`, `render_count`.
    Key and mouse actions post `ViewChanged`; the setters do not.

    Mouse: the wheel zooms around the x under the pointer (×0.8 per notch, inverse out);
    dragging with the left button pans; a press on a legend entry toggles its metric; hovering
    over the data moves the cursor. The pointer's x is mapped through the data canvas of the
    last frame, so no margin is guessed.
    """

    DEFAULT_CSS = """
    MetricsChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
        background: $surface;  /* the plot canvas is drawn on the theme's surface colour */
    }
    """

    # The footer shows Zoom, Fit and Save only: at 80 columns the chart shares one footer line
    # with its screen's keys (Start/Stop, Form, F1–F4, ?), which must stay in sight. Every
    # key, shown or not, is listed in the ? help (made from these BINDINGS); the series also
    # toggle by a click on their legend entry.
    BINDINGS = [
        Binding("left", "pan(-1)", "Pan", group=_PAN, show=False),
        Binding("right", "pan(1)", "Pan", group=_PAN, show=False),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", group=_ZOOM, key_display="+"),
        Binding("minus", "zoom(2)", "Zoom out", group=_ZOOM, key_display="-"),
        Binding("0", "fit", "Fit"),
        Binding("end", "follow", "Follow", show=False),
        Binding("1", "toggle_metric('loss')", "Loss", group=_SERIES, show=False),
        Binding("2", "toggle_metric('reward')", "Reward", group=_SERIES, show=False),
        Binding("3", "toggle_metric('size')", "Size", group=_SERIES, show=False),
        Binding("4", "toggle_extras", "Extras: rewards/* → gpu/* → none", show=False),
        Binding("o", "solo", "One metric at a time", show=False),
        Binding("comma", "cursor(-1)", "Cursor", group=_CURSOR, show=False, key_display=","),
        Binding("full_stop", "cursor(1)", "Cursor", group=_CURSOR, show=False, key_display="."),
        Binding("less_than_sign", "cursor(-10)", "Cursor ×10", group=_CURSOR10, show=False,
                key_display="<"),
        Binding("greater_than_sign", "cursor(10)", "Cursor ×10", group=_CURSOR10, show=False,
                key_display=">"),
        Binding("escape", "hide_cursor", "Hide cursor", show=False),
        Binding("s", "cycle_smoothing", "Smooth", show=False),
        Binding("S", "cycle_smoothing_kind", "Smoothing kind (EMA/avg/gauss)", show=False),
        Binding("l", "toggle_log", "Log y", show=False),
        Binding("y", "toggle_robust", "Ignore outliers (y 1–99%)", show=False),
        Binding("ctrl+s", "save", "Save"),
        Binding("x", "toggle_x", "Step/+step/time axis", show=False),
        Binding("c", "clear", "Clear view", show=False),
    ]

    can_focus = True

    WHEEL_ZOOM = 0.8
    """Span factor of one wheel notch towards you (zoom in); its inverse zooms out."""
    PAN_FRACTION = 0.1

    class ViewChanged(Message):
        """Posted after a key or mouse action on the chart (pan, zoom, fit, follow, a metric
        toggle, smoothing, log y, x axis, clear) — not by the setters, so an owner can copy
        the new state to other charts (`compare.CompareCharts` does) without loops."""

        def __init__(self, chart: "MetricsChart") -> None:
            super().__init__()
            self.chart = chart

        @property
        def control(self) -> "MetricsChart":
            return self.chart

    class Saved(Message):
        """Posted (from the save worker) after ctrl+s wrote the chart's SVG and CSV."""

        def __init__(self, chart: "MetricsChart", svg_path: Path, csv_path: Path) -> None:
            super().__init__()
            self.chart = chart
            self.svg_path = svg_path
            self.csv_path = csv_path

    class SaveFailed(Message):
        """Posted (from the save worker) when writing the files failed; `error` says why."""

        def __init__(self, chart: "MetricsChart", error: str) -> None:
            super().__init__()
            self.chart = chart
            self.error = error

    def __init__(
        self,
        series: Iterable[Series] = (),
        *,
        title: str = "",
        save_dir: str | os.PathLike[str] | None = None,
        no_color: bool | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(series, title=title, no_color=no_color, name=name, id=id,
                         classes=classes, disabled=disabled)
        self.save_dir: Path | None = Path(save_dir) if save_dir is not None else None
        """Where ctrl+s writes (None: the current directory)."""
        self._drag: tuple[int, tuple[float, float], float] | None = None
        """(start column, x-range at the press, data units per cell) while dragging."""
        self._hover = False
        """The cursor follows the mouse (it hides when the mouse leaves)."""
        self._tipped = False

    @classmethod
    def for_run(cls, run: str = "", **kwargs: object) -> "MetricsChart":
        """A chart with the four series of a training run (see `training_series`)."""
        return cls(training_series(run), **kwargs)  # type: ignore[arg-type]

    # -- view state (settable by owners; keys and mouse change it through the same rules) -------

    view = _ViewField("range", "set_view", "Visible x-range (lo, hi) in x-axis units, or None: "
                      "fit everything.")
    hidden_metrics = _ViewField("hidden", "set_hidden", 'Metrics ("loss", "reward", "size") '
                                "whose series are hidden.")
    smoothing = _ViewField("smoothing", "set_smoothing", "EMA weight applied before drawing "
                           "lines (0 = raw).")
    x_mode = _ViewField("x_mode", "set_x_mode", '"step" or "time" (seconds since each run\'s '
                        "first row).")
    fit_override = _ViewField(
        "fit_override", "set_fit_override", "The x-range 'fit all' shows instead of the data's "
        "own, or None: charts side by side set the union of their runs' ranges, so that runs "
        "of different lengths line up. Reset when the x axis changes (its units do).")

    @property
    def follow(self) -> bool:
        """New data keep the view on the newest point: true while the view shows the tail."""
        return self._state.follow

    @follow.setter
    def follow(self, on: bool) -> None:
        self._state.follow = bool(on)
        self._changed(immediate=True)

    @property
    def log_y(self) -> bool:
        """Log-scale y axes (values <= 0 are not drawn)."""
        return self._state.log_y

    @log_y.setter
    def log_y(self, on: bool) -> None:
        self._state.log_y = bool(on)
        self._changed(immediate=True)

    def set_view(self, lo: float, hi: float) -> None:
        """Show [lo, hi] (clamped to the data; the whole range becomes 'fit all')."""
        self.view = (lo, hi)

    @property
    def cleared_at(self) -> float | None:
        """The x (current axis units) from which the chart shows data after c, else None."""
        return self._state.cleared_at

    @property
    def x_range(self) -> tuple[float, float]:
        """The x-range on screen now."""
        return self._state.x_range

    def data_range(self) -> tuple[float, float] | None:
        """The x-range of the data (visible series; all when none is visible), None if empty."""
        return self._state.data_range()

    def fit_range(self) -> tuple[float, float]:
        """The x-range shown by 'fit all' (see `ChartView.fit_range`)."""
        return self._state.fit_range()

    def zoom_at(self, anchor: float, factor: float) -> None:
        """Scale the visible span by `factor` keeping `anchor` (an x value) in place."""
        if self._state.zoom_at(anchor, factor):
            self._changed(immediate=True)

    @property
    def live(self) -> bool:
        """Rows may still arrive; False: the mode line says "■ ended", never "● live"."""
        return self._state.live

    @live.setter
    def live(self, value: bool) -> None:
        if self._state.live != bool(value):
            self._state.live = bool(value)
            self._changed(immediate=True)

    def status_text(self) -> str:
        """Mode line shown right of the legend."""
        return self._state.status_text()

    # -- actions (keys and the mouse; each posts ViewChanged) ------------------------------------

    def _acted(self, changed: bool = True) -> None:
        if changed:
            self._changed(immediate=True)
        self.post_message(self.ViewChanged(self))

    def action_pan(self, direction: int) -> None:
        if self._state.pan(direction * self.PAN_FRACTION):  # else: everything is on screen
            self._acted()

    def action_zoom(self, factor: float) -> None:
        self._acted(self._state.zoom(factor))

    def action_fit(self) -> None:
        self._state.fit()
        self._acted()

    def action_follow(self) -> None:
        self._state.follow_tail()
        self._acted()

    def action_toggle_metric(self, metric: str) -> None:
        self._state.toggle_metric(metric)
        self._acted()

    def action_toggle_extras(self) -> None:
        """Show the next group of extra series: the per-function rewards, then each GPU
        reading, then none."""
        if not self._state.extra_groups():
            self.notify("No extra series in this history: per-function rewards (rewards/*) "
                        "and GPU readings (gpu/*) appear when a run logs them.", timeout=4)
            return
        group = self._state.cycle_extras()
        if group is not None:
            self.notify(f"Extras: {group}/*" if group == "rewards" else f"Extras: {group}",
                        timeout=2)
        self._acted()

    def action_solo(self) -> None:
        self._state.solo_next()
        self._acted()

    def action_cycle_smoothing(self) -> None:
        self._state.cycle_smoothing()
        self._smoothing_tip()
        self._acted()

    def action_cycle_smoothing_kind(self) -> None:
        self._state.cycle_smoothing_kind()
        self._smoothing_tip()
        self._acted()

    def _smoothing_tip(self) -> None:
        if not self._tipped:  # once: how the two keys split the work
            self._tipped = True
            self.notify("s: smoothing strength · S: kind (EMA → running avg → Gaussian) · "
                        "the raw line stays faint under it", timeout=4)

    def action_toggle_log(self) -> None:
        self._state.log_y = not self._state.log_y
        self._acted()

    def action_toggle_robust(self) -> None:
        self._state.robust_y = not self._state.robust_y
        self._acted()

    def action_toggle_x(self) -> None:
        self._acted(self._state.cycle_x_mode())

    # -- the cursor (keys and hover) ---------------------------------------------------------------

    @property
    def cursor(self) -> float | None:
        """The readout cursor's x (axis units), None while hidden."""
        return self._state.cursor

    @cursor.setter
    def cursor(self, x: float | None) -> None:
        self._state.set_cursor(x)
        self._changed(immediate=True)

    def action_cursor(self, cells: int) -> None:
        lo, hi = self.x_range
        frame = self._frame
        ncols = frame.plot_x[1] - frame.plot_x[0] if frame is not None else 100
        self._state.move_cursor(cells, (hi - lo) / max(ncols, 1))
        self._hover = False
        self._acted()

    def action_hide_cursor(self) -> None:
        self._state.set_cursor(None)
        self._acted()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hide_cursor":  # Esc goes on to the screen while there is no cursor
            return self._state.cursor is not None
        return True

    def action_clear(self) -> None:
        """Start a fresh view at the newest point; press again to bring back the history."""
        cleared = self._state.toggle_clear()
        if cleared is None:
            return  # no data: nothing to clear
        if cleared:
            self.notify("Chart cleared — press c again to show the whole history.", timeout=3)
        self._acted()

    # -- saving ----------------------------------------------------------------------------------

    def action_save(self) -> None:
        try:
            job = self._prepare_save(self.save_dir)
        except (OSError, UserError) as exc:
            self.notify(f"Could not save the chart: {exc}", severity="error")
            return
        self._write_save(job)

    @work(thread=True, exclusive=True, group="chart-save")
    def _write_save(self, job: SaveJob) -> None:
        try:
            svg, csv_path = job.write()
        except OSError as exc:
            self.post_message(self.SaveFailed(self, f"Could not save the chart: {exc}"))
            return
        self.post_message(self.Saved(self, svg, csv_path))

    def on_metrics_chart_saved(self, message: Saved) -> None:
        if message.chart is self:  # the message goes on to the owners
            self.notify(saved_note(message.svg_path, message.csv_path), title="Chart saved")

    def on_metrics_chart_save_failed(self, message: SaveFailed) -> None:
        if message.chart is self:
            self.notify(message.error, severity="error")

    def save(self, directory: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
        """Write the chart as SVG and the visible series' raw rows in view as CSV (blocking).

        Returns (svg_path, csv_path). `directory` defaults to `save_dir`, then the cwd.
        """
        return self._prepare_save(directory if directory is not None else self.save_dir).write()

    def _prepare_save(self, directory: str | os.PathLike[str] | None) -> SaveJob:
        width, height = self.size if self.size.width >= 20 and self.size.height >= 8 else (120, 35)
        frame = self.make_frame(width, height)
        return prepare_save(directory, frame, self._title or "slavik-tui chart", self._state)
