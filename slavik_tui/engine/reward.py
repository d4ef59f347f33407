"""Rewards: a real score of what the model writes (DESIGN §6).

At every eval the trainer samples short continuations of fixed prompts from the validation
text and scores each with a reward function `fn(text, ctx) -> float in [0, 1]`; the blue line
is the mean. The same functions serve a later RL fine-tuning stage, so the line means the same
thing in both.

Built-in functions (pick with the trainer's `reward` option):
- `corpus_words` (default): share of generated words that are real words of the training
  corpus × (1 − share of repeated word 3-grams). Gibberish scores ~0, fluent but looping text
  is penalised.
- `distinct`: share of distinct word 3-grams (fluency-agnostic diversity).
- `module:function`: any importable Python function with the same signature.
"""

from __future__ import annotations

import importlib
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from slavik_tui.engine.data import WORD_RE
from slavik_tui.errors import UserError


@dataclass
class RewardContext:
    corpus_words: set[str] = field(default_factory=set)


RewardFn = Callable[[str, RewardContext], float]


def words(text: str) -> list[str]:
    """Lower-cased words in order, split exactly as the corpus word list was (data.words_in)."""
    return [w.lower() for w in WORD_RE.findall(unicodedata.normalize("NFC", text))]


def repeated_trigram_share(tokens: list[str]) -> float:
    """Share of word 3-grams that already occurred earlier in the same text."""
    grams = list(zip(tokens, tokens[1:], tokens[2:]))
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def corpus_words(text: str, ctx: RewardContext) -> float:
    tokens = words(text)
    if not tokens:
        return 0.0
    real = sum(1 for w in tokens if w in ctx.corpus_words) / len(tokens)
    return real * (1.0 - repeated_trigram_share(tokens))


def distinct(text: str, ctx: RewardContext) -> float:
    tokens = words(text)
    if len(tokens) < 3:
        return 0.0
    return 1.0 - repeated_trigram_share(tokens)


BUILTIN: dict[str, RewardFn] = {"corpus_words": corpus_words, "distinct": distinct}


def resolve(name: str) -> RewardFn:
    """A reward function by built-in name or `module:function`."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" not in name:
        raise UserError(
            f"unknown reward '{name}'; use one of {', '.join(BUILTIN)} or module:function"
        )
    module_name, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load reward function '{name}' ({exc}); check the name") from None
    if not callable(fn):
        raise UserError(f"reward '{name}' is not a function")
    return fn


def score(fn: RewardFn, texts: list[str], ctx: RewardContext) -> float:
    """Mean reward over texts, each clipped to [0, 1]."""
    if not texts:
        return 0.0
    return sum(min(1.0, max(0.0, float(fn(t, ctx)))) for t in texts) / len(texts)
