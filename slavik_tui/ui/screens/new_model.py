"""The "new model" form: name, text files, architecture — with the parameter count and
sizes worked out live as the numbers change, and every problem shown next to its field."""

from __future__ import annotations

import shlex
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from slavik_tui.spec.config import ModelConfig
from slavik_tui.errors import UserError
from slavik_tui.store.workspace import validate_name
from slavik_tui.ui.messages import JobProgress
from slavik_tui.ui.widgets.forms import FormField, parse_int
from slavik_tui.ui.widgets.path_input import PathInput, split_paths
from slavik_tui.ui.widgets.train_form import parse_data
from slavik_tui.ui.widgets.app_footer import AppFooter

# field id → (label, default, ModelConfig keyword)
ARCH_FIELDS = [
    ("d_model", "d_model", "256", "d_model"),
    ("layers", "layers", "6", "n_layers"),
    ("heads", "heads", "8", "n_heads"),
    ("vocab", "vocab size", "8000", "vocab_size"),
    ("context", "context", "256", "context"),
]
# Which field a ModelConfig error belongs to: the first rule whose text the message contains.
ERROR_FIELDS = [
    ("--vocab-size", "vocab"), ("--context", "context"), ("--layers", "layers"),
    ("--d-model", "d_model"), ("--heads", "heads"),
]


def field_of_config_error(message: str, last_edited: str | None) -> str:
    if "divisible" in message or "head size" in message:
        # d_model and heads disagree: blame the one the user just changed.
        return last_edited if last_edited in ("d_model", "heads") else "heads"
    for needle, field_id in ERROR_FIELDS:
        if needle in message:
            return field_id
    return "d_model"


class NewModelScreen(ModalScreen[str | None]):
    """Returns the new model's name, or None when cancelled."""

    HELP_WIDGETS = (PathInput,)  # its keys (Tab completes a path) are listed by `?`
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
        Binding("ctrl+o", "browse", "Browse files"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._touched: set[str] = set()
        self._last_edited: str | None = None
        self._creating = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog -wide"):
            yield Label("New model", classes="dialog--title")
            yield FormField("name", Input(placeholder="e.g. slavik", id="name", compact=True,
                                          classes="-name"), id="f-name")
            yield FormField(
                "text files",
                PathInput(placeholder="war.txt chats.jsonl  (Tab completes)", id="data",
                          compact=True),
                Button("Browse", id="browse", compact=True),
                layout="stacked", id="f-data",
            )
            for field_id, label, default, _kw in ARCH_FIELDS:
                yield FormField(label, Input(default, id=field_id, compact=True,
                                             classes="-number"), id=f"f-{field_id}")
            yield Static("", id="summary", markup=False)
            yield Static("", id="status", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button("Create", id="create", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._validate()

    # ---- live validation ------------------------------------------------------------------
    def _field(self, field_id: str) -> FormField:
        return self.query_one(f"#f-{field_id}", FormField)

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._touched.add(event.input.id)
            self._last_edited = event.input.id
        self._validate()

    def _validate(self, show_all: bool = False) -> tuple[str, list[str], ModelConfig] | None:
        """Check every field; show errors of touched fields (all with `show_all`). Returns
        what `create_model` needs when everything is valid."""
        errors: dict[str, str] = {}
        name = self._value("name").strip()
        try:
            if not name:
                raise UserError("type a name, e.g. slavik (letters, digits, - _ .)")
            validate_name(name)
            if (self.app.models_root / name).exists():
                raise UserError(f"model '{name}' already exists; pick another name")
        except UserError as exc:
            errors["name"] = str(exc)
        paths: list[str] = []
        try:
            paths = parse_data(self._value("data"))  # the Training form's check
            if not paths:
                raise UserError("add at least one text file (Tab completes, ctrl+o browses)")
        except UserError as exc:
            errors["data"] = str(exc)
        numbers: dict[str, int] = {}
        for field_id, label, _default, kw in ARCH_FIELDS:
            try:
                numbers[kw] = parse_int(self._value(field_id), label)
            except UserError as exc:
                errors[field_id] = str(exc)
        cfg = None
        if len(numbers) == len(ARCH_FIELDS):
            try:
                cfg = ModelConfig(**numbers)
            except UserError as exc:
                errors[field_of_config_error(str(exc), self._last_edited)] = str(exc)
        for field_id in ["name", "data", *(f[0] for f in ARCH_FIELDS)]:
            shown = show_all or field_id in self._touched or field_id in numbers_fields(errors)
            self._field(field_id).set_error(errors.get(field_id) if shown else None)
        self._show_summary(cfg)
        if errors or cfg is None:
            return None
        return name, paths, cfg

    def _show_summary(self, cfg: ModelConfig | None) -> None:
        summary = self.query_one("#summary", Static)
        if cfg is None:
            summary.update("parameters: fix the numbers above to see the count and sizes")
            return
        sizes = cfg.sizes_mb()
        summary.update(
            f"parameters  {cfg.param_formula()}\n"
            f"sizes       fp32 {sizes['fp32']:.1f} MB · bf16 {sizes['bf16']:.1f} MB · "
            f"full checkpoint {sizes['checkpoint']:.1f} MB"
        )

    # ---- actions ------------------------------------------------------------------------
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        if self._creating:
            return
        ready = self._validate(show_all=True)
        if ready is None:
            self._set_status("fix the fields marked above", error=True)
            return
        name, paths, cfg = ready
        self._creating = True
        self.query_one("#create", Button).disabled = True
        self._set_status(f"creating '{name}': training its tokenizer…")
        self._create(name, paths, cfg)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self._creating:
            self.notify("The model is being created; this takes a few seconds",
                        severity="warning")
            return
        self.dismiss(None)

    @on(Button.Pressed, "#browse")
    def action_browse(self) -> None:
        from slavik_tui.ui.screens.file_picker import FilePickerScreen

        data = self.query_one("#data", PathInput)

        def picked(path: Path | None) -> None:
            if path is None:
                return
            text = data.value.rstrip()
            data.value = f"{text} {shlex.quote(str(path))}".lstrip()
            data.cursor_position = len(data.value)
            data.focus()

        paths = split_paths_quiet(data.value)
        start = Path(paths[-1]).expanduser().parent if paths else None
        self.app.push_screen(FilePickerScreen(start if start and start.is_dir() else None),
                             picked)

    def _set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def _create(self, name: str, paths: list[str], cfg: ModelConfig) -> str:
        from slavik_tui.engine.create import create_model

        create_model(self.app.workspace, name, paths, cfg,
                     report=lambda line: self.post_message(JobProgress(line)))
        return name

    def on_job_progress(self, message: JobProgress) -> None:
        self._set_status(message.line)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "create":
            return
        if event.state == WorkerState.SUCCESS:
            self._creating = False
            self.dismiss(event.worker.result)
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._creating = False
            self.query_one("#create", Button).disabled = False
            error = event.worker.error
            if isinstance(error, UserError):
                message = str(error)
                field_id = self._field_of_create_error(message)
                if field_id:
                    self._field(field_id).set_error(message)
                self._set_status(message, error=True)
            else:
                self._set_status(f"could not create the model: {type(error).__name__}: "
                                 f"{error} (a bug; please report it)", error=True)

    def _field_of_create_error(self, message: str) -> str | None:
        if "already exists" in message or "name" in message.split(";")[0]:
            return "name"
        for path in split_paths_quiet(self._value("data")):
            if path in message or Path(path).name in message:
                return "data"
        if "context" in message:
            return "context"
        return None


def split_paths_quiet(value: str) -> list[str]:
    try:
        return split_paths(value)
    except UserError:
        return []


def numbers_fields(errors: dict[str, str]) -> set[str]:
    """Architecture errors always show: the live count depends on them."""
    return {f[0] for f in ARCH_FIELDS if f[0] in errors}
