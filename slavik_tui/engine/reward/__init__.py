"""Rewards: a real score of what the model writes (DESIGN §6).

A reward function has TRL's signature, so TRL-style functions drop in:

    fn(completions: list[str], prompts: list[str], **kwargs) -> list[float]

called by keyword with `references` (the true continuation of each prompt, from held-out
text) and the corpus context (`corpus_words`: the training text's distinct lower-cased words)
in kwargs. A spec weights several of them:

    spec = RewardSpec.parse("chrf:1,repetition:0.5")    # DEFAULT_SPEC; UserError if bad
    spec.check(corpus_words=words)                       # every function once, tiny input
    scores = spec.score(completions, prompts, references, corpus_words=words)
    scores.total                  # per completion: Σ weight × score
    scores.functions["chrf"]      # per completion, per function
    scores.summary()              # {"reward", "reward_std", "rewards/chrf", ...} means

Built-ins (functions.py): chrf, prefix, repetition, length, vocab; or `module:function`.
Pairs to score against come from held-out tokens (pairs.py): `held_out_pairs(data,
tokenizer, n)` for a `TokenData`'s val split, `text_pairs(windows, tokenizer)` for any windows
of token ids.

The old API — `resolve`, `score`, `RewardContext`, `corpus_words`, `distinct` (legacy.py) —
stays until the trainer switches to `RewardSpec`.
"""

from slavik_tui.engine.reward.functions import BUILTIN, vocab_score
from slavik_tui.engine.reward.legacy import RewardContext, corpus_words, distinct, resolve, score
from slavik_tui.engine.reward.pairs import Pair, held_out_pairs, held_out_windows, text_pairs
from slavik_tui.engine.reward.spec import (
    DEFAULT_SPEC,
    RewardFn,
    RewardScores,
    RewardSpec,
    RewardTerm,
    load_function,
)
from slavik_tui.engine.reward.text import repeated_share, words

__all__ = [
    "BUILTIN",
    "DEFAULT_SPEC",
    "Pair",
    "RewardContext",
    "RewardFn",
    "RewardScores",
    "RewardSpec",
    "RewardTerm",
    "corpus_words",
    "distinct",
    "held_out_pairs",
    "held_out_windows",
    "load_function",
    "repeated_share",
    "resolve",
    "score",
    "text_pairs",
    "vocab_score",
    "words",
]
