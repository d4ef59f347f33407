"""A run's evaluation, the same in every stage: val loss and bits/byte on held-out batches, and
the reward spec's score of a few seeded samples on held-out prompts, each against the text that
truly follows its prompt (DESIGN §6: the blue line means the same in every stage).

The prompts are `held_out_pairs(data, tokenizer, EVAL_PROMPTS)`: one per window at the
`EVAL_PROMPTS` evenly spaced places of the val split where the evals have always sampled
(`TokenData._val_positions(4)`, the windows engine/rl/prompts.py keeps RL away from), the
prompt starting at a line (else a word), the reference the next `REFERENCE_TOKENS` tokens.
They come from the pretraining corpus (`reward_data`), also for a stage whose batches are
something else and that keeps this evaluation (SFT has its own: replies to held-out questions
scored against their answers with the same spec, engine/sft.py).
Each sample draws from its own seeded generator, so an eval never disturbs the run's random
state (exact resume).
"""

from __future__ import annotations

import math

import torch

from slavik_tui.engine.reward import Pair, held_out_pairs
from slavik_tui.engine.reward_lab import SAMPLING  # the lab's "model" column samples the same

EVAL_PROMPTS = 4
PROMPT_TOKENS = 16
REFERENCE_TOKENS = 32  # at most (a small context shrinks it); each sample is as long


def reward_data(data, model_dir):
    """The held-out text the evals' prompts come from: the stage's own batches when they are
    the pretraining corpus (TokenData), else that corpus (other batches may hold padded,
    masked rows that are no text to continue)."""
    from slavik_tui.engine.data import TokenData

    return data if isinstance(data, TokenData) else TokenData(model_dir, data.context)


def eval_pairs(data, tokenizer) -> list[Pair]:
    """The evals' fixed (prompt, reference) pairs; those whose held-out text ended right after
    the prompt (nothing to compare with) are left out."""
    pairs = held_out_pairs(data, tokenizer, EVAL_PROMPTS, PROMPT_TOKENS, REFERENCE_TOKENS)
    return [p for p in pairs if p.reference.strip()]


def score_samples(loop, step: int) -> dict:
    """Sample a continuation of each eval prompt and score it with the run's reward spec:
    {"reward", "reward_std", "rewards": {NAME: mean}, "sample"} (NaN scores when the
    held-out text has no prompt with a continuation)."""
    from slavik_tui.engine.generate import generate

    spec, plan = loop.reward_spec, loop.plan
    pairs = loop.eval_pairs  # fixed for the run: found at the first eval
    if pairs is None:
        pairs = loop.eval_pairs = eval_pairs(reward_data(loop.data, loop.t.model_dir),
                                             loop.tokenizer)
    texts = []
    for i, pair in enumerate(pairs):
        n = max(1, len(loop.tokenizer.encode(pair.reference)))  # as long as the reference
        pieces = generate(loop.model, loop.tokenizer, pair.prompt, max_tokens=n,
                          seed=plan["seed"] * 1000 + step * 4 + i, **SAMPLING)
        texts.append("".join(pieces))
    if not pairs:
        return {"reward": math.nan, "reward_std": math.nan,
                "rewards": {name: math.nan for name in spec.names}, "sample": ""}
    scores = spec.score(texts, [p.prompt for p in pairs], [p.reference for p in pairs],
                        **loop.reward_ctx)
    summary = scores.summary()
    return {"reward": summary["reward"], "reward_std": summary["reward_std"],
            "rewards": {name: summary[f"rewards/{name}"] for name in spec.names},
            "sample": texts[0]}


def reward_metrics(ev: dict) -> dict[str, float]:
    """The eval's named series for History.log_metrics: reward_std and rewards/NAME."""
    return {"reward_std": ev["reward_std"],
            **{f"rewards/{name}": value for name, value in ev["rewards"].items()}}


@torch.no_grad()
def evaluate(loop, step: int) -> dict:
    """`loop` is the run's TrainLoop (model, data, tokenizer, plan, device, reward_spec,
    reward_ctx). Returns val_loss, val_bpb, reward, reward_std, rewards ({NAME: mean}),
    metrics (what the loop logs with History.log_metrics) and one sample."""
    model, plan = loop.model, loop.plan
    model.eval()
    losses = []
    for x, y in loop.data.val_batches(plan["eval_batches"], plan["batch_size"]):
        with loop._autocast():
            _, loss = model(x.to(loop.device), y.to(loop.device))
        losses.append(float(loss))
    val_loss = sum(losses) / len(losses)
    val_bpb = val_loss / math.log(2) / loop.data.val_bytes_per_token
    ev = {"val_loss": val_loss, "val_bpb": val_bpb, **score_samples(loop, step)}
    ev["metrics"] = reward_metrics(ev)
    model.train()
    return ev
