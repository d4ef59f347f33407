"""The training form: datasets to add, hyper-parameters, Start / Stop, and the command line.

Each field is a `train` flag of the CLI (see cli.py); an empty field is a flag not given, so
the trainer keeps the saved plan's value (resuming) or its default — the placeholder shows
which value that is. The form checks each value as the trainer would and shows the trainer's
own wording next to the field; the line under the buttons is the equivalent
`slavik-tui train …` command, so what the form does can be scripted or run over plain SSH.

Values are checked by the trainer's own rules (`engine.options.TrainOptions.validate`, pure
Python), so the form and the CLI say the same thing.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from slavik_tui.spec.options import DEFAULT_ITERS, PLAN_DEFAULTS, TrainOptions
from slavik_tui.errors import UserError
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.path_input import PathInput, split_paths



@dataclass(frozen=True)
class FieldSpec:
    key: str  # TrainSettings attribute (and the input's id, "tf-<key>")
    label: str
    flag: str
    kind: str  # "int" | "float" | "str"


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("iters", "iters", "--iters", "int"),
    FieldSpec("batch_size", "batch size", "--batch-size", "int"),
    FieldSpec("lr", "lr", "--lr", "float"),
    FieldSpec("eval_every", "eval every", "--eval-every", "int"),
    FieldSpec("save_every", "save every", "--save-every", "int"),
    FieldSpec("seed", "seed", "--seed", "int"),
    FieldSpec("device", "device", "--device", "str"),
)
FIELD_KEYS = tuple(f.key for f in FIELDS) + ("data",)


@dataclass
class TrainSettings:
    """What the form says, None = flag not given."""

    iters: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    eval_every: int | None = None
    save_every: int | None = None
    seed: int | None = None
    device: str | None = None
    data: list[str] = field(default_factory=list)


def parse_field(spec: FieldSpec, text: str) -> object:
    """One field's text -> value (None when empty), or UserError in the trainer's words."""
    text = text.strip()
    if not text:
        return None
    if spec.kind == "int":
        try:
            value: object = int(text.replace("_", ""))
        except ValueError:
            raise UserError(f"{spec.flag} must be a whole number, got {text!r}") from None
    elif spec.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{spec.flag} must be a number like 6e-4, got {text!r}") from None
    else:
        value = text
    TrainOptions(**{spec.key: value}).validate()
    return value


def parse_data(text: str) -> list[str]:
    """The data field: existing files, `~` expanded, made absolute (the trainer's cwd is
    not the app's)."""
    paths = []
    for raw in split_paths(text):
        p = Path(raw)
        if p.is_dir():
            raise UserError(f"{p} is a directory; pass the text files inside it (e.g. {p}/*.txt)")
        if not p.is_file():
            raise UserError(f"{p}: no such file; check the path")
        if not os.access(p, os.R_OK):
            raise UserError(f"{p}: permission denied; make the file readable (chmod +r)")
        paths.append(str(p.resolve()))
    return paths


def parse_settings(values: dict[str, str]) -> tuple[TrainSettings, dict[str, str]]:
    """The fields' texts (by key) -> settings and {key: error}."""
    settings = TrainSettings()
    errors: dict[str, str] = {}
    for spec in FIELDS:
        try:
            setattr(settings, spec.key, parse_field(spec, values.get(spec.key, "")))
        except UserError as exc:
            errors[spec.key] = str(exc)
    try:
        settings.data = parse_data(values.get("data", ""))
    except UserError as exc:
        errors["data"] = str(exc)
    return settings, errors


def train_args(settings: TrainSettings) -> list[str]:
    """`train` flags for `runs.start_detached` (the same as the command line shows)."""
    args: list[str] = []
    for spec in FIELDS:
        value = getattr(settings, spec.key)
        if value is not None and not (spec.key == "device" and value == "auto"):
            args += [spec.flag, str(value)]
    for path in settings.data:
        args += ["--data", path]
    return args


_SAFE_PUNCT = set("@%+=:,./-_~")


def _quote(word: str) -> str:
    """shlex.quote, but letters of any alphabet and a leading ~ stay as typed ('славик' needs
    no quotes in a UTF-8 shell, and ~/models should expand)."""
    if word and all(ch.isalnum() or ch in _SAFE_PUNCT for ch in word):
        return word
    return shlex.quote(word)


def command_line(name: str, settings: TrainSettings, models_dir: str | None = None) -> str:
    """The `slavik-tui train NAME … --detach` line a user can run instead of the form."""
    words = ["slavik-tui"]
    if models_dir:
        words += ["--models-dir", models_dir]
    words += ["train", name, *train_args(settings), "--detach"]
    return " ".join(_quote(w) for w in words)


class TrainForm(Widget):
    """Data + hyper-parameter fields, Start / Stop buttons and the command preview.

    Posts `TrainForm.Changed` when a field changes (after checking every field); Start and
    Stop are plain `Button.Pressed` with ids "tf-start" / "tf-stop" for the screen to handle.
    """

    DEFAULT_CSS = """
    TrainForm { height: auto; width: 1fr; }
    TrainForm Input { width: 1fr; }
    TrainForm Input.-number { width: 12; }
    TrainForm #tf-buttons { height: auto; margin: 1 0 0 0; }
    TrainForm #tf-buttons Button { margin: 0 1 0 0; min-width: 10; }
    TrainForm #tf-command {
        color: $text-muted; margin: 1 0 0 0; height: auto; width: 1fr;
    }
    """

    @dataclass
    class Changed(Message):
        """A field changed: the parsed settings and the errors now shown."""

        form: TrainForm
        settings: TrainSettings
        errors: dict[str, str]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.errors: dict[str, str] = {}
        self.settings = TrainSettings()

    def compose(self) -> ComposeResult:
        yield FormField("add data", PathInput(placeholder="more text files (Tab completes)",
                                             id="tf-data", compact=True, classes="tf--field"),
                        layout="stacked", id="tff-data")
        for spec in FIELDS:
            classes = "tf--field" + (" -number" if spec.kind != "str" else "")
            yield FormField(spec.label, Input(id=f"tf-{spec.key}", compact=True,
                                              classes=classes),
                            layout="stacked", id=f"tff-{spec.key}")
        with Horizontal(id="tf-buttons"):
            yield Button("▶ Start", id="tf-start", variant="success", compact=True)
            yield Button("■ Stop", id="tf-stop", variant="error", compact=True, disabled=True)
        yield Static("", id="tf-command", markup=False)

    def on_mount(self) -> None:
        self.set_placeholders({}, resumable=False)

    # ---- reading ----------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#tf-{key}", Input).value for key in FIELD_KEYS}

    def check(self) -> tuple[TrainSettings, dict[str, str]]:
        """Parse every field, show the errors next to them, return (settings, errors)."""
        self.settings, self.errors = parse_settings(self.values())
        for key in FIELD_KEYS:
            self.query_one(f"#tff-{key}", FormField).set_error(self.errors.get(key))
        return self.settings, self.errors

    @on(Input.Changed, ".tf--field")
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()
        settings, errors = self.check()
        self.post_message(self.Changed(self, settings, errors))

    @on(Input.Submitted, ".tf--field")
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in a field moves on; Start is ctrl+r or the button
        self.screen.focus_next()

    # ---- writing ----------------------------------------------------------------------------
    def set_placeholders(self, plan: dict, resumable: bool) -> None:
        """Show what an empty field means: the saved plan's value, else the default."""
        for spec in FIELDS:
            if spec.key == "iters":
                text = "resume" if resumable else str(DEFAULT_ITERS)
            elif spec.key == "device":
                text = "auto"
            else:
                value = plan.get(spec.key, PLAN_DEFAULTS[spec.key])
                text = f"{value:g}" if isinstance(value, float) else str(value)
            self.query_one(f"#tf-{spec.key}", Input).placeholder = text

    def set_value(self, key: str, value: str) -> None:
        self.query_one(f"#tf-{key}", Input).value = value

    def set_error(self, key: str, message: str | None) -> None:
        self.query_one(f"#tff-{key}", FormField).set_error(message)

    def set_buttons(self, start_label: str, can_start: bool, can_stop: bool) -> None:
        start = self.query_one("#tf-start", Button)
        start.label = start_label
        start.disabled = not can_start
        self.query_one("#tf-stop", Button).disabled = not can_stop

    def set_command(self, text: str) -> None:
        self.query_one("#tf-command", Static).update(text)

    def first_invalid(self) -> Input | None:
        for key in FIELD_KEYS:
            if key in self.errors:
                return self.query_one(f"#tf-{key}", Input)
        return None
