"""The old single-text reward API, kept only until the trainer calls `RewardSpec`.

`resolve(name)` gives `fn(text, ctx) -> float`, `score(fn, texts, ctx)` their mean clipped to
[0, 1], for the names `corpus_words` (now the `vocab` built-in), `distinct` and
`module:function` of that old signature. To be removed when engine/trainer.py switches to
`RewardSpec.parse(...).score(completions, prompts, references, corpus_words=...)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from slavik_tui.engine.reward.functions import vocab_score
from slavik_tui.engine.reward.text import repeated_share, words
from slavik_tui.errors import UserError


@dataclass
class RewardContext:
    corpus_words: set[str] = field(default_factory=set)


TextRewardFn = Callable[[str, RewardContext], float]


def corpus_words(text: str, ctx: RewardContext) -> float:
    return vocab_score(text, ctx.corpus_words)


def distinct(text: str, ctx: RewardContext) -> float:
    tokens = words(text)
    return 0.0 if len(tokens) < 3 else 1.0 - repeated_share(tokens)


LEGACY = {"corpus_words": corpus_words, "distinct": distinct}


def resolve(name: str) -> TextRewardFn:
    """A single-text reward function by old built-in name or `module:function`."""
    if name in LEGACY:
        return LEGACY[name]
    if ":" not in name:
        raise UserError(
            f"unknown reward '{name}'; use one of {', '.join(LEGACY)} or module:function",
            field="reward",
        )
    module_name, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load reward function '{name}' ({exc}); check the name",
                        field="reward") from None
    if not callable(fn):
        raise UserError(f"reward '{name}' is not a function", field="reward")
    return fn


def score(fn: TextRewardFn, texts: list[str], ctx: RewardContext) -> float:
    """Mean reward over texts, each clipped to [0, 1]."""
    if not texts:
        return 0.0
    return sum(min(1.0, max(0.0, float(fn(t, ctx)))) for t in texts) / len(texts)
