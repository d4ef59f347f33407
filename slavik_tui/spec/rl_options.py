"""What a user may ask of an RL (GRPO) run: `slavik-tui rl NAME` takes every `train` flag
that makes sense for it, plus the group-relative policy-gradient ones below.

`RLOptions` subclasses `TrainOptions`, so the parser, the detached trainer's argv
(`options_argv`) and the plan come from the same field metadata (`_option`). A value left at
None continues the saved plan of an unfinished RL run, else takes the plan default here; the
plan keeps every RL setting, so a resume after a kill samples and scores exactly as before.

Defaults, and why:
- `lr` 3e-5: an RL step moves the weights toward what a handful of sampled texts scored, a
  far noisier signal than pretraining's next-token targets. Measured (bench/rl_gain.py, 150
  steps on a model pretrained on Anna Karenina): 1e-5 moved the held-out reward by +0.005
  (noise), 3e-5 by +0.016 with val bits/byte +4.3%, 5e-5 by +0.015 with +6.8%, 1e-4 by +0.019
  with +13.7%, 3e-4 lowered it (−0.019, +49%). Raise it for a quick effect on a tiny model;
  lower it, or add --kl, when bits/byte climbs.
- `group` 8, `prompts` 8: 64 completions per step, GRPO's usual group size; a group of one
  has no baseline, so at least 2.
- `max_new` 64 tokens per completion (the prompt is 16): long enough for chrF to mean
  something, short enough for a CPU step of a few seconds.
- `temperature` 1.0: the completions are samples of the policy whose log-probabilities the
  loss uses; another temperature samples (and scores the log-probabilities of) the tempered
  policy.
- `kl` 0: no reference model (GRPO variants since DAPO and Dr. GRPO drop it); with `kl` > 0
  the frozen starting weights are kept (in the checkpoint, for exact resume) and
  kl·KL(policy‖start) joins the loss.
- `std_norm` off: the advantage is reward − group mean; dividing by the group's std (GRPO's
  original) over-weights groups whose completions barely differ (Dr. GRPO).
- `ppo_epochs` 1, `clip` 0.2: one update per batch is plain policy gradient; more updates
  re-use the batch with PPO's clipped ratio, the 0.2 of PPO and GRPO.
Pure Python (no torch): the app's form checks these by the trainer's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from slavik_tui.errors import UserError
from slavik_tui.spec.options import (
    DEFAULT_REWARD,
    TrainOptions,
    _lr,
    _not_negative,
    _option,
    _positive,
)

DEFAULT_RL_LR = 3e-5
PROMPT_TOKENS = 16  # as the evals' and the lab's prompts


def prompt_tokens(context: int) -> int:
    """The tokens of an RL prompt for a model of `context` tokens (a quarter of a short one)."""
    return max(1, min(PROMPT_TOKENS, context // 4))


def longest_max_new(context: int) -> int:
    """The most new tokens a completion may have after its prompt in `context` tokens: the
    rl stage refuses a --max-new above it, and the form offers it when 64 do not fit."""
    return context - prompt_tokens(context)


def _group(v: int) -> str | None:
    return None if v >= 2 else (f"must be at least 2 (a group's mean is the baseline of its "
                                f"completions), got {v}")


def _temperature(v: float) -> str | None:
    return None if 0 < v <= 10 else f"must be a number above 0 like 1.0, got {v}"


def _clip(v: float) -> str | None:
    return None if 0 < v < 1 else f"must be between 0 and 1 like 0.2, got {v}"


@dataclass
class RLOptions(TrainOptions):
    """The `rl` flags: TrainOptions' (batch_size, lr and reward redefined) and GRPO's own."""

    batch_size: int | None = _option(None, "sequences per validation batch of the evals (a "
                                     "step is --prompts x --group completions)", "int",
                                     metavar="B", plan=8, rule=_positive)
    lr: float | None = _option(None, "peak learning rate", "float", metavar="LR", label="lr",
                               plan=DEFAULT_RL_LR, rule=_lr, example="3e-5")
    reward: str | None = _option(
        None, "reward spec, e.g. chrf:1,repetition:0.5 (default: the unfinished run's, "
        f"else {DEFAULT_REWARD})", "str", metavar="SPEC", label="reward")
    group: int | None = _option(None, "completions sampled per prompt (the group)", "int",
                                metavar="G", label="group", plan=8, rule=_group)
    prompts: int | None = _option(None, "held-out prompts per step", "int", metavar="P",
                                  label="prompts", plan=8, rule=_positive)
    max_new: int | None = _option(None, "new tokens per completion", "int", metavar="N",
                                  label="max new", plan=64, rule=_positive)
    temperature: float | None = _option(None, "sampling temperature", "float", metavar="T",
                                        plan=1.0, rule=_temperature, example="1.0")
    kl: float | None = _option(None, "weight of KL(policy ‖ the starting weights) in the loss",
                               "float", metavar="BETA", label="kl", plan=0.0,
                               rule=_not_negative, example="0.04")
    std_norm: bool | None = _option(None, "divide advantages by the group's reward std "
                                    "(GRPO's original; off: reward − group mean)", "bool",
                                    plan=False)
    ppo_epochs: int | None = _option(None, "updates per sampled batch (more than 1: PPO "
                                     "clipping)", "int", metavar="K", plan=1, rule=_positive)
    clip: float | None = _option(None, "PPO clip range of the probability ratio", "float",
                                 metavar="EPS", plan=0.2, rule=_clip, example="0.2")

    def validate(self) -> None:
        super().validate()
        if self.data:
            raise UserError("rl takes no --data (new text would move the held-out split its "
                            "prompts come from); add it with `slavik-tui train NAME --data FILE`",
                            field="data")
        if self.launched:
            raise UserError("rl runs in one process; drop --nproc/--nnodes", field="nproc")
        if self.grad_accum not in (None, 1):
            raise UserError("rl takes no --grad-accum: a step is --prompts × --group "
                            "completions, split by prompt", field="grad_accum")
