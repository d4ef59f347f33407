"""Decoding with int8 weights (engine/decoder_int8.py) against the float32 decoder."""

from __future__ import annotations

import pytest
import torch

from slavik_tui.engine.decoder_int8 import Int8Decoder, int8_supported, quantize, resolve_quantize
from slavik_tui.engine.generate import GenerationStats, generate
from slavik_tui.engine.model import GPT
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig

needs_kernel = pytest.mark.skipif(not int8_supported("cpu"), reason="no int8 kernel in this torch")


def small_model(d_model: int = 64, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=300, context=48, d_model=d_model, n_layers=2, n_heads=4,
                      tie_embeddings=False)
    return GPT(cfg).eval()


def test_quantize_rounds_each_weight_to_half_a_step_of_its_row():
    torch.manual_seed(1)
    w_t = torch.randn(40, 24) * torch.linspace(0.01, 3, 24)  # rows of very different scales
    q, scale = quantize(w_t)
    assert q.dtype == torch.int8 and q.shape == (24, 40) and scale.shape == (24,)
    assert int(q.abs().max()) == 127  # each row's largest weight uses the full range
    back = (q.float() * scale.float()[:, None]).t()
    err = (back - w_t).abs()
    assert torch.all(err <= scale.float()[None, :] / 2 + 1e-6)
    assert torch.all(q.abs().amax(dim=1) >= 126)  # no row squeezed into a few levels


@needs_kernel
@pytest.mark.parametrize("d_model", [32, 64])
def test_int8_steps_follow_the_float32_decoder(d_model):
    model = small_model(d_model)
    ids = torch.randint(0, 300, (40,), generator=torch.Generator().manual_seed(2)).tolist()
    exact, fast = model.decoder(), Int8Decoder(model)
    a, b = exact.prefill(ids[:10]), fast.prefill(ids[:10])
    worst = float((a - b).abs().max() / a.abs().max())
    same_top = int(a.argmax() == b.argmax())
    for t in ids[10:]:
        a, b = exact.step(t), fast.step(t)
        worst = max(worst, float((a - b).abs().max() / a.abs().max()))
        same_top += int(a.argmax() == b.argmax())
    assert fast.pos == exact.pos == 40
    assert worst < 0.05, worst  # a wrong RoPE, norm or layout is off by ~100%
    assert same_top >= 28  # of 31


@needs_kernel
def test_int8_prefill_equals_its_own_steps():
    model = small_model()
    ids = list(range(5, 25))
    whole, steps = Int8Decoder(model), Int8Decoder(model)
    a = whole.prefill(ids)
    b = steps.prefill(ids[:1])
    for t in ids[1:]:
        b = steps.step(t)
    assert whole.pos == steps.pos == 20
    assert float((a - b).abs().max() / a.abs().max()) < 0.02
    assert torch.allclose(whole.qk_cache[:, :20], steps.qk_cache[:, :20], rtol=0.05, atol=0.05)


class Bytes:
    """A byte tokenizer over the model's first 257 ids (256 bytes + end-of-text)."""
    vocab_size, eot_id = 257, 256

    def encode(self, text):
        return list(text.encode("utf-8"))

    def token_bytes(self, t):
        return bytes([t]) if t < 256 else b""


@needs_kernel
def test_generate_decodes_with_int8_by_default_and_is_reproducible():
    model = small_model()
    stats = GenerationStats()
    args = dict(max_tokens=60, temperature=0.9, seed=3)  # > context: the window slides too
    one = "".join(generate(model, Bytes(), "ab", stats=stats, **args))
    assert stats.weights == "int8" and "(int8 weights)" in stats.line()
    assert one == "".join(generate(model, Bytes(), "ab", quantize="int8", **args))
    plain = GenerationStats()
    list(generate(model, Bytes(), "ab", stats=plain, quantize="none", **args))
    assert plain.weights == "" and "int8" not in plain.line()


def test_resolve_quantize():
    model = small_model()
    assert resolve_quantize(model, "none") == "none"
    assert resolve_quantize(model, "auto") == ("int8" if int8_supported() else "none")
    with pytest.raises(UserError, match="one of auto, none, int8"):
        resolve_quantize(model, "int4")
    model.to(torch.bfloat16)
    assert resolve_quantize(model, "auto") == "none"  # a bf16 model keeps its own weights
    with pytest.raises(UserError, match="float32 model on the CPU.*--quantize none"):
        resolve_quantize(model, "int8")
    assert resolve_quantize(object(), "auto") == "none"  # not a GPT: its own decoder
