"""The stage of the training form: pretraining (`slavik-tui train`), dialogue fine-tuning
(`slavik-tui sft`) or RL (`slavik-tui rl`, GRPO), and the reward spec they score with (issue 9:
the blue line means the same in every stage).

`StagePicker` sits at the top of `TrainForm`: a stage selector, the reward field, and each
stage's own fields: RL's group, prompts, max new and kl; SFT's CSV columns. Its inputs carry
the form's `tf--field` class and `tf-<key>` ids (SFT's columns are composed by the form, under
its dialogues: `sft_fields`), so the form reads, checks and marks them like
its own; `stage_settings` turns the form's pretraining options into the chosen stage's: an
`RLOptions` for RL (with the RL flags' own metadata: lr's plan default 1e-5, the group's rule),
an `SFTOptions` for SFT (lr's plan default 2e-4; the form's data field holds the dialogue
files, each read by engine/chat/read.py as `sft` will, so a malformed record is one line at
the field before anything starts) or a `TrainOptions` with its reward. The form's batch size
and data fields mean nothing to `rl` (its step is prompts × group completions; new text would
move its held-out split), so they are hidden for RL and not passed on. Pure Python here, like
the form: no torch.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select

from slavik_tui.errors import UserError
from slavik_tui.spec.options import DEFAULT_REWARD, FORM_FLAGS, TrainOptions, flags_of
from slavik_tui.spec.rl_options import RLOptions, longest_max_new
from slavik_tui.spec.sft_options import SFTOptions
from slavik_tui.ui.widgets.forms import FormField

# stage -> (label in the selector, the command, the history's run kind, the options class)
STAGES: dict[str, tuple[str, str, str, type]] = {
    "pretrain": ("pretrain (train)", "train", "pretrain", TrainOptions),
    "sft": ("SFT: dialogues (sft)", "sft", "sft", SFTOptions),
    "rl": ("RL: GRPO (rl)", "rl", "grpo", RLOptions),
}
RL_FLAGS = {f.key: f for f in flags_of(RLOptions)}
SFT_FLAGS = {f.key: f for f in flags_of(SFTOptions)}
_FORM_KEYS = {g.key for g in FORM_FLAGS}
RL_KEYS = tuple(key for key, f in RL_FLAGS.items()
                if f.label and key not in _FORM_KEYS and key != "reward")
"""The RL stage's own fields (shown for RL only): the labelled RL flags the pretraining form
lacks — group, prompts, max_new, kl."""
SFT_KEYS = ("columns",)
"""The SFT stage's own fields (shown for SFT only): the question and answer columns of a CSV."""
STAGE_KEYS = ("reward", *RL_KEYS, *SFT_KEYS)
"""The inputs the picker adds to the form (ids tf-<key>, fields tff-<key>)."""
OWN_KEYS = {"rl": RL_KEYS, "sft": SFT_KEYS}
NOT_RL = ("batch_size", "data")
"""The form's own fields that `rl` does not take: hidden (and left out) for RL."""
FLAGS = {**RL_FLAGS, **{key: SFT_FLAGS[key] for key in SFT_KEYS}}
DIALOGUES_LABEL = SFT_FLAGS["data"].label
DATA_HINT = "more text files (Tab completes)"
DIALOGUES_HINT = "dialogue files: .jsonl, .csv/.tsv, text (Tab completes)"
DEFAULT_COLUMNS = "question,answer"  # engine/chat/read.py's, for a CSV without --columns


def stage_of(opts: TrainOptions) -> str:
    """The stage whose options `opts` are ("rl" for RLOptions, "sft" for SFTOptions, else
    "pretrain")."""
    if isinstance(opts, RLOptions):
        return "rl"
    return "sft" if isinstance(opts, SFTOptions) else "pretrain"


def stage_command(opts: TrainOptions) -> str:
    """The sub-command that runs `opts`: `train` or `rl`."""
    return STAGES[stage_of(opts)][1]


def stage_of_kind(kind: str | None) -> str | None:
    """The stage of a history run's kind ('grpo' → 'rl', 'sft' → 'sft'); None for a kind the
    form cannot start."""
    return next((stage for stage, (_l, _c, k, _o) in STAGES.items() if k == kind), None)


def plan_kind(plan: dict | None) -> str:
    """The stage kind of a run's config (its plan), 'pretrain' for a plan of before stages."""
    return str((plan or {}).get("kind") or "pretrain")


def _parse(key: str, text: str) -> object:
    """A stage field's text → value (None when empty: the plan's or the default), or
    UserError in the stage command's words."""
    text = text.strip()
    if not text:
        return None
    flag = FLAGS[key]
    value = flag.parse(text)
    flag.check(value)
    return value


@functools.lru_cache(maxsize=32)
def _dialogues_problem(path: str, stamp: tuple[int, int], columns: tuple[str, str] | None,
                       encoding: str | None) -> tuple[str, str] | None:
    """(field, one line) when `sft` would refuse the dialogue file at `path`, else None;
    cached by the file's (mtime, size), so typing in another field reads nothing again."""
    from slavik_tui.engine.chat.read import read_dialogues  # no torch: a file check

    try:
        read_dialogues(path, columns, encoding)
    except UserError as exc:
        return (exc.field if exc.field in ("data", "columns") else "data",
                " ".join(str(exc).split()))
    return None


def dialogues_problem(paths: list[str], columns: str | None,
                      encoding: str | None) -> tuple[str, str] | None:
    """The first of `paths` that `sft --data` would refuse: (field, one line), else None."""
    pair = tuple(p.strip() for p in columns.split(",")) if columns else None
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # the data field's own check says so
        problem = _dialogues_problem(path, (st.st_mtime_ns, st.st_size), pair, encoding)
        if problem is not None:
            return problem
    return None


def stage_settings(stage: str, base: TrainOptions, errors: dict[str, str],
                   values: dict[str, str]) -> tuple[TrainOptions, dict[str, str]]:
    """The chosen stage's options from the form's pretraining ones (`base`, parsed with their
    `errors`) and the picker's field texts in `values`: (options, errors by field key). An
    empty field is the stage's plan default (RL cuts its 64 new tokens to a short context
    itself: Stage.fit_plan)."""
    errors = dict(errors)
    reward = values.get("reward", "").strip()
    for other, keys in OWN_KEYS.items():
        if other != stage:
            for key in keys:
                errors.pop(key, None)
    if stage == "pretrain":
        return dataclasses.replace(base, reward=reward or DEFAULT_REWARD), errors
    if stage == "sft":
        return _sft_settings(base, errors, values, reward)
    for key in NOT_RL:
        errors.pop(key, None)
    kwargs = {f.name: getattr(base, f.name) for f in dataclasses.fields(TrainOptions)
              if f.name not in (*NOT_RL, "reward")}
    kwargs["reward"] = reward or None
    for key in RL_KEYS:
        try:
            kwargs[key] = _parse(key, values.get(key, ""))
        except UserError as exc:
            errors[key] = str(exc)
    return _validated(RLOptions(**kwargs), errors, "reward")


def _validated(opts, errors: dict[str, str], fallback: str):
    """(opts, errors) with the stage's own checks when the fields parsed; an error with no
    field of its own goes to `fallback`."""
    if not errors:
        try:
            opts.validate()
        except UserError as exc:
            errors[exc.field or fallback] = str(exc)
    return opts, errors


def _sft_settings(base: TrainOptions, errors: dict[str, str], values: dict[str, str],
                  reward: str) -> tuple[SFTOptions, dict[str, str]]:
    """SFTOptions: the form's fields, its data field's files as the dialogues, --columns."""
    kwargs = {f.name: getattr(base, f.name) for f in dataclasses.fields(TrainOptions)}
    kwargs["reward"] = reward or DEFAULT_REWARD
    try:
        kwargs["columns"] = _parse("columns", values.get("columns", ""))
    except UserError as exc:
        errors["columns"] = str(exc)
    opts, errors = _validated(SFTOptions(**kwargs), errors, "data")
    if "data" not in errors and "columns" not in errors:
        problem = dialogues_problem(opts.data, opts.columns, opts.encoding)
        if problem is not None:
            errors[problem[0]] = problem[1]
    return opts, errors


def error_field(message: str) -> str | None:
    """The picker's field a trainer's one-line start error is about (it checks the reward
    spec, and --max-new against the context, before it records a run), else None."""
    text = message.lower()
    if text.startswith(("reward ", "unknown reward", "the reward spec")):
        return "reward"
    for key in STAGE_KEYS:  # "--max-new 64 and the 8-token prompt do not fit ..."
        if text.startswith(FLAGS[key].flag + " "):
            return key
    return "reward" if "--reward" in text else None


def sft_fields() -> ComposeResult:
    """The SFT stage's own fields (its CSV columns): the form composes them right after its
    data field, as they are about those dialogue files (shown for SFT only)."""
    for key in SFT_KEYS:
        yield FormField(key, Input(id=f"tf-{key}", compact=True, classes="tf--field"),
                        layout="stacked", id=f"tff-{key}", classes="tf--sft")


class StagePicker(Widget):
    """Stage selector, reward field and each stage's own fields; posts `StagePicker.Changed`
    when the stage changes (the form re-checks, the screen refreshes its keys and command
    line)."""

    @dataclass
    class Changed(Message):
        """The stage is now `stage` ("pretrain", "sft" or "rl")."""

        stage: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-pretrain")
        self.stage = "pretrain"
        self.chosen = False
        """The user picked the stage for this model (a new snapshot then leaves it alone)."""
        self.context: int | None = None
        """The model's context (tokens), when known: RL's max new must fit it."""
        self.defaults: dict[str, object] = {}
        """Empty fields' values the plan default cannot take (see `stage_settings`)."""

    def compose(self) -> ComposeResult:
        yield FormField("stage", Select([(label, key) for key, (label, *_r) in STAGES.items()],
                                        value="pretrain", allow_blank=False, compact=True,
                                        id="tf-stage"),
                        layout="stacked", id="tff-stage")
        yield FormField("reward", Input(id="tf-reward", compact=True, classes="tf--field"),
                        layout="stacked", id="tff-reward")
        for key in RL_KEYS:
            flag = RL_FLAGS[key]
            yield FormField(flag.label or key, Input(id=f"tf-{key}", compact=True,
                                                     classes="tf--field -number"),
                            layout="stacked", id=f"tff-{key}", classes="tf--rl")

    def on_mount(self) -> None:
        self._show_fields()
        self.set_placeholders({})

    @property
    def options_class(self) -> type:
        return STAGES[self.stage][3]

    @property
    def kind(self) -> str:
        """The history kind of the runs this stage records."""
        return STAGES[self.stage][2]

    def flag(self, key: str):
        """The chosen stage's flag of a form field (RL redefines lr's plan default)."""
        return {f.key: f for f in flags_of(self.options_class)}.get(key)

    def reset(self) -> None:
        """Another model is shown: pretraining until its newest run says otherwise."""
        self.chosen = False
        self.set_stage("pretrain")

    def set_stage(self, stage: str, chosen: bool = False) -> None:
        """Show `stage` (from code: a model whose newest run is RL opens on RL)."""
        if stage not in STAGES:
            return
        self.chosen = self.chosen or chosen
        select = self.query_one("#tf-stage", Select)
        if select.value != stage:
            with self.prevent(Select.Changed):
                select.value = stage
        if stage != self.stage:
            self._apply(stage)

    def _apply(self, stage: str) -> None:
        self.stage = stage
        self._show_fields()
        self.post_message(self.Changed(stage))

    def _show_fields(self) -> None:
        """Each stage's own fields for that stage only; the form's data field names the
        dialogues for SFT; batch size and data hidden for RL."""
        stage = self.stage
        self.set_class(stage != "rl", "-pretrain")  # app.tcss hides the RL fields
        form = self.parent
        if form is None:
            return
        for key in SFT_KEYS:  # composed by the form, after the dialogues (sft_fields)
            for field in form.query(f"#tff-{key}"):
                field.display = stage == "sft"
        for key in NOT_RL:  # the form's fields rl does not take
            for field in form.query(f"#tff-{key}"):
                field.display = stage != "rl"
        sft = stage == "sft"
        for field in form.query("#tff-data"):
            field.widget.placeholder = DIALOGUES_HINT if sft else DATA_HINT
            for label in field.query(".field--label").results(Label):  # once composed
                label.update(DIALOGUES_LABEL if sft else field.label)

    @on(Select.Changed, "#tf-stage")
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        if event.value in STAGES:
            self.chosen = True
            if event.value != self.stage:
                self._apply(str(event.value))

    def set_placeholders(self, plan: dict, resumable: bool = False) -> None:
        """What the empty picker fields mean: the same stage's plan, else the defaults (RL's
        max new: the longest that fits the model's context when its 64 do not, as the rl
        stage's plan cuts it)."""
        same = plan_kind(plan) == self.kind
        reward = plan.get("reward") if same and self.stage == "rl" and resumable else None
        self.query_one("#tf-reward", Input).placeholder = reward or DEFAULT_REWARD
        self.defaults = {}
        for key in RL_KEYS:
            flag = RL_FLAGS[key]
            value = plan.get(key) if same and key in plan else flag.plan_default
            if key == "max_new" and self.context and not (same and resumable):
                fits = longest_max_new(self.context)  # a new run takes the plan default
                if 0 < fits < flag.plan_default:
                    value = self.defaults[key] = fits
            text = f"{value:g}" if isinstance(value, float) else str(value)
            self.query_one(f"#tf-{key}", Input).placeholder = text
        columns = plan.get("columns") if same else None
        for field in self.parent.query("#tf-columns") if self.parent else ():
            field.placeholder = (columns or DEFAULT_COLUMNS) + " (for .csv/.tsv)"


__all__ = ["DATA_HINT", "RL_KEYS", "SFT_KEYS", "STAGES", "STAGE_KEYS", "StagePicker", "error_field", "plan_kind",
           "stage_command", "stage_of", "stage_of_kind", "stage_settings", "dialogues_problem",
           "sft_fields"]
