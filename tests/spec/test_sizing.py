"""The size wizard's maths: Chinchilla's 20 tokens a parameter over up to 4 epochs, a shape
ladder, the memory cap, and the steps that give the model its tokens."""

from __future__ import annotations

import math

import pytest

from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.sizing import (
    MAX_EPOCHS,
    TOKENS_PER_PARAM,
    WIDTHS,
    estimate_tokens,
    propose_size,
    shape_of,
    train_memory,
)


def config_of(p, vocab=8000, context=256) -> ModelConfig:
    return ModelConfig(vocab_size=vocab, context=context, d_model=p.d_model,
                       n_layers=p.n_layers, n_heads=p.n_heads)


@pytest.mark.parametrize("tokens", [3_000_000, 50_000_000, 400_000_000])
def test_the_largest_ladder_shape_within_the_corpus_budget(tokens):
    p = propose_size(tokens)
    budget = MAX_EPOCHS * tokens // TOKENS_PER_PARAM
    assert p.budget == budget
    assert p.params == config_of(p).n_params <= budget
    bigger = WIDTHS[WIDTHS.index(p.d_model) + 1]
    layers, heads = shape_of(bigger)
    assert ModelConfig(d_model=bigger, n_layers=layers, n_heads=heads).n_params > budget
    # 20 tokens a parameter, in whole steps of batch 8 × context 256
    assert p.iters == math.ceil(TOKENS_PER_PARAM * p.params / (8 * 256))
    assert "Chinchilla" in p.reason and f"{p.iters:,} steps" in p.summary
    assert "\n" not in p.reason + p.summary and len(p.reason) < 100


def test_numbers_for_a_50m_token_corpus():
    p = propose_size(50_000_000)
    assert (p.d_model, p.n_layers, p.n_heads) == (320, 5, 5)
    assert p.params == 8_758_720 and p.iters == 85_535


def test_shapes_keep_heads_dividing_the_width():
    for width in WIDTHS:
        layers, heads = shape_of(width)
        assert width % heads == 0 and layers >= 1
        assert width // heads == 64 or width < 128


def test_a_small_corpus_gets_the_smallest_shape_and_at_most_four_epochs():
    p = propose_size(92_277, vocab_size=400, context=32, batch_size=4)
    assert (p.d_model, p.n_layers, p.n_heads) == (32, 1, 1)
    assert p.params > p.budget
    assert p.iters == math.ceil(MAX_EPOCHS * 92_277 / (4 * 32))
    assert "smallest shape, 4 epochs" in p.reason
    assert "(4.0 epochs at batch 4 × 32)" in p.summary


def test_memory_caps_the_size():
    free = propose_size(2_000_000_000, vocab_size=32000)
    capped = propose_size(2_000_000_000, vocab_size=32000, memory_bytes=2 * 2**30)
    assert capped.params < free.params
    assert train_memory(config_of(capped, vocab=32000), 8) <= 2**30
    assert "half of 2 GiB" in capped.reason


def test_an_estimated_count_says_so():
    assert estimate_tokens(4_000_000) == 1_000_000
    p = propose_size(estimate_tokens(4_000_000), estimated=True)
    assert p.reason.startswith("≈1M tokens (est.)") and len(p.reason) < 100
