"""The app's footer: compact keys; the command-palette key shows only where there is room.

Textual 8.2's compact Footer runs grouped keys into their neighbours: its CSS sets a group's
label (`FooterLabel`) to `margin: 0` in compact mode, so "+- Zoom" touched the next key
("+- Zoom0 Fit", "123 Seriess Smooth" = "Series" + "s Smooth"), and it gives the
right-docked palette key the `margin-right: 1` of every compact key, so the column right of
"^p palette" showed whatever key lay underneath ("^p paletteH"). `AppFooter` puts one space
after a group's label (none before the group: the keys before it end with their own margin)
and docks the palette key flush right (the rules are in ui/app.tcss, with every other rule).
"""

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
