"""The "new model" form: name, text files, architecture — with the parameter count and
sizes worked out live as the numbers change, and every problem shown next to its field."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.folder import validate_name
from slavik_tui.spec.sizing import SizeProposal, estimate_tokens, propose_size
from slavik_tui.ui.screens.job_dialog import JobDialog
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
# The form's field for a `UserError.field` (a ModelConfig field, the name, the text files).
FIELD_IDS = {kw: field_id for field_id, _label, _default, kw in ARCH_FIELDS} | {
    "name": "name", "data": "data", "encoding": "data"}


def field_of_error(error: UserError, last_edited: str | None = None) -> str | None:
    """The field id an error is shown beside (None: none of the form's fields)."""
    field_id = FIELD_IDS.get(error.field or "")
    if field_id in ("d_model", "heads") and last_edited in ("d_model", "heads"):
        # Both were checked alone first (whole numbers ≥ 1), so an error naming either is
        # about the two together (heads must divide d_model): blame the one just changed.
        return last_edited
    return field_id


class NewModelScreen(JobDialog[str | None]):
    """Returns the new model's name, or None when cancelled."""

    JOB_BUTTON = "#create"
    BUSY_NOTE = "The model is being created; this takes a few seconds"
    FAILURE = "could not create the model"

    HELP_WIDGETS = (PathInput,)  # its keys (Tab completes a path) are listed by `?`
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
        Binding("ctrl+o", "browse", "Browse files"),
        Binding("ctrl+g", "use_suggestion", "Use the suggested size"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._touched: set[str] = set()
        self._last_edited: str | None = None
        self.suggestion: SizeProposal | None = None
        """The size wizard's proposal for the chosen files (None until they are valid)."""
        self._suggested_for: tuple | None = None
        self._applied = False  # the status says "size wizard applied"

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
            yield Static("", id="wizard", markup=False)
            yield Static("", id="status", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button("Use suggested size (ctrl+g)", id="use-suggestion",
                             compact=True, disabled=True)
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
        status = self.query_one("#status", Static)
        if status.has_class("-error") and not self.busy:
            # "fix the fields…" or the engine's refusal was about the values before this
            # change: the fields' own errors say what is still wrong.
            self.set_status("")
        elif self._applied and not self.busy and not self._takes_suggestion():
            # "size wizard applied" no longer holds once the shape moved off the proposal
            # (nor do the wizard's steps: action_create only plans them for its shape).
            self._applied = False
            self.set_status("")

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
                errors[field_of_error(exc, self._last_edited) or "d_model"] = str(exc)
        for field_id in ["name", "data", *(f[0] for f in ARCH_FIELDS)]:
            shown = show_all or field_id in self._touched or field_id in numbers_fields(errors)
            self._field(field_id).set_error(errors.get(field_id) if shown else None)
        self._show_summary(cfg)
        self._suggest(paths if "data" not in errors else [], numbers)
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

    # ---- the size wizard ------------------------------------------------------------------
    def _suggest(self, paths: list[str], numbers: dict[str, int]) -> None:
        """Propose d_model / layers / heads / steps for the files' size (spec/sizing.py)."""
        vocab, context = numbers.get("vocab_size", 8000), numbers.get("context", 256)
        key = (tuple(paths), vocab, context)
        if key == self._suggested_for:
            return
        self._suggested_for = key
        line = self.query_one("#wizard", Static)
        button = self.query_one("#use-suggestion", Button)
        n_bytes = sum(_file_size(p) for p in paths)
        if not n_bytes:
            self.suggestion = None
            line.update("size wizard: choose the text files to get a size for them")
            button.disabled = True
            return
        try:
            self.suggestion = propose_size(estimate_tokens(n_bytes), vocab_size=vocab,
                                           context=context, memory_bytes=device_memory(),
                                           estimated=True)
        except UserError:  # vocab / context out of range: their own errors say so
            self.suggestion = None
            line.update("size wizard: fix vocab size and context first")
            button.disabled = True
            return
        p = self.suggestion
        line.update(f"suggested: {p.summary}\n{p.reason}")
        button.disabled = False

    @on(Button.Pressed, "#use-suggestion")
    def action_use_suggestion(self) -> None:
        """Fill the architecture fields with the proposal (the steps go to Training)."""
        p = self.suggestion
        if p is None or self.busy:
            return
        for field_id, value in (("d_model", p.d_model), ("layers", p.n_layers),
                                ("heads", p.n_heads)):
            self.query_one(f"#{field_id}", Input).value = str(value)
        self._applied = True
        self.set_status("size wizard applied; the Training form will start with its steps")

    def _takes_suggestion(self) -> bool:
        """The shape in the fields is the wizard's proposal (so its steps go to Training)."""
        p = self.suggestion
        shape = tuple(self._value(f).strip() for f in ("d_model", "layers", "heads"))
        return p is not None and shape == (str(p.d_model), str(p.n_layers), str(p.n_heads))

    # ---- actions ------------------------------------------------------------------------
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        if self.busy:
            return
        ready = self._validate(show_all=True)
        if ready is None:
            self.set_status("fix the fields marked above", error=True)
            return
        name, paths, cfg = ready
        p = self.suggestion
        planned = self.app.planned_iters  # type: ignore[attr-defined]
        if p is not None and (cfg.d_model, cfg.n_layers, cfg.n_heads) == (
                p.d_model, p.n_layers, p.n_heads):
            planned[name] = p.iters  # the Training form starts with the wizard's steps
        else:
            planned.pop(name, None)
        self.set_status(f"creating '{name}': training its tokenizer…")
        self.start_job(name, paths, cfg)

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

    def job(self, name: str, paths: list[str], cfg: ModelConfig) -> str:
        from slavik_tui.engine.create import create_model

        create_model(self.app.workspace, name, paths, cfg, report=self.report)
        return name

    def job_failed(self, error: BaseException) -> None:
        self.app.planned_iters.pop(self._value("name").strip(), None)  # type: ignore[attr-defined]
        if isinstance(error, UserError) and (field_id := field_of_error(error)):
            self._field(field_id).set_error(str(error))
        super().job_failed(error)


def _file_size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def device_memory() -> int | None:
    """Bytes of memory the trainer may use on this machine (its RAM; None when unknown).
    A GPU's would need torch, which the form does not load."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def split_paths_quiet(value: str) -> list[str]:
    try:
        return split_paths(value)
    except UserError:
        return []


def numbers_fields(errors: dict[str, str]) -> set[str]:
    """Architecture errors always show: the live count depends on them."""
    return {f[0] for f in ARCH_FIELDS if f[0] in errors}
