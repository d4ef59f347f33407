"""The training form: datasets to add, hyper-parameters, Start / Stop, and the command line.

Each field is a `train` flag whose metadata (label, parser, rule, plan default) lives on
`TrainOptions` (spec/options.py); the form shows the flags that have a label there. An empty
field is a flag not given, so the trainer keeps the saved plan's value (resuming) or its
default — the placeholder shows which value that is. Values are parsed and checked by the
trainer's own rules and words (pure Python), so the form and the CLI say the same thing. The
line under the buttons is the equivalent `slavik-tui train …` command, wrapped to the pane,
so what the form does can be scripted or run over plain SSH.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from slavik_tui.errors import UserError
from slavik_tui.spec.options import (
    DEFAULT_ITERS,
    FORM_FLAGS,
    Flag,
    TrainOptions,
    options_argv,
)
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.path_input import PathInput, split_paths
from slavik_tui.ui.widgets.stage_picker import (
    DATA_HINT,
    STAGE_KEYS,
    StagePicker,
    plan_kind,
    sft_fields,
    stage_command,
    stage_of_kind,
    stage_settings,
)

# The typed fields, in the metadata's order; "data" (a list of files) gets a path input.
FIELDS: tuple[Flag, ...] = tuple(f for f in FORM_FLAGS if f.kind != "list")
DATA_LABEL = next(f.label for f in FORM_FLAGS if f.key == "data")
FIELD_KEYS = tuple(f.key for f in FIELDS) + ("data",) + STAGE_KEYS  # + the stage's (reward, RL)


def parse_field(flag: Flag, text: str) -> object:
    """One field's text -> value (the flag's default when empty), or UserError in the
    trainer's words, its `field` the option's name."""
    text = text.strip()
    if not text:
        return flag.default
    value = flag.parse(text)
    flag.check(value)
    return value


def parse_data(text: str) -> list[str]:
    """The data field: existing files, `~` expanded, made absolute (the trainer's cwd is
    not the app's)."""
    paths = []
    for raw in split_paths(text):
        p = Path(raw)
        if p.is_dir():
            raise UserError(f"{p} is a directory; pass the text files inside it (e.g. {p}/*.txt)",
                            field="data")
        if not p.exists():
            raise UserError(f"{p}: no such file; check the path", field="data")
        if not p.is_file():  # a FIFO would block the trainer, /dev/zero never ends
            raise UserError(f"{p} is not a regular file (a device or a pipe); pass a text file",
                            field="data")
        if not os.access(p, os.R_OK):
            raise UserError(f"{p}: permission denied; make the file readable (chmod +r)",
                            field="data")
        paths.append(str(p.resolve()))
    return paths


def parse_settings(values: dict[str, str]) -> tuple[TrainOptions, dict[str, str]]:
    """The fields' texts (by key) -> the options they give and {key: error}."""
    parsed: dict[str, object] = {}
    errors: dict[str, str] = {}
    for flag in FIELDS:
        try:
            parsed[flag.key] = parse_field(flag, values.get(flag.key, ""))
        except UserError as exc:
            errors[exc.field or flag.key] = str(exc)
    try:
        parsed["data"] = parse_data(values.get("data", ""))
    except UserError as exc:
        errors["data"] = str(exc)
    return TrainOptions(**parsed), errors


def train_args(opts: TrainOptions) -> list[str]:
    """`train` flags for `runs.start_detached` (the same as the command line shows)."""
    return options_argv(opts)


_SAFE_PUNCT = set("@%+=:,./-_~")


def _quote(word: str) -> str:
    """shlex.quote, but letters of any alphabet and a leading ~ stay as typed ('славик' needs
    no quotes in a UTF-8 shell, and ~/models should expand)."""
    if word and all(ch.isalnum() or ch in _SAFE_PUNCT for ch in word):
        return word
    return shlex.quote(word)


def command_line(name: str, settings: TrainOptions, models_dir: str | None = None) -> str:
    """The `slavik-tui train NAME … --detach` line a user can run instead of the form
    (`models_dir`: None when the default models folder is the one in use)."""
    words = ["slavik-tui"]
    if models_dir:
        words += ["--models-dir", models_dir]
    words += [stage_command(settings), name, *train_args(settings), "--detach"]
    return " ".join(_quote(w) for w in words)


class TrainForm(Widget):
    """Data + hyper-parameter fields, Start / Stop buttons and the command preview.

    Posts `TrainForm.Changed` when a field changes (after checking every field); Start and
    Stop are plain `Button.Pressed` with ids "tf-start" / "tf-stop" for the screen to handle.
    """

    @dataclass
    class Changed(Message):
        """A field changed: the parsed settings and the errors now shown."""

        form: TrainForm
        settings: TrainOptions
        errors: dict[str, str]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.errors: dict[str, str] = {}
        self.settings: TrainOptions = TrainOptions()  # an RLOptions when the stage is RL
        self._plan: tuple[dict, bool, bool] = ({}, False, False)  # set_placeholders' last

    @property
    def stage(self) -> StagePicker:
        """Pretrain or RL, the reward spec and the RL fields (ui/widgets/stage_picker.py)."""
        return self.query_one(StagePicker)

    def compose(self) -> ComposeResult:
        yield StagePicker(id="tf-stage-picker")
        yield FormField(DATA_LABEL, PathInput(placeholder=DATA_HINT,
                                             id="tf-data", compact=True, classes="tf--field"),
                        layout="stacked", id="tff-data")
        yield from sft_fields()  # SFT's columns: about the dialogue files just above
        for flag in FIELDS:
            classes = "tf--field" + (" -number" if flag.kind != "str" else "")
            yield FormField(flag.label, Input(id=f"tf-{flag.key}", compact=True,
                                              classes=classes),
                            layout="stacked", id=f"tff-{flag.key}")
        with Horizontal(id="tf-buttons"):
            yield Button("▶ Start", id="tf-start", variant="success", compact=True)
            yield Button("■ Stop", id="tf-stop", variant="error", compact=True, disabled=True)
        yield Static("", id="tf-command", markup=False)

    def on_mount(self) -> None:
        self.stage._show_fields()  # the data field is composed now: its label and hint
        self.set_placeholders({}, resumable=False)

    # ---- reading ----------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#tf-{key}", Input).value for key in FIELD_KEYS}

    def check(self) -> tuple[TrainOptions, dict[str, str]]:
        """Parse every field, show the errors next to them, return (settings, errors)."""
        values = self.values()
        self.settings, self.errors = stage_settings(self.stage.stage, *parse_settings(values),
                                                    values)
        for key in FIELD_KEYS:
            self.query_one(f"#tff-{key}", FormField).set_error(self.errors.get(key))
        return self.settings, self.errors

    @on(Input.Changed, ".tf--field")
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()
        settings, errors = self.check()
        self.post_message(self.Changed(self, settings, errors))

    @on(StagePicker.Changed)
    def _stage_changed(self, event: StagePicker.Changed) -> None:
        event.stop()
        self.set_placeholders(*self._plan)  # the new stage's plan and defaults
        settings, errors = self.check()
        self.post_message(self.Changed(self, settings, errors))

    @on(Input.Submitted, ".tf--field")
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in a field moves on; Start is ctrl+r or the button
        self.screen.focus_next()

    # ---- writing ----------------------------------------------------------------------------
    def set_placeholders(self, plan: dict, resumable: bool, running: bool = False) -> None:
        """Show what an empty field means: the saved plan's value, else the default; while
        the plan's run is `running`, its own settings (iters: the steps it was started for).
        A plan of another stage (an RL run's, on the pretrain form) is no plan here."""
        self._plan = (plan, resumable, running)
        if plan and not self.stage.chosen:  # a model whose newest run is RL opens on RL
            self.stage.set_stage(stage_of_kind(plan_kind(plan)) or self.stage.stage)
        if plan_kind(plan) != self.stage.kind:
            plan, resumable, running = {}, False, False
        self.stage.set_placeholders(plan, resumable)
        for flag in FIELDS:
            flag = self.stage.flag(flag.key) or flag
            if flag.key == "iters":
                span = (plan.get("target_step") or 0) - (plan.get("start_step") or 0)
                text = (str(span) if running and span > 0 else
                        "resume" if resumable else str(DEFAULT_ITERS))
            else:
                fallback = flag.default if flag.plan_default is None else flag.plan_default
                value = plan.get(flag.key, fallback)
                text = f"{value:g}" if isinstance(value, float) else str(value)
            self.query_one(f"#tf-{flag.key}", Input).placeholder = text

    def show_run(self, plan: dict) -> None:
        """A running run the form did not start (re-attached to): its stage, and its own
        settings in the fields (iters: the steps it was started for), so the command line
        is the run's. A value the run shares with a fresh plan stays empty (the placeholder
        shows it), and so does the device (the run records the one `auto` picked)."""
        stage = stage_of_kind(plan_kind(plan))
        if stage is None:
            return
        self.stage.set_stage(stage)
        span = (plan.get("target_step") or 0) - (plan.get("start_step") or 0)
        texts = {"iters": str(span) if span > 0 else ""}
        for key in [f.key for f in FIELDS if f.key not in ("iters", "device")] + list(
                STAGE_KEYS):
            flag, value = self.stage.flag(key), plan.get(key)
            if flag is None or value is None or value in (
                    flag.default, flag.plan_default, self.stage.defaults.get(key)):
                texts[key] = ""
            elif isinstance(value, (list, tuple)):
                texts[key] = ",".join(map(str, value))
            else:
                texts[key] = f"{value:g}" if isinstance(value, float) else str(value)
        for key, text in texts.items():
            self.set_value(key, text)

    def new_model(self, context: int | None = None) -> None:
        """Another model is shown (of `context` tokens, when known): no plan known yet, the
        stage back to pretraining."""
        self._plan = ({}, False, False)
        self.stage.context = context
        self.stage.reset()

    def set_context(self, context: int | None) -> None:
        """The model's context is known (or changed): the RL defaults that must fit it."""
        if context != self.stage.context:
            self.stage.context = context
            self.set_placeholders(*self._plan)
            settings, errors = self.check()
            self.post_message(self.Changed(self, settings, errors))

    def set_value(self, key: str, value: str) -> None:
        self.query_one(f"#tf-{key}", Input).value = value

    def set_error(self, key: str, message: str | None) -> None:
        self.query_one(f"#tff-{key}", FormField).set_error(message)

    def set_buttons(self, start_label: str, can_start: bool, can_stop: bool,
                    stop_label: str = "■ Stop") -> None:
        start = self.query_one("#tf-start", Button)
        start.label = start_label
        start.disabled = not can_start
        stop = self.query_one("#tf-stop", Button)
        stop.label = stop_label
        stop.disabled = not can_stop

    def set_command(self, text: str) -> None:
        self.query_one("#tf-command", Static).update(text)

    def first_invalid(self) -> Input | None:
        for key in FIELD_KEYS:
            if key in self.errors:
                return self.query_one(f"#tf-{key}", Input)
        return None
