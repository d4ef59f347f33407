"""The reward lab: does a reward spec tell good text from bad? (DESIGN §6, issue 9)

On N held-out (prompt, reference) pairs it scores five kinds of text with the spec, per
function and combined:

- `real`      the references themselves (the true continuations; the ceiling);
- `model`     the model's own samples for each prompt (as the trainer's evals sample them);
- `shuffled`  the reference's words in random order (same letters, no grammar);
- `repeated`  the reference's first three words over and over, cut to its length;
- `random`    random tokens of the model's vocabulary, as many as the reference has.

A spec worth optimising ranks real far above shuffled, repeated and random, and a trained
model's samples somewhere between. Everything is seeded: the same model, spec, N and seed give
the same table.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from slavik_tui.engine.reward import (
    DEFAULT_SPEC,
    Pair,
    RewardSpec,
    corpus_context,
    held_out_pairs,
)
from slavik_tui.errors import UserError

KINDS = ("real", "model", "shuffled", "repeated", "random")
BAD_KINDS = ("shuffled", "repeated", "random")
PHRASE_WORDS = 3
SAMPLING = dict(temperature=0.8, top_k=50, top_p=0.95)  # the trainer's eval sampling


def shuffled(reference: str, rng: np.random.Generator) -> str:
    """The reference's whitespace-separated words in a random order, joined by spaces."""
    words = reference.split()
    return " ".join(words[i] for i in rng.permutation(len(words)))


def repeated(reference: str) -> str:
    """The reference's first words, repeated until the text is as long as the reference."""
    phrase = " ".join(reference.split()[:PHRASE_WORDS])
    if not phrase:
        return ""
    times = len(reference) // (len(phrase) + 1) + 1
    return " ".join([phrase] * times)[: len(reference)].rstrip()


def random_tokens(tokenizer, count: int, rng: np.random.Generator) -> str:
    """`count` tokens drawn uniformly from the vocabulary (never end-of-text), decoded."""
    eot = int(tokenizer.eot_id)
    ids = rng.integers(0, tokenizer.vocab_size - 1, size=max(1, count))
    ids = np.where(ids >= eot, ids + 1, ids)  # skip eot, keep the draw uniform over the rest
    data = b"".join(tokenizer.token_bytes(int(t)) for t in ids)
    return data.decode("utf-8", errors="replace")


def model_samples(model, tokenizer, pairs: list[Pair], seed: int) -> list[str]:
    """One sampled continuation per prompt, as long in tokens as its reference."""
    from slavik_tui.engine.generate import generate

    out = []
    for i, pair in enumerate(pairs):
        n = max(1, len(tokenizer.encode(pair.reference)))
        pieces = generate(model, tokenizer, pair.prompt, max_tokens=n, seed=seed * 100_003 + i,
                          **SAMPLING)
        out.append("".join(pieces))
    return out


def kind_texts(pairs: list[Pair], tokenizer, seed: int = 0, model=None) -> dict[str, list[str]]:
    """The texts of every kind (no "model" without a model), one per pair."""
    texts: dict[str, list[str]] = {"real": [p.reference for p in pairs]}
    if model is not None:
        texts["model"] = model_samples(model, tokenizer, pairs, seed)
    rngs = [np.random.default_rng([seed, i]) for i in range(len(pairs))]
    texts["shuffled"] = [shuffled(p.reference, rng) for p, rng in zip(pairs, rngs)]
    texts["repeated"] = [repeated(p.reference) for p in pairs]
    texts["random"] = [random_tokens(tokenizer, len(tokenizer.encode(p.reference)), rng)
                       for p, rng in zip(pairs, rngs)]
    return texts


def lab(spec: str | RewardSpec, pairs: list[Pair], tokenizer, model=None, seed: int = 0,
        **ctx) -> dict:
    """Scores of each kind of text: {"reward", "samples", "scores", "functions"}.

    `ctx` reaches the reward functions (corpus_words=..., corpus_ngram=...). Means over the
    pairs.
    """
    spec = spec if isinstance(spec, RewardSpec) else RewardSpec.parse(spec)
    pairs = [p for p in pairs if p.reference.strip()]  # an ended document has nothing to match
    if not pairs:
        raise UserError("the held-out text gave no prompt with a continuation; add more text "
                        "with --data", field="data")
    prompts = [p.prompt for p in pairs]
    refs = [p.reference for p in pairs]
    scores: dict[str, float] = {}
    functions: dict[str, dict[str, float]] = {name: {} for name in spec.names}
    for kind, texts in kind_texts(pairs, tokenizer, seed, model).items():
        result = spec.score(texts, prompts, refs, **ctx)
        scores[kind] = float(np.mean(result.total))
        for name, values in result.functions.items():
            functions[name][kind] = float(np.mean(values))
    return {"reward": str(spec), "samples": len(pairs), "scores": scores, "functions": functions}


def run_lab(model_dir: str | os.PathLike, spec: str | RewardSpec = DEFAULT_SPEC,
            samples: int = 16, seed: int = 0, device: str = "cpu", prompt_tokens: int = 16,
            reference_tokens: int = 32) -> dict:
    """The lab on a model folder: its weights, tokenizer and held-out data (the val split)."""
    from slavik_tui.engine.checkpoint import load_model
    from slavik_tui.engine.data import TokenData

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise UserError(f"--samples must be a whole number of at least 1, got {samples!r}",
                        field="samples")
    model_dir = Path(model_dir)
    spec = spec if isinstance(spec, RewardSpec) else RewardSpec.parse(spec)
    model, tokenizer, cfg = load_model(model_dir, device=device)
    data = TokenData(model_dir, context=cfg.context)
    ctx = corpus_context(model_dir, data, spec)
    spec.check(**ctx)
    pairs = held_out_pairs(data, tokenizer, samples, prompt_tokens, reference_tokens)
    return lab(spec, pairs, tokenizer, model=model, seed=seed, **ctx)


def margin(result: dict) -> float:
    """real − the best of shuffled / repeated / random, combined: > 0 when real ranks first."""
    scores = result["scores"]
    bad = [scores[k] for k in BAD_KINDS if k in scores]
    return scores["real"] - max(bad) if bad else math.nan


def format_table(result: dict) -> str:
    """The lab's result as a plain-text table: one row per function, one column per kind."""
    kinds = [k for k in KINDS if k in result["scores"]]
    rows = [("reward", result["scores"])]
    rows += [(f"  {name}", values) for name, values in result["functions"].items()]
    label = max(len(name) for name, _ in rows)
    width = max(8, *(len(k) + 1 for k in kinds))
    lines = [f"reward {result['reward']} on {result['samples']} held-out prompts",
             " " * label + "".join(k.rjust(width) for k in kinds)]
    for name, values in rows:
        lines.append(name.ljust(label) + "".join(f"{values[k]:{width}.3f}" for k in kinds))
    lines.append(f"margin: real − best of {' / '.join(BAD_KINDS)} = {margin(result):.3f}")
    return "\n".join(lines)
