"""Rename a model: the new name is checked as you type."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from slavik_tui.errors import UserError
from slavik_tui.store.workspace import validate_name
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.app_footer import AppFooter


class RenameScreen(ModalScreen[str | None]):
    """Renames the folder; returns the new name, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.old_name = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Rename '{self.old_name}'", classes="dialog--title", markup=False)
            yield FormField("new name", Input(self.old_name, id="new-name", compact=True),
                            layout="stacked", id="f-new-name")
            with Horizontal(classes="dialog--buttons"):
                yield Button("Rename", id="rename", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#new-name", Input).focus()

    def _check(self, name: str) -> str | None:
        """The error for `name`, or None when it can be used."""
        try:
            validate_name(name)
        except UserError as exc:
            return str(exc)
        if name != self.old_name and (self.app.models_root / name).exists():
            return f"model '{name}' already exists; pick another name"
        return None

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self.query_one(FormField).set_error(self._check(event.value.strip()))

    @on(Input.Submitted)
    @on(Button.Pressed, "#rename")
    def _rename(self) -> None:
        new = self.query_one("#new-name", Input).value.strip()
        field = self.query_one(FormField)
        error = self._check(new)
        if error:
            field.set_error(error)
            return
        if new == self.old_name:
            self.dismiss(None)
            return
        try:
            self.app.workspace.rename(self.old_name, new)
        except UserError as exc:
            field.set_error(str(exc))
            return
        self.dismiss(new)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
