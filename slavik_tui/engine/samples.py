"""A few seeded samples of a model's current weights, for the run report (issue 13 item 10).

The history keeps no eval samples, so a report makes its own: continuations of held-out
prompts (the val split, as the reward lab and the evals take them), sampled the way the evals
sample (`reward_lab.SAMPLING`) from a fixed seed, so the same weights give the same texts.
Without token caches to draw prompts from, each sample starts a new document instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from slavik_tui.errors import UserError

PROMPT_TOKENS, SAMPLE_TOKENS = 16, 48


@dataclass
class Samples:
    """Sampled texts and how they were made (the report says it)."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    """(prompt, continuation) pairs; a prompt "" starts a new document."""
    step: int = 0
    """The checkpoint step of the weights that wrote them."""
    how: str = ""
    """One sentence: where the prompts come from, the seed and the sampling."""


def report_samples(model_dir: str | os.PathLike, n: int = 3, seed: int = 0,
                   max_tokens: int = SAMPLE_TOKENS) -> Samples:
    """`n` seeded continuations by the weights in `model_dir` (loaded on the CPU)."""
    from slavik_tui.engine.checkpoint import load_model, saved_step
    from slavik_tui.engine.data import TokenData
    from slavik_tui.engine.generate import generate
    from slavik_tui.engine.reward import held_out_pairs
    from slavik_tui.engine.reward_lab import SAMPLING

    model_dir = Path(model_dir)
    model, tokenizer, cfg = load_model(model_dir)
    try:
        pairs = held_out_pairs(TokenData(model_dir, context=cfg.context), tokenizer, n,
                               PROMPT_TOKENS)
        prompts = [p.prompt for p in pairs][:n]
        where = "held-out prompts (the validation split)"
    except UserError:
        prompts = []
    if not prompts:
        prompts, where = [""] * n, "no prompt (each sample starts a new document)"
    texts = []
    for i, prompt in enumerate(prompts):
        pieces = generate(model, tokenizer, prompt, max_tokens=max_tokens,
                          seed=seed * 100_003 + i, **SAMPLING)
        texts.append((prompt, "".join(pieces)))
    knobs = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in SAMPLING.items())
    how = (f"{len(texts)} samples of up to {max_tokens} tokens from {where}, seed {seed}, "
           f"{knobs}")
    return Samples(texts, saved_step(model_dir), how)
