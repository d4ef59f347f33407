"""Rewards: a real score of what the model writes (DESIGN §6).

A reward function has TRL's signature, so TRL-style functions drop in:

    fn(completions: list[str], prompts: list[str], **kwargs) -> list[float]

called by keyword with `references` (the true continuation of each prompt, from held-out
text) and the corpus context in kwargs: `corpus_words` (the training text's distinct
lower-cased words), `corpus_ngram` (a `CharNgram`: a character n-gram model of the
training text, calibrated on held-out text) and `corpus_pairs` (a `WordPairs`: the training
text's adjacent word pairs, with the share of held-out pairs among them). A spec weights several of them:

    spec = RewardSpec.parse(DEFAULT_SPEC)                # UserError if bad
    ctx = corpus_context(model_dir, data, spec)          # once per process (~1 s from 2 MB)
    spec.check(**ctx)                                    # every function once, tiny input
    scores = spec.score(completions, prompts, references, **ctx)
    scores.total                  # per completion: Σ weight × score
    scores.functions["chrf"]      # per completion, per function
    scores.summary()              # {"reward", "reward_std", "rewards/chrf", ...} means

Built-ins (functions.py): chrf, prefix, repetition, length, ngram (ngram.py), bigrams
(word_pairs.py), vocab; or `module:function`. `CharNgram.from_text(text)` and
`WordPairs.from_text(text)` build the corpus models from raw text.
Pairs to score against come from held-out tokens (pairs.py): `held_out_pairs(data,
tokenizer, n)` for a `TokenData`'s val split, `text_pairs(windows, tokenizer)` for any windows
of token ids.

The old single-text rewards are gone: `upgrade_legacy(text)` maps their names in a saved plan
or an old command line (`corpus_words` → `vocab`, `distinct` → `repetition`) with a note.
"""

from slavik_tui.engine.reward.context import corpus_context, ngram_from_data, pairs_from_data
from slavik_tui.engine.reward.functions import BUILTIN, vocab_score
from slavik_tui.engine.reward.ngram import CharNgram
from slavik_tui.engine.reward.pairs import (
    Pair,
    held_out_pairs,
    held_out_windows,
    span_text,
    text_pairs,
)
from slavik_tui.engine.reward.spec import (
    DEFAULT_SPEC,
    RewardFn,
    RewardScores,
    RewardSpec,
    RewardTerm,
    load_function,
    upgrade_legacy,
)
from slavik_tui.engine.reward.text import repeated_share, words
from slavik_tui.engine.reward.word_pairs import WordPairs

__all__ = [
    "BUILTIN",
    "DEFAULT_SPEC",
    "CharNgram",
    "Pair",
    "RewardFn",
    "RewardScores",
    "RewardSpec",
    "RewardTerm",
    "WordPairs",
    "corpus_context",
    "held_out_pairs",
    "held_out_windows",
    "load_function",
    "ngram_from_data",
    "pairs_from_data",
    "repeated_share",
    "span_text",
    "text_pairs",
    "upgrade_legacy",
    "vocab_score",
    "words",
]
