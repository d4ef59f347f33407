"""A decoder per answer reuses the model's prepared weights until the model changes."""

from __future__ import annotations

import pytest
import torch

from slavik_tui.engine.decoder_int8 import Int8Decoder, int8_supported
from slavik_tui.engine.model import GPT
from slavik_tui.spec.config import ModelConfig


def small_model() -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=300, context=32, d_model=32, n_layers=2, n_heads=2,
                           tie_embeddings=False)).eval()


def full_forward_logits(model: GPT, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids]))[0][0, -1]


def kinds():
    yield GPT.decoder
    if int8_supported():
        yield Int8Decoder


@pytest.mark.parametrize("make", list(kinds()), ids=lambda f: getattr(f, "__name__", "x"))
def test_weights_are_prepared_once_and_again_after_a_change(make):
    model = small_model()
    a, b = make(model), make(model)
    assert a.head is b.head and a.layers[0][0] is b.layers[0][0]  # one copy for both

    ids = [3, 14, 15, 92, 65]
    before = make(model).prefill(ids)
    # an optimizer step writes the parameters in place; fused AdamW (the trainer's on a CPU)
    # does so without advancing their version counters
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, fused=True)
    model(torch.tensor([ids]), torch.tensor([ids]))[1].backward()
    opt.step()
    fresh = make(model)
    assert fresh.head is not a.head
    after = fresh.prefill(ids)
    want = full_forward_logits(model, ids)
    tol = 1e-4 if make is GPT.decoder else 0.05 * float(want.abs().max())
    assert torch.allclose(after, want, atol=tol)  # the new weights, not the cached ones
    assert not torch.allclose(after, before, atol=tol)

    other = small_model()  # another model with equal values has its own entry
    assert make(other).head is not fresh.head


def test_generations_borrow_idle_decoders_and_never_share_one():
    from slavik_tui.engine.decoder import Decoder, borrowed

    model = small_model()
    with borrowed(model, Decoder) as one:
        one.prefill([1, 2, 3])
        with borrowed(model, Decoder) as two:  # one is busy: a second generation gets its own
            assert two is not one and two.pos == 0
    with borrowed(model, Decoder) as again:
        assert again in (one, two) and again.pos == 0  # reused, and empty
    with torch.no_grad():
        model.lm_head.weight.add_(1.0)  # the model changed: idle decoders are stale
    with borrowed(model, Decoder) as fresh:
        assert fresh is not one and fresh is not two
        want = full_forward_logits(model, [4, 5])
        assert torch.allclose(fresh.prefill([4, 5]), want, atol=1e-4)


def test_a_generation_left_half_read_returns_its_decoder_when_closed():
    from slavik_tui.engine.decoder import _CACHE, Decoder
    from slavik_tui.engine.generate import generate
    from test_decoder_int8 import Bytes

    model = small_model()
    stream = generate(model, Bytes(), "ab", max_tokens=20, seed=1, quantize="none")
    next(stream)
    assert not _CACHE[model].get(("idle", Decoder))  # in use
    stream.close()
    assert len(_CACHE[model][("idle", Decoder)]) == 1
