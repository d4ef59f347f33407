"""How big a model a corpus can feed: the new-model form's size wizard (pure Python).

Chinchilla (Hoffmann et al., 2022): for a compute-optimal run, train on about 20 tokens per
parameter. A corpus of T tokens may be repeated: up to about 4 epochs cost almost nothing
against fresh text (Muennighoff et al., 2023, "Scaling Data-Constrained Language Models"), so
T tokens feed about 4·T / 20 = T / 5 parameters. The proposal is the largest shape of a
small ladder (d_model, layers = d_model / 64, heads of 64; narrower heads below 128) whose
exact parameter count (`ModelConfig.n_params`, embedding included) fits that budget and whose
training fits in half the device's memory; then the steps that show it 20 tokens a parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slavik_tui.spec.config import ModelConfig

TOKENS_PER_PARAM = 20  # Chinchilla's compute-optimal ratio
MAX_EPOCHS = 4  # repeats of the corpus that cost almost nothing
BYTES_PER_TOKEN = 4.0  # a byte-level BPE's usual rate, to estimate before the tokenizer exists
TRAIN_BYTES_PER_PARAM = 16  # fp32 weights + gradients + two AdamW moments
MEMORY_SHARE = 0.5  # of the device's memory the proposal may plan to use
WIDTHS = (32, 48, 64, 96, 128, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048)


@dataclass(frozen=True)
class SizeProposal:
    """A model shape for a corpus, the steps to train it, and the one-line reason."""

    d_model: int
    n_layers: int
    n_heads: int
    iters: int
    params: int
    tokens: int  # the corpus, in tokens (estimated or counted)
    budget: int  # the parameters the corpus can feed (MAX_EPOCHS · tokens / 20)
    summary: str  # the shape, its parameters and steps, one line
    reason: str  # why this size, one line


def shape_of(d_model: int) -> tuple[int, int]:
    """(layers, heads) of a width on the ladder: layers ≈ d_model / 64 (nanoGPT's 768 / 12),
    heads of 64 from d_model 128 up, of 32 or the whole width below."""
    layers = max(1, min(32, round(d_model / 64)))
    heads = d_model // 64 if d_model >= 128 else max(1, d_model // 32)
    return layers, heads


def train_memory(cfg: ModelConfig, batch_size: int) -> int:
    """Bytes a training step needs, roughly: the parameter state plus fp32 activations
    (per layer and token: ~16 values of d_model and one attention row per head)."""
    per_token_layer = 16 * cfg.d_model + 2 * cfg.n_heads * cfg.context
    activations = 4 * batch_size * cfg.context * cfg.n_layers * per_token_layer
    return TRAIN_BYTES_PER_PARAM * cfg.n_params + activations


def estimate_tokens(n_bytes: int) -> int:
    """Tokens of a corpus of `n_bytes` before its tokenizer is trained (about 4 bytes each)."""
    return max(0, int(n_bytes / BYTES_PER_TOKEN))


def propose_size(tokens: int, vocab_size: int = 8000, context: int = 256,
                 batch_size: int = 8, memory_bytes: int | None = None,
                 estimated: bool = False) -> SizeProposal:
    """The largest ladder shape the corpus (`tokens`) can feed and the memory can hold (with
    the form's vocab and context), and the steps at `batch_size` that give it 20 tokens a
    parameter. `estimated`: the count is `estimate_tokens`' (the reason says so)."""
    tokens = max(1, int(tokens))
    budget = MAX_EPOCHS * tokens // TOKENS_PER_PARAM
    fits_memory = None if not memory_bytes else int(memory_bytes * MEMORY_SHARE)
    chosen: ModelConfig | None = None
    limit = "the corpus"
    for width in WIDTHS:
        layers, heads = shape_of(width)
        cfg = ModelConfig(vocab_size=vocab_size, context=context, d_model=width,
                          n_layers=layers, n_heads=heads)
        if chosen is not None and cfg.n_params > budget:
            break
        if fits_memory is not None and train_memory(cfg, batch_size) > fits_memory:
            if chosen is not None:
                limit = "memory"
                break
        chosen = cfg
    assert chosen is not None  # the first width is always taken
    params = chosen.n_params
    # 20 tokens a parameter; a model larger than the corpus can feed (the smallest shape)
    # sees the corpus MAX_EPOCHS times, not more (it would only learn the text by heart).
    seen = TOKENS_PER_PARAM * params if params <= budget else MAX_EPOCHS * tokens
    iters = max(1, math.ceil(seen / (batch_size * context)))
    epochs = seen / tokens
    count = f"≈{_short(tokens)} tokens (est.)" if estimated else f"{_short(tokens)} tokens"
    if params > budget and limit == "the corpus":
        vocab_note = "; try a smaller vocab" if vocab_size * chosen.d_model > budget else ""
        reason = (f"{count} feed ~{_short(budget)} params (Chinchilla): smallest shape, "
                  f"{MAX_EPOCHS} epochs{vocab_note}")
    elif limit == "memory":
        reason = (f"{count} could feed ~{_short(budget)} params; more would need over half "
                  f"of {memory_bytes / 2**30:.0f} GiB to train")
    else:
        reason = (f"{count} × ≤{MAX_EPOCHS} epochs ÷ {TOKENS_PER_PARAM} tokens/param "
                  f"(Chinchilla) ≈ {_short(budget)} params")
    summary = (f"d_model {chosen.d_model} · {chosen.n_layers} layer"
               f"{'s' if chosen.n_layers > 1 else ''} · {chosen.n_heads} head"
               f"{'s' if chosen.n_heads > 1 else ''} · {_short(params)} params · "
               f"{iters:,} steps ({epochs:.1f} epochs at batch {batch_size} × {context})")
    return SizeProposal(chosen.d_model, chosen.n_layers, chosen.n_heads, iters, params,
                        tokens, budget, summary, reason)


def _short(n: float) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"
