"""The app's footer: compact keys; the command-palette key shows only where there is room;
keys that do not fit are left out whole, and a "…" says so.

Textual 8.2's compact Footer runs grouped keys into their neighbours: its CSS sets a group's
label (`FooterLabel`) to `margin: 0` in compact mode, so "+- Zoom" touched the next key
("+- Zoom0 Fit", "123 Seriess Smooth" = "Series" + "s Smooth"), and it gives the
right-docked palette key the `margin-right: 1` of every compact key, so the column right of
"^p palette" showed whatever key lay underneath ("^p paletteH"). `AppFooter` puts one space
after a group's label (none before the group: the keys before it end with their own margin)
and docks the palette key flush right (the rules are in ui/app.tcss, with every other rule).

At 80 columns a screen's keys can need more than the line: Textual cuts the last one
mid-word ("f Ful"). Once laid out, `AppFooter` hides every key (a group with its label) from
the first one that does not end before the right edge, and shows "…" after the last one
kept; every key stays listed in ? (help).
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterLabel, KeyGroup  # not re-exported

PALETTE_MIN_WIDTH = 100  # below this the screen's own keys need the whole line
MORE = "…"


class AppFooter(Footer):
    """Footer(compact=True), with `^p palette` at the right edge on terminals ≥ 100 columns,
    and "…" in place of the keys that do not fit."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self.cut = 0
        """How many keys (a group counts once) are left out for want of room."""
        self._fitted_width = -1  # the width the keys were last laid out for

    def compose(self) -> ComposeResult:
        yield from super().compose()
        if self._bindings_ready:
            more = FooterLabel(MORE, classes="-more")
            more.display = False
            yield more

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self._fit)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width == self._fitted_width:
            return  # a height-only change: the same keys fit
        self._fitted_width = event.size.width
        wide = event.size.width >= PALETTE_MIN_WIDTH
        if wide != self.show_command_palette:
            self.show_command_palette = wide
        # Laid out again from every key: a wider line may fit the keys left out.
        self.call_after_refresh(self.recompose)

    def _units(self) -> list[list[Widget]]:
        """The keys in order, a group together with its label; not the palette key, not "…"."""
        units: list[list[Widget]] = []
        for child in self.children:
            if child.has_class("-more") or child.has_class("-command-palette"):
                continue
            if isinstance(child, FooterLabel) and units and isinstance(units[-1][0], KeyGroup):
                units[-1].append(child)
            else:
                units.append([child])
        return units

    def _fit(self) -> None:
        """Hide the keys from the first that ends past the right edge on; show "…"."""
        units = self._units()
        if not self.is_attached or not self.size.width:
            return  # gone, or never laid out (its first layout resizes it: a recompose)
        if any(not w.display for unit in units for w in unit):
            return  # fitted since the keys were composed
        # Where the layout puts every key, those past the screen's edge too (a widget's
        # `region` is the compositor's, which may lag behind a recompose).
        placed = {p.widget: p for p in self.arrange(self.size).placements}
        if any(w not in placed for unit in units for w in unit):
            return
        right = min([placed[w].region.x for w in placed
                     if w.has_class("-command-palette") and w.display], default=self.size.width)
        ends = [max(placed[w].region.right + placed[w].margin.right for w in unit)
                for unit in units]
        if not ends or max(placed[w].region.right for unit in units for w in unit) <= right:
            self.cut = 0
            return
        room = right - len(MORE)  # the "…" follows the margin of the last key kept
        kept = 0
        while kept < len(units) and ends[kept] <= room:
            kept += 1
        for unit in units[kept:]:
            for widget in unit:
                widget.display = False
        self.cut = len(units) - kept
        more = self.query_children(".-more")
        if more:
            more.first().display = True
