"""The RL prompts: prefixes of held-out text that no eval and no lab ever scores.

Each dataset's last 10% is held out (TokenData's val split), and three readers score it at
fixed windows evenly spaced through it (`TokenData._val_positions`):
- the evals' val loss: `eval_batches × batch_size` windows of context + 1 tokens;
- the evals' reward prompts: `EVAL_PROMPTS` of them, each looking up to `EVAL_LOOKAHEAD`
  tokens ahead for a line start, then sampling a continuation;
- the reward lab (and bench/rl_gain.py's held-out score): `held_out_pairs(data, tok, n)`,
  n = `LAB_SAMPLES`, its default --samples, windows of context + 1 tokens.
RL takes what is left: the val split cut into spans of `prompt + max_new + ALIGN` tokens,
keeping those that touch none of those windows (`split`). chrF pays a completion for
reproducing its reference, so RL pulls the model toward its prompts' continuations: kept
apart, val bits/byte still measures text RL never trained toward, and the lab's and evals'
rewards stay rewards on prompts RL never saw. A span becomes a (prompt, reference) pair as the
lab's do (`text_pairs`: the prompt starts at a line, else a word; the reference is the next
max_new tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slavik_tui.engine.reward import Pair, text_pairs
from slavik_tui.errors import UserError
from slavik_tui.spec.rl_options import PROMPT_TOKENS, prompt_tokens

ALIGN = 16  # room before the prompt to start it at a line or a word
EVAL_PROMPTS = 4
EVAL_LOOKAHEAD = 256 + PROMPT_TOKENS + 32  # TokenData.reward_prompts' search + its sample
LAB_SAMPLES = 16


def scored_windows(data, eval_windows: int) -> list[tuple[int, int, int]]:
    """(part, start, end) of every held-out window an eval or the lab scores (the val loss's
    `eval_windows`, none when 0); start and end are offsets into the part's token array."""
    window = data.context + 1
    readers = [(eval_windows, window), (EVAL_PROMPTS, max(window, EVAL_LOOKAHEAD)),
               (LAB_SAMPLES, window)]
    out = []
    for count, extent in readers:
        if count < 1:
            continue
        parts, starts = data._val_positions(count)
        out += [(int(k), int(s), int(s) + extent) for k, s in zip(parts, starts)]
    return out


def split(data, eval_windows: int, span: int) -> list[tuple[int, int]]:
    """(part, start) of the RL spans: `span` tokens each, tiling the val split, none touching
    a scored window."""
    scored = scored_windows(data, eval_windows)
    train = data.split_tokens("train")
    out = []
    for k, val in enumerate(data.split_tokens("val")):
        lo = int(train[k].shape[0])
        hits = sorted((s, e) for part, s, e in scored if part == k)
        for start in range(lo, lo + int(val.shape[0]) - span + 1, span):
            end = start + span
            if not any(s < end and start < e for s, e in hits):
                out.append((k, start))
    return out


@dataclass(frozen=True)
class PromptPool:
    """The RL pairs, fixed for a run; `draw(step)` picks a step's prompts."""

    pairs: tuple[Pair, ...]
    seed: int
    apart_from_val_loss: bool = True  # False: the val split was too short to keep them apart

    @classmethod
    def build(cls, data, tokenizer, eval_windows: int, max_new: int, seed: int, name: str,
              wanted: int = 1) -> PromptPool:
        """The pairs of `split`; when fewer than `wanted` stay apart from the val-loss
        windows too (a short held-out split), apart from the reward-scored windows only."""
        n_prompt = prompt_tokens(data.context)
        span = n_prompt + max_new + ALIGN
        val = data.split_tokens("val")
        lo = [int(t.shape[0]) for t in data.split_tokens("train")]
        for apart in (True, False):
            spans = split(data, eval_windows if apart else 0, span)
            windows = [np.asarray(val[k][s - lo[k] : s - lo[k] + span]) for k, s in spans]
            pairs = [p for p in text_pairs(windows, tokenizer, n_prompt, max_new)
                     if p.reference.strip() and p.prompt.strip()] if windows else []
            if len(pairs) >= wanted:
                return cls(tuple(pairs), seed, apart)
        if not pairs:
            held = sum(int(t.shape[0]) for t in val)
            raise UserError(
                f"model {name}'s held-out text ({held:,} tokens) has no room for RL prompts "
                "apart from the windows its evals and the reward lab score; add text with "
                f"`slavik-tui train {name} --data FILE`, or use a smaller --max-new or "
                "--eval-batches", field="data")
        return cls(tuple(pairs), seed, False)

    def draw(self, step: int, count: int) -> list[Pair]:
        """`count` pairs for `step`: a pure function of (seed, step), distinct while the
        pool has enough."""
        rng = np.random.default_rng([int(self.seed), int(step), 7])
        n = len(self.pairs)
        idx = rng.choice(n, size=count, replace=count > n)
        return [self.pairs[int(i)] for i in idx]
