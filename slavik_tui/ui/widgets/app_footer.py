"""The app's footer: compact keys; the command-palette key shows only where there is room."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

PALETTE_MIN_WIDTH = 100  # below this the screen's own keys need the whole line


class AppFooter(Footer):
    """Footer(compact=True), with `^p palette` at the right edge on terminals ≥ 100 columns."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_MIN_WIDTH
        if wide != self.show_command_palette:
            self.show_command_palette = wide
            self.call_after_refresh(self.recompose)
