"""A file picker over a DirectoryTree: Enter on a file picks it, backspace goes up a folder."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Label
from slavik_tui.ui.widgets.app_footer import AppFooter


class FilePickerScreen(ModalScreen[Path | None]):
    """Returns the chosen file, or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("backspace", "up", "Parent folder"),
    ]

    def __init__(self, start: Path | None = None) -> None:
        super().__init__()
        self.start = (start or Path.cwd()).resolve()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -wide -tall"):
            yield Label(f"Pick a text file — {self.start}", id="picker-title",
                        classes="dialog--title", markup=False)
            yield DirectoryTree(self.start, id="picker-tree")
            yield Label("enter: pick a file / open a folder · backspace: parent folder · "
                        "esc: cancel", classes="dialog--hint")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_up(self) -> None:
        tree = self.query_one(DirectoryTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self.query_one("#picker-title", Label).update(f"Pick a text file — {parent}")
