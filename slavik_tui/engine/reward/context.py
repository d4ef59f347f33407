"""The corpus context the reward functions get in kwargs, built once per process from a model.

    ctx = corpus_context(model_dir, data)        # {"corpus_words": ..., "corpus_ngram": ...}
    spec.check(**ctx)
    spec.score(completions, prompts, references, **ctx)

`corpus_words` is the training corpus's distinct lower-cased words (for `vocab`), read from the
model's word lists; `corpus_pairs` a `WordPairs` (for `bigrams`) of the same text as
`corpus_ngram`, a `CharNgram` (for `ngram`): counted on up to `max_chars`
characters of the training split (evenly spaced spans of the token caches, decoded), its
reference cross-entropy measured on up to a tenth as much of the validation split — the text
the lab's and the evals' references come from, and which the counts never saw. Building the
n-gram model from 2 MB takes about a second; a spec given as `spec` builds only what its
functions need (a user's `module:function` may want anything, so it gets both).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from slavik_tui.engine.reward.ngram import ORDER, CharNgram
from slavik_tui.engine.reward.pairs import span_text
from slavik_tui.engine.reward.word_pairs import WordPairs
from slavik_tui.errors import UserError

MAX_CHARS = 2_000_000
SPAN_TOKENS = 1024  # one decoded piece; n-grams never span two pieces

# The context key each built-in needs (built-ins not listed need none).
NEEDS = {"ngram": "corpus_ngram", "bigrams": "corpus_pairs", "vocab": "corpus_words"}


def sample_text(parts: Sequence[np.ndarray], tokenizer, max_chars: int) -> list[str]:
    """About `max_chars` characters of text from token arrays: all of it when it is no longer,
    else spans of SPAN_TOKENS evenly spaced through every array (in proportion to its size)."""
    sizes = [int(p.shape[0]) for p in parts]
    total = sum(sizes)
    if not total:
        return []
    # chars per token, measured on the middle span of the largest array
    big = parts[int(np.argmax(sizes))]
    mid = max(0, big.shape[0] // 2 - SPAN_TOKENS // 2)
    probe = np.asarray(big[mid : mid + SPAN_TOKENS])
    per_token = max(1e-3, sum(len(t) for t in span_text(probe, tokenizer)) / max(1, probe.size))
    wanted = math.ceil(max_chars / per_token)
    texts: list[str] = []
    for part, size in zip(parts, sizes):
        if not size:
            continue
        if total <= wanted:  # everything, in spans so no single decode is huge
            starts = range(0, size, SPAN_TOKENS * 64)
            length = SPAN_TOKENS * 64
        else:
            count = max(1, round(wanted * size / total / SPAN_TOKENS))
            last = max(0, size - SPAN_TOKENS)
            starts = np.unique(np.linspace(0, last, num=count).round().astype(np.int64))
            length = SPAN_TOKENS
        for s in starts:
            texts += span_text(np.asarray(part[int(s) : int(s) + length]), tokenizer)
    return texts


def _split_texts(data, tokenizer, max_chars: int) -> tuple[list[str], list[str]]:
    """Text of a `TokenData`'s training split (≤ max_chars) and of its validation split."""
    train = sample_text(data.split_tokens("train"), tokenizer, max_chars)
    held = sample_text(data.split_tokens("val"), tokenizer, max(50_000, max_chars // 10))
    return train, held


def _fitted(kind: str, fit, data):
    try:
        return fit()
    except ValueError as exc:  # token caches of end-of-text tokens only, or too little text
        raise UserError(f"the reward's {kind} found too little text in model "
                        f"{data.model_dir.name}'s data ({exc}); add a text file with --data",
                        field="data") from None


def ngram_from_data(data, tokenizer, max_chars: int = MAX_CHARS, order: int = ORDER,
                    texts: tuple[list[str], list[str]] | None = None) -> CharNgram:
    """The `CharNgram` of a `TokenData`'s training split, calibrated on its validation split."""
    train, held = texts or _split_texts(data, tokenizer, max_chars)
    return _fitted("n-gram model", lambda: CharNgram.fit(train, held, order=order), data)


def pairs_from_data(data, tokenizer, max_chars: int = MAX_CHARS,
                    texts: tuple[list[str], list[str]] | None = None) -> WordPairs:
    """The `WordPairs` of a `TokenData`'s training split, calibrated on its validation split."""
    train, held = texts or _split_texts(data, tokenizer, max_chars)
    return _fitted("word pairs", lambda: WordPairs.fit(train, held), data)


def needed(spec) -> set[str]:
    """The context keys the functions of `spec` need (None or a user function: all)."""
    if spec is None or any(":" in name for name in spec.names):
        return set(NEEDS.values())
    return {NEEDS[name] for name in spec.names if name in NEEDS}


def corpus_context(model_dir: str | os.PathLike, data=None, spec=None,
                   max_chars: int = MAX_CHARS) -> dict:
    """kwargs for `RewardSpec.score` / `check`: corpus_words, corpus_ngram and corpus_pairs of
    the model's data (only those `spec` needs when given). `data` is its `TokenData` (any context), opened
    here when not given."""
    from slavik_tui.engine.data import TokenData, load_corpus_words

    keys = needed(spec)
    ctx: dict = {}
    if "corpus_words" in keys:
        ctx["corpus_words"] = load_corpus_words(model_dir)
    if keys & {"corpus_ngram", "corpus_pairs"}:
        data = data if data is not None else TokenData(model_dir, context=1)
        texts = _split_texts(data, data.tokenizer, max_chars)  # decoded once for both
        if "corpus_ngram" in keys:
            ctx["corpus_ngram"] = ngram_from_data(data, data.tokenizer, texts=texts)
        if "corpus_pairs" in keys:
            ctx["corpus_pairs"] = pairs_from_data(data, data.tokenizer, texts=texts)
    return ctx
