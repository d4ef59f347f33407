"""The chart's mouse: the wheel zooms around the pointer, a left-button drag pans, a press on a
legend entry toggles its metric, and hovering over the data moves the readout cursor (it hides
again when the mouse leaves). A mixin of `MetricsChart`, which owns the state it changes."""

from __future__ import annotations

from textual import events


class ChartMouse:
    """Mouse handlers of `widget.MetricsChart` (they use its view state, actions, geometry)."""

    def _wheel(self, event: events.MouseEvent, factor: float) -> None:
        event.stop()
        self.zoom_at(self.column_to_x(event.get_content_offset_capture(self).x), factor)
        self.post_message(self.ViewChanged(self))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, self.WHEEL_ZOOM)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, 1 / self.WHEEL_ZOOM)

    @property
    def dragging(self) -> bool:
        """A left-button drag (pan) is in progress."""
        return self._drag is not None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        key = self.legend_entry_at(offset.x, offset.y)
        if key is not None:
            self.action_toggle_metric(self.get_series(key).metric)
            return
        lo, hi = self.x_range
        x0, x1 = self._frame.plot_x if self._frame is not None else (0, max(self.size.width, 1))
        self._drag = (offset.x, (lo, hi), (hi - lo) / max(x1 - x0, 1))
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None and event.button == 0:
            self._hover_at(event)
            return
        if self._drag is None or event.button != 1:
            return
        event.stop()
        start_x, start, per_cell = self._drag
        dx = event.get_content_offset_capture(self).x - start_x
        if self._state.drag(start, dx * per_cell):
            self._acted()

    def _hover_at(self, event: events.MouseMove) -> None:
        """Hover: the cursor follows the mouse over the data canvas."""
        offset = event.get_content_offset(self)
        frame = self._frame
        if offset is None or frame is None:
            return
        inside = (frame.plot_x[0] <= offset.x < frame.plot_x[1]
                  and frame.plot_y[0] <= offset.y < frame.plot_y[1])
        if inside:
            x = frame.column_to_x(offset.x)
            if self._state.x_mode != "time":
                x = round(x)
            if x != self._state.cursor:
                self._hover = True
                self.cursor = x
        elif self._hover:
            self._hover = False
            self.cursor = None

    def on_leave(self, event: events.Leave) -> None:
        if self._hover:
            self._hover = False
            self.cursor = None

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag is not None:
            self._drag = None
            self.release_mouse()
            event.stop()
