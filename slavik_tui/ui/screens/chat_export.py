"""Export the current conversation as a JSONL file (one line: {"messages": [...]}), the format
`slavik-tui sft --data` and Hugging Face datasets read.

The target is checked as every export's is (spec/folder.py `check_output`): never inside the
models folder, never over a folder, a device or a link; an existing file only after a second
question (Replace / Cancel)."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from slavik_tui.errors import UserError
from slavik_tui.store.conversations import check_export, export_conversation
from slavik_tui.ui.screens.confirm import ConfirmScreen
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.path_input import PathInput


def default_target(model: str, stamp: str, where: Path | None = None) -> Path:
    return (where or Path.cwd()) / f"{model}-chat-{stamp}.jsonl"


class ChatExportScreen(ModalScreen[Path | None]):
    """Returns the written file, or None when cancelled."""

    HELP_WIDGETS = (PathInput,)
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "export", "Export"),
    ]

    def __init__(self, messages: list[dict[str, str]], target: Path, models_root: Path) -> None:
        super().__init__()
        self.messages = messages
        self.target = target
        self.models_root = models_root

    def compose(self) -> ComposeResult:
        turns = sum(1 for m in self.messages if m["role"] != "system")
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Export this conversation ({turns} messages) as JSONL",
                        classes="dialog--title", markup=False)
            yield FormField("file", PathInput(str(self.target), id="chat-out", compact=True),
                            layout="stacked", id="f-chat-out")
            yield Static("", id="status", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#chat-out", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#chat-out")
    def _changed(self) -> None:
        self._error(None)

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        text = self.query_one("#chat-out", Input).value.strip()
        if not text:
            self._error("type where to write the conversation")
            return
        out = Path(text).expanduser()
        try:
            exists = check_export(out, self.models_root)
        except UserError as exc:
            self._error(str(exc))
            return
        if not exists:
            self._write(out, replace=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._write(out, replace=True)
            else:
                self._error(f"{out} already exists; pick another path, or export again and "
                            "choose Replace")

        self.app.push_screen(ConfirmScreen(
            "Replace the file?", f"{out} already exists. Replace it with this conversation?",
            yes="Replace"), answered)

    def _write(self, out: Path, replace: bool) -> None:
        try:
            written = export_conversation(self.messages, out, self.models_root, replace=replace)
        except UserError as exc:
            self._error(str(exc))
            return
        except OSError as exc:
            self._error(f"could not write {out}: {exc.strerror or exc}; pick another path")
            return
        self.dismiss(written)

    def _error(self, message: str | None) -> None:
        self.query_one("#f-chat-out", FormField).set_error(message)
