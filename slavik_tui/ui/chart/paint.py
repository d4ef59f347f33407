"""`ChartPainter`: the painting half of the chart widget — its series, the frame of its view
state (`charts.frame.render_frame`), and when to repaint.

Painting goes through Textual's Line API (`render_line`), straight from the frame's styled
runs: handing Textual a rich Text with thousands of coloured spans would cost more than making
the frame (~25 ms at 120×35). Appending only marks the chart dirty; a timer repaints at most
every `REFRESH_INTERVAL` seconds, and a key press repaints at once unless the last repaint was
under `KEY_REFRESH_GAP` ago. The frame is drawn in the app's theme (its $surface and
$foreground, registered with `charts.theme`), so it looks like one made without an app.
"""

from __future__ import annotations

import os
import time
from typing import Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color as TextualColor
from textual.strip import Strip
from textual.widget import Widget

from slavik_tui.charts.frame import Frame, render_frame
from slavik_tui.charts.series import Series
from slavik_tui.charts.theme import DEFAULT_THEME, register_theme
from slavik_tui.ui.chart.view import ChartView


def frame_strips(frame: Frame) -> list[Strip]:
    """The frame's lines as Textual strips, straight from its runs (no rich Text round trip)."""
    plain = Style()  # Textual's filters (NO_COLOR) expect a style on every segment
    return [
        Strip([Segment(chunk, style or plain) for chunk, style in line]).adjust_cell_length(
            frame.width, plain
        )
        for line in frame.lines
    ]


class ChartPainter(Widget):
    """A widget that paints its series as the frame of its `view_state` (see `MetricsChart`).

    Feed it from the UI thread: `add_series(...)` once, then `append(key, steps, times,
    values)` whenever rows arrive. `frame` is the frame on screen, `up_to_date` says whether it
    shows the current state; `drawn_series`, `last_frame_ms`, `render_count` describe it.
    """

    REFRESH_INTERVAL = 0.2
    """Seconds between repaints while data keep arriving."""
    KEY_REFRESH_GAP = 0.1
    """A key press repaints at once unless the last repaint is more recent than this."""

    def __init__(
        self,
        series: Iterable[Series] = (),
        *,
        title: str = "",
        no_color: bool | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._state = ChartView()
        self._title = title
        self._no_color_override = no_color
        self.drawn_series: list[str] = []
        """Keys of the series that the last frame drew (visible, with data in view)."""
        self.last_frame_ms = 0.0
        self.render_count = 0
        self._version = 0  # bumped on every visible change
        self._dirty = True
        self._last_refresh = 0.0
        self._cache_key: tuple | None = None
        self._frame: Frame | None = None
        self._strips: list[Strip] = []
        self._ncols_hint: int | None = None
        for s in series:
            self.add_series(s)

    # -- data ----------------------------------------------------------------------------------

    @property
    def view_state(self) -> ChartView:
        """What the chart shows (read it; change it through the widget's setters/actions)."""
        return self._state

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._title = value
        self._changed()

    @property
    def series(self) -> list[Series]:
        """The series in legend order."""
        return list(self._state.series.values())

    def get_series(self, key: str) -> Series:
        try:
            return self._state.series[key]
        except KeyError:
            have = ", ".join(self._state.series) or "none"
            raise KeyError(f"no series {key!r} in this chart (have: {have})") from None

    def has_series(self, key: str) -> bool:
        return key in self._state.series

    def add_series(self, series: Series) -> Series:
        if series.key in self._state.series:
            raise ValueError(f"a series with key {series.key!r} is already in the chart")
        self._state.series[series.key] = series
        self._changed()
        return series

    def append(self, key: str, steps: object, times: object, values: object) -> None:
        """Append rows to one series (UI thread only). While following, the view keeps up."""
        if self.get_series(key).append(steps, times, values):
            self._state.appended()
            self._changed()

    def remove_series(self, key: str) -> None:
        self.get_series(key)
        del self._state.series[key]
        self._changed()

    def remove_all(self) -> None:
        """Drop every series and reset the view (for reuse with another run)."""
        self._state.reset()
        self._changed()

    # -- when to repaint ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._register_theme()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._register_theme())
        self.set_interval(self.REFRESH_INTERVAL, self._tick)

    def _register_theme(self) -> None:
        """Draw in the app's theme: its $surface and $foreground (see charts.theme)."""
        surface = self.app.theme_variables.get("surface")
        foreground = self.app.theme_variables.get("foreground")
        if surface and foreground:
            rgb = TextualColor.parse(surface).rgb, TextualColor.parse(foreground).rgb
            register_theme(self.app.theme, *rgb)
        self._changed(immediate=True)

    def _changed(self, immediate: bool = False) -> None:
        """Something visible changed: repaint now (key press) or on the next tick (data)."""
        self._version += 1
        self._dirty = True
        if immediate and time.monotonic() - self._last_refresh > self.KEY_REFRESH_GAP:
            self._request_repaint()

    def _tick(self) -> None:
        if self._dirty:
            self._request_repaint()

    def _request_repaint(self) -> None:
        self._dirty = False
        self._last_refresh = time.monotonic()
        if self.is_mounted:
            self.refresh()

    # -- the frame ---------------------------------------------------------------------------------

    def _no_color(self) -> bool:
        if self._no_color_override is not None:
            return self._no_color_override
        if "NO_COLOR" in os.environ:
            return True
        try:
            return bool(self.app.no_color)
        except Exception:  # noqa: BLE001 - not in an app (benchmarks, save without mounting)
            return False

    def _theme_name(self) -> str:
        """The app's Textual theme (what `render_frame` draws in), or DEFAULT_THEME."""
        try:
            return self.app.theme
        except Exception:  # noqa: BLE001 - not in an app
            return DEFAULT_THEME

    def make_frame(self, width: int, height: int) -> Frame:
        """A frame of the current state at `width` × `height` cells (not painted)."""
        s = self._state
        frame = render_frame(
            [x for x in self.series if s.in_chart(x)],
            width=width,
            height=height,
            x_range=s.x_range,
            x_mode=s.x_mode,
            hidden_metrics=s.hidden,
            smoothing=s.smoothing_spec,
            log_y=s.log_y,
            robust_y=s.robust_y,
            cursor=s.cursor,
            title=self._title,
            status=s.status_text(),
            theme=self._theme_name(),
            no_color=self._no_color(),
            ncols_hint=self._ncols_hint,
        )
        self._ncols_hint = frame.plot_x[1] - frame.plot_x[0]
        return frame

    def _current_frame(self) -> Frame | None:
        """The frame for the current state and size, built only when something changed."""
        width, height = self.size
        if width < 20 or height < 6:
            return None
        key = (width, height, self._version, self._theme_name(), self._no_color())
        if key != self._cache_key or self._frame is None:
            frame = self.make_frame(width, height)
            self._frame, self._strips, self._cache_key = frame, frame_strips(frame), key
            self.drawn_series = frame.drawn
            self.last_frame_ms = frame.elapsed_ms
            self.render_count += 1
            self._dirty = False
        return self._frame

    @property
    def frame(self) -> Frame | None:
        """The frame last painted (None before the first paint, or while too small)."""
        return self._frame

    @property
    def up_to_date(self) -> bool:
        """The frame on screen shows the current state (nothing changed since it was made)."""
        return self._cache_key is not None and self._cache_key[2] == self._version

    def render_line(self, y: int) -> Strip:
        """Line API: paint straight from the frame's styled runs."""
        frame = self._current_frame()
        if frame is None:
            text = "chart: too small" if y == 0 else ""
            return Strip([Segment(text, Style(dim=True))]).adjust_cell_length(self.size.width)
        strips = self._strips
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, Style())

    def render(self) -> Text:
        """The chart as rich Text (for anything asking for a renderable; painting uses lines)."""
        frame = self._current_frame()
        return frame.text if frame is not None else Text("chart: too small", style="dim")

    def column_to_x(self, column: int) -> float:
        """Data x under content column `column` (clamped to the plot area)."""
        if self._frame is None:
            lo, hi = self._state.x_range
            return (lo + hi) / 2
        return self._frame.column_to_x(column)

    def legend_entry_at(self, x: int, y: int) -> str | None:
        """Key of the series whose legend entry covers content cell (x, y)."""
        return self._frame.legend_entry_at(x, y) if self._frame is not None else None
