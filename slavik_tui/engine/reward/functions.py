"""The built-in reward functions, each with TRL's signature:

    fn(completions: list[str], prompts: list[str], **kwargs) -> list[float]

`kwargs["references"]` holds the true continuation of each prompt (held-out text) and
`kwargs["corpus_words"]` the training corpus's distinct lower-cased words,
`kwargs["corpus_ngram"]` its character n-gram model and `kwargs["corpus_pairs"]` its word
pairs (context.py builds them); a function ignores
the keyword arguments it does not need, as TRL's do. Scores and ranges:

- `chrf`       chrF of the completion against its reference (sacrebleu's chrF2: character
               6-grams, spaces removed, recall weighted twice precision), scaled to 0..1.
               1 = the reference itself; the words in another order lose the n-grams that
               span two words, so shuffled text scores well below.
- `prefix`     share of the reference's UTF-8 bytes that the completion reproduces from the
               start, counted in whole characters (a half-matched letter is no match), 0..1.
- `repetition` a penalty, −1..0: minus the share of the completion's word 3-grams that
               already occurred earlier in it. 0 = no phrase repeats (and fewer than three
               words cannot repeat one); a phrase looping forever approaches −1.
- `length`     a penalty, −1..0, for a completion much shorter (it ended the text early) or
               longer than its reference, in characters: 0 within 0.75–1.25× the reference's
               length, falling linearly to −1 at 0× and at 2× and beyond. An empty
               reference (the held-out text ended there) wants an empty completion.
- `ngram`      how plausible the completion is as text of the training corpus, reference-free:
               its per-character cross-entropy under a character 5-gram model of the training
               text (`kwargs["corpus_ngram"]`, a `CharNgram`), against the corpus's own
               held-out level, as exp(−max(0, H − H_ref) / scale), 0..1 (ngram.py has the
               maths). Rewards fluent text that says something else than the reference;
               shuffled words and random tokens score low; an empty completion scores 0.
- `bigrams`    how many of the completion's adjacent word pairs the training text has
               (`kwargs["corpus_pairs"]`, a `WordPairs`), against the share on the corpus's
               own held-out text, clipped: min(1, share / share_ref), 0..1 (word_pairs.py).
               Reference-free and word-order-aware: shuffled words lose their pairs.
- `vocab`      share of the completion's words that are words of the training corpus ×
               (1 − share of repeated word 3-grams), 0..1 (the old `corpus_words`). Easy to
               max out with common short words, so it is not the default.

Penalties are negative rather than "1 − share" so that adding one to a spec never raises the
combined score of clean text: `chrf:1,repetition:0.5` scores the reference itself exactly 1.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from slavik_tui.engine.reward.text import repeated_share, words
from slavik_tui.errors import UserError

_chrf_metric = None  # sacrebleu costs ~0.1 s to import: only a spec that uses chrf pays it


def _metric():
    global _chrf_metric
    if _chrf_metric is None:
        try:
            from sacrebleu.metrics import CHRF
        except ImportError:
            raise UserError(
                "reward 'chrf' needs the sacrebleu package; install it with "
                "pip install 'sacrebleu>=2.4'", field="reward"
            ) from None

        _chrf_metric = CHRF()  # chrF2: char_order 6, word_order 0, beta 2
    return _chrf_metric


def _references(name: str, completions: list[str], kwargs: dict) -> list[str]:
    refs = kwargs.get("references")
    if refs is None:
        raise UserError(
            f"reward '{name}' compares each completion with the true continuation of its "
            "prompt, but no references were given; pass references=[...] (one per completion)",
            field="reward",
        )
    if len(refs) != len(completions):
        raise UserError(
            f"reward '{name}' got {len(refs)} references for {len(completions)} completions; "
            "pass one reference per completion", field="reward"
        )
    return [str(r) for r in refs]


def chrf(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """chrF2 of each completion against its reference, 0..1."""
    metric = _metric()
    refs = _references("chrf", completions, kwargs)
    return [metric.sentence_score(c, [r]).score / 100.0 for c, r in zip(completions, refs)]


def prefix(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """Share of the reference's bytes matched from its start, in whole characters, 0..1."""
    out = []
    for c, r in zip(completions, _references("prefix", completions, kwargs)):
        total = len(r.encode("utf-8"))
        # The common prefix of two str is whole characters, so its UTF-8 length never counts
        # the shared first byte of two different letters (а and б are d0 b0 and d0 b1).
        out.append(len(os.path.commonprefix([c, r]).encode("utf-8")) / total if total else 0.0)
    return out


def repetition(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """Minus the share of repeated word 3-grams, −1..0."""
    return [-s if (s := repeated_share(words(c))) else 0.0 for c in completions]


SHORT, LONG = 0.75, 1.25  # no length penalty between these ratios to the reference's length


def length(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """Soft penalty for a completion far shorter or longer than its reference, −1..0."""
    out = []
    for c, r in zip(completions, _references("length", completions, kwargs)):
        if not r:
            out.append(0.0 if not c else -1.0)
            continue
        ratio = len(c) / len(r)
        if ratio < SHORT:
            out.append(-(SHORT - ratio) / SHORT)
        elif ratio > LONG:
            out.append(-min(1.0, (ratio - LONG) / (2.0 - LONG)))
        else:
            out.append(0.0)
    return out


def _corpus_model(kwargs: dict, key: str, name: str, what: str):
    """kwargs[key], the corpus model a reference-free function scores with, or one line."""
    model = kwargs.get(key)
    if model is None:
        raise UserError(
            f"reward '{name}' needs {what} of the training text, but none was given; pass "
            f"{key}=... (the trainer and the lab build it from the model's data with "
            "reward.corpus_context)", field="reward"
        )
    return model


def ngram(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """Plausibility of each completion after its prompt under kwargs["corpus_ngram"], 0..1."""
    model = _corpus_model(kwargs, "corpus_ngram", "ngram", "the n-gram model")
    return model.scores(completions, prompts)


def bigrams(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """Familiarity of each completion's word pairs under kwargs["corpus_pairs"], 0..1."""
    pairs = _corpus_model(kwargs, "corpus_pairs", "bigrams", "the word pairs")
    return pairs.scores(completions, prompts)


def vocab_score(text: str, corpus_words: Collection[str]) -> float:
    """Share of corpus words × (1 − share of repeated word 3-grams); 0 for no words."""
    tokens = words(text)
    if not tokens:
        return 0.0
    real = sum(1 for w in tokens if w in corpus_words) / len(tokens)
    return real * (1.0 - repeated_share(tokens))


def vocab(completions: list[str], prompts: list[str], **kwargs) -> list[float]:
    """`vocab_score` of each completion against kwargs["corpus_words"], 0..1."""
    corpus = _corpus_model(kwargs, "corpus_words", "vocab", "the word list")
    return [vocab_score(c, corpus) for c in completions]


BUILTIN = {"chrf": chrf, "prefix": prefix, "repetition": repetition, "length": length,
           "ngram": ngram, "bigrams": bigrams, "vocab": vocab}
