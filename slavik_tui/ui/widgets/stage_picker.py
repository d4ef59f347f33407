"""The stage of the training form: pretraining (`slavik-tui train`) or RL (`slavik-tui rl`,
GRPO), and the reward spec both score with (issue 9: the blue line means the same in both).

`StagePicker` sits at the top of `TrainForm`: a stage selector, the reward field, and the RL
stage's own fields (group, prompts, max new, kl), shown only for RL. Its inputs carry the
form's `tf--field` class and `tf-<key>` ids, so the form reads, checks and marks them like its
own; `stage_settings` turns the form's pretraining options into the chosen stage's: an
`RLOptions` for RL (with the RL flags' own metadata: lr's plan default 1e-5, the group's rule)
or a `TrainOptions` with its reward. The form's batch size and data fields mean nothing to
`rl` (its step is prompts × group completions; new text would move its held-out split), so
they are hidden for RL and not passed on. Pure Python here, like the form: no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Select

from slavik_tui.errors import UserError
from slavik_tui.spec.options import DEFAULT_REWARD, FORM_FLAGS, TrainOptions, flags_of
from slavik_tui.spec.rl_options import RLOptions
from slavik_tui.ui.widgets.forms import FormField

# stage -> (label in the selector, the command, the history's run kind, the options class)
STAGES: dict[str, tuple[str, str, str, type]] = {
    "pretrain": ("pretrain (train)", "train", "pretrain", TrainOptions),
    "rl": ("RL: GRPO (rl)", "rl", "grpo", RLOptions),
}
RL_FLAGS = {f.key: f for f in flags_of(RLOptions)}
STAGE_KEYS = tuple(key for key, f in RL_FLAGS.items()
                   if f.label and key not in {g.key for g in FORM_FLAGS})
"""The inputs the picker adds to the form (ids tf-<key>, fields tff-<key>): the labelled RL
flags the pretraining form lacks — reward, group, prompts, max_new, kl."""
RL_KEYS = tuple(key for key in STAGE_KEYS if key != "reward")
"""The RL stage's own fields (shown for RL only)."""
NOT_RL = ("batch_size", "data")
"""The form's own fields that `rl` does not take: hidden (and left out) for RL."""


def stage_of(opts: TrainOptions) -> str:
    """The stage whose options `opts` are ("rl" for RLOptions, else "pretrain")."""
    return "rl" if isinstance(opts, RLOptions) else "pretrain"


def stage_command(opts: TrainOptions) -> str:
    """The sub-command that runs `opts`: `train` or `rl`."""
    return STAGES[stage_of(opts)][1]


def stage_of_kind(kind: str | None) -> str | None:
    """The stage of a history run's kind ('grpo' → 'rl'); None for one the form cannot start
    (sft: `slavik-tui sft` takes a dialogue file)."""
    return next((stage for stage, (_l, _c, k, _o) in STAGES.items() if k == kind), None)


def plan_kind(plan: dict | None) -> str:
    """The stage kind of a run's config (its plan), 'pretrain' for a plan of before stages."""
    return str((plan or {}).get("kind") or "pretrain")


def _parse(key: str, text: str) -> object:
    """An RL field's text → value (None when empty: the plan's or the default), or UserError
    in the rl command's words."""
    text = text.strip()
    if not text:
        return None
    flag = RL_FLAGS[key]
    value = flag.parse(text)
    flag.check(value)
    return value


def stage_settings(stage: str, base: TrainOptions, errors: dict[str, str],
                   values: dict[str, str]) -> tuple[TrainOptions, dict[str, str]]:
    """The chosen stage's options from the form's pretraining ones (`base`, parsed with their
    `errors`) and the picker's field texts in `values`: (options, errors by field key)."""
    errors = dict(errors)
    reward = values.get("reward", "").strip()
    if stage != "rl":
        for key in RL_KEYS:
            errors.pop(key, None)
        return dataclasses.replace(base, reward=reward or DEFAULT_REWARD), errors
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
    opts = RLOptions(**kwargs)
    if not errors:
        try:
            opts.validate()
        except UserError as exc:
            errors[exc.field or "reward"] = str(exc)
    return opts, errors


def error_field(message: str) -> str | None:
    """The picker's field a trainer's one-line start error is about (it checks the reward
    spec, and --max-new against the context, before it records a run), else None."""
    text = message.lower()
    if text.startswith(("reward ", "unknown reward", "the reward spec")):
        return "reward"
    for key in STAGE_KEYS:  # "--max-new 64 and the 8-token prompt do not fit ..."
        if text.startswith(RL_FLAGS[key].flag + " "):
            return key
    return "reward" if "--reward" in text else None


class StagePicker(Widget):
    """Stage selector, reward field and the RL fields; posts `StagePicker.Changed` when the
    stage changes (the form re-checks, the screen refreshes its keys and command line)."""

    @dataclass
    class Changed(Message):
        """The stage is now `stage` ("pretrain" or "rl")."""

        stage: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-pretrain")
        self.stage = "pretrain"
        self.chosen = False
        """The user picked the stage for this model (a new snapshot then leaves it alone)."""

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
        self.set_class(stage == "pretrain", "-pretrain")
        form = self.parent
        for key in NOT_RL:  # the form's fields rl does not take
            for field in form.query(f"#tff-{key}") if form is not None else ():
                field.display = stage != "rl"
        self.post_message(self.Changed(stage))

    @on(Select.Changed, "#tf-stage")
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        if event.value in STAGES:
            self.chosen = True
            if event.value != self.stage:
                self._apply(str(event.value))

    def set_placeholders(self, plan: dict, resumable: bool = False) -> None:
        """What the empty picker fields mean: the same stage's plan, else the defaults."""
        same = plan_kind(plan) == self.kind
        reward = plan.get("reward") if same and self.stage == "rl" and resumable else None
        self.query_one("#tf-reward", Input).placeholder = reward or DEFAULT_REWARD
        for key in RL_KEYS:
            flag = RL_FLAGS[key]
            value = plan.get(key) if same and key in plan else flag.plan_default
            text = f"{value:g}" if isinstance(value, float) else str(value)
            self.query_one(f"#tf-{key}", Input).placeholder = text


__all__ = ["RL_KEYS", "STAGES", "STAGE_KEYS", "StagePicker", "error_field", "plan_kind",
           "stage_command", "stage_of", "stage_of_kind", "stage_settings"]
