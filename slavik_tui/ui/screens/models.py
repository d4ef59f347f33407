"""The Models screen: every model in the folder, its figures, and what to do with it."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header

from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.model_details import ModelDetails
from slavik_tui.ui.widgets.model_table import ModelTable


class ModelsScreen(Screen):
    """A table of models (refreshed as the folder changes) and the selected one's details."""

    # Below 150 columns the details go under the table (the table needs ~100 columns with
    # full headers, the details ~50); the table fits its columns to its width (FittedTable).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (150, "-wide")]

    BINDINGS = [
        Binding("n", "app.new_model", "New"),
        Binding("enter", "train", "Train / watch", show=False),
        Binding("e", "export", "Export"),
        # 80 columns hold the footer's keys with w; rename (the least used) is in `?`
        Binding("w", "reward_lab", "Reward lab"),
        Binding("r", "rename", "Rename", show=False),
        Binding("d", "delete", "Delete"),
        Binding("i", "toggle_details", "Details", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = "slavik-tui"

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Container(id="models-body"):
            yield ModelTable(id="models-table")
            with VerticalScroll(id="details-pane"):
                yield ModelDetails(id="details")
        yield AppFooter()

    def on_mount(self) -> None:
        self.sub_title = f"Models · {self.app.display_root}"
        self.watch(self.app, "models", self._models_changed)
        self.query_one(ModelTable).focus()

    # ---- data -----------------------------------------------------------------------------
    def _models_changed(self, models: list[Any]) -> None:
        table = self.query_one(ModelTable)
        table.show(models, select=self.app.take_pending_selection())
        self._show_details()

    def _show_details(self) -> None:
        details = self.query_one(ModelDetails)
        info = self.selected_info
        if info is None:
            details.show_empty(self.app.display_root)
        else:
            details.show(info)
        self.app.selected_model = info.name if info else None

    @property
    def selected_info(self) -> Any | None:
        name = self.query_one(ModelTable).selected_name
        for info in self.app.models:
            if info.name == name:
                return info
        return None

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_details()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_train()

    # ---- actions ------------------------------------------------------------------------
    def _need_model(self) -> str | None:
        info = self.selected_info
        if info is None:
            self.notify("No model selected: create one with n", severity="warning")
            return None
        return info.name

    def action_train(self) -> None:
        if name := self._need_model():
            self.app.open_mode("training", name)

    def action_export(self) -> None:
        if name := self._need_model():
            self.app.export_model(name)

    def action_rename(self) -> None:
        if name := self._need_model():
            self.app.rename_model(name)

    def action_delete(self) -> None:
        if name := self._need_model():
            self.app.delete_model(name)

    def action_reward_lab(self) -> None:
        """w: the reward lab of the selected model (ui/screens/reward_lab.py)."""
        if name := self._need_model():
            self.app.reward_lab(name)

    def action_toggle_details(self) -> None:
        pane = self.query_one("#details-pane")
        pane.display = not pane.display
