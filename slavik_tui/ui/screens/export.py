"""Export a model's weights: safetensors fp32, bf16, or a Hugging Face (Llama) folder."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from slavik_tui.errors import UserError
from slavik_tui.ui.screens.job_dialog import JobDialog
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.path_input import PathInput
from slavik_tui.ui.widgets.app_footer import AppFooter

FORMATS = {
    "weights": "fp32 safetensors (the weights as trained)",
    "bf16": "bf16 safetensors (half the size)",
    "hf": "Hugging Face folder (LlamaForCausalLM + tokenizer)",
}


class Choice(RadioButton):
    """A radio button that shows its state by shape, not only by colour: "(•)" chosen,
    "( )" not (the stock "▐●▌" looks the same both ways without colour)."""

    BUTTON_LEFT = "("
    BUTTON_RIGHT = ")"

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        inner = "•" if self.value else " "
        return Content.assemble(self.BUTTON_LEFT, (inner, style), self.BUTTON_RIGHT)


def default_output(name: str, fmt: str, where: Path | None = None) -> Path:
    where = where or Path.cwd()
    return where / {"weights": f"{name}.safetensors", "bf16": f"{name}-bf16.safetensors",
                    "hf": f"{name}-hf"}[fmt]


class ExportScreen(JobDialog[Path | None]):
    """Returns the written path, or None when cancelled."""

    JOB_BUTTON = "#export"
    BUSY_NOTE = "The export is being written; wait a moment"
    FAILURE = "export failed"

    HELP_WIDGETS = (PathInput,)
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "export", "Export"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.model_name = name
        self.fmt = "weights"
        self._out_edited = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Export '{self.model_name}'", classes="dialog--title", markup=False)
            with RadioSet(id="format", compact=True):
                for i, (fmt, text) in enumerate(FORMATS.items()):
                    yield Choice(f"{fmt:8} {text}", value=i == 0, name=fmt)
            yield FormField("output", PathInput(str(default_output(self.model_name, "weights")),
                                                id="out", compact=True),
                            layout="stacked", id="f-out")
            yield Static("", id="status", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    @on(RadioSet.Changed)
    def _format_changed(self, event: RadioSet.Changed) -> None:
        self.fmt = event.pressed.name or "weights"
        if not self._out_edited:
            out = self.query_one("#out", Input)
            out.value = str(default_output(self.model_name, self.fmt))
            self._out_edited = False

    @on(Input.Changed, "#out")
    def _out_changed(self, event: Input.Changed) -> None:
        if event.value != str(default_output(self.model_name, self.fmt)):
            self._out_edited = True
        self.query_one("#f-out", FormField).set_error(
            None if event.value.strip() else "type where to write the export")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export()

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        if self.busy:
            return
        text = self.query_one("#out", Input).value.strip()
        if not text:
            self.query_one("#f-out", FormField).set_error("type where to write the export")
            return
        self.set_status(f"exporting '{self.model_name}' as {self.fmt}…")
        self.start_job(Path(text).expanduser(), self.fmt)

    def job(self, out: Path, fmt: str) -> Path:
        from slavik_tui.engine.export import export

        model_dir = self.app.workspace.model_dir(self.model_name)
        written = export(model_dir, out, fmt)
        return Path(written) if written else out

    def job_failed(self, error: BaseException) -> None:
        if isinstance(error, UserError):  # about the output path, or the model's files
            self.query_one("#f-out", FormField).set_error(str(error))
            self.set_status("")
        else:
            super().job_failed(error)
