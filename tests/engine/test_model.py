"""engine/model.py: parameter count, causality, KV-cache equivalence, learning, autocast."""

from __future__ import annotations

import math

import pytest
import torch

from slavik_tui.spec.config import ModelConfig
from slavik_tui.engine.model import GPT

CONFIGS = [
    ModelConfig(vocab_size=300, context=32, d_model=32, n_layers=1, n_heads=2),
    ModelConfig(vocab_size=457, context=64, d_model=64, n_layers=2, n_heads=4,
                tie_embeddings=False),
    ModelConfig(vocab_size=500, context=48, d_model=48, n_layers=2, n_heads=3, ffn_hidden=100),
    ModelConfig(vocab_size=320, context=32, d_model=64, n_layers=3, n_heads=2, tie_embeddings=False,
                rope_theta=500.0, norm_eps=1e-6),
]


def make_model(cfg: ModelConfig, seed: int = 0) -> GPT:
    """A model whose every weight matters: norm weights off 1, so folding them is tested."""
    torch.manual_seed(seed)
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("cfg", CONFIGS, ids=["tiny", "untied", "ffn100", "theta500"])
def test_param_count_matches_config_formula(cfg):
    model = GPT(cfg)
    d, v, h, n = cfg.d_model, cfg.vocab_size, cfg.ffn_hidden, cfg.n_layers
    formula = v * d + n * (4 * d * d + 3 * d * h + 2 * d) + d + (0 if cfg.tie_embeddings else v * d)
    assert sum(p.numel() for p in model.parameters()) == cfg.n_params == formula
    tied = model.lm_head.weight is model.embed_tokens.weight
    assert tied == cfg.tie_embeddings


def test_state_dict_uses_hugging_face_llama_names():
    cfg = CONFIGS[1]
    sd = GPT(cfg).state_dict()
    expected = {"embed_tokens.weight", "norm.weight", "lm_head.weight"}
    for i in range(cfg.n_layers):
        for part in ("q_proj", "k_proj", "v_proj", "o_proj"):
            expected.add(f"layers.{i}.self_attn.{part}.weight")
        for part in ("gate_proj", "up_proj", "down_proj"):
            expected.add(f"layers.{i}.mlp.{part}.weight")
        for norm in ("input_layernorm", "post_attention_layernorm"):
            expected.add(f"layers.{i}.{norm}.weight")
    assert set(sd) == expected  # RoPE tables are buffers but not saved
    assert sd["layers.0.mlp.gate_proj.weight"].shape == (cfg.ffn_hidden, cfg.d_model)
    assert all(t.dtype == torch.float32 for t in sd.values())


def test_init_scales_residual_projections():
    cfg = ModelConfig(vocab_size=2000, context=32, d_model=256, n_layers=8, n_heads=4)
    model = GPT(cfg)
    std = lambda t: t.detach().std().item()  # noqa: E731
    assert std(model.embed_tokens.weight) == pytest.approx(0.02, rel=0.05)
    assert std(model.layers[0].self_attn.q_proj.weight) == pytest.approx(0.02, rel=0.05)
    small = 0.02 / math.sqrt(2 * cfg.n_layers)
    assert std(model.layers[3].self_attn.o_proj.weight) == pytest.approx(small, rel=0.05)
    assert std(model.layers[3].mlp.down_proj.weight) == pytest.approx(small, rel=0.05)
    assert torch.equal(model.norm.weight, torch.ones(cfg.d_model))


def test_forward_shapes_and_loss():
    cfg = CONFIGS[0]
    model = make_model(cfg)
    idx = torch.randint(0, cfg.vocab_size, (3, cfg.context))
    logits, loss = model(idx)
    assert logits.shape == (3, cfg.context, cfg.vocab_size) and logits.dtype == torch.float32
    assert loss is None
    no_logits, loss = model(idx, idx)
    assert no_logits is None  # with targets the head and loss run fused (engine/loss.py)
    expected = torch.nn.functional.cross_entropy(logits.view(-1, cfg.vocab_size), idx.view(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, cfg.context + 1, dtype=torch.long))


def test_attention_is_causal():
    cfg = CONFIGS[1]
    model = make_model(cfg)
    idx = torch.randint(0, cfg.vocab_size, (1, 40))
    changed = idx.clone()
    changed[0, 25] = (idx[0, 25] + 1) % cfg.vocab_size
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    assert torch.allclose(a[:, :25], b[:, :25], atol=1e-6, rtol=0)
    assert (a[:, 25:] - b[:, 25:]).abs().amax(-1).min() > 1e-4  # every later position sees it


@pytest.mark.parametrize("cfg, scalar_norm", [(CONFIGS[0], True), (CONFIGS[1], True),
                                               (CONFIGS[3], True), (CONFIGS[1], False)],
                         ids=["tiny", "untied", "theta500", "untied-gpu-norm"])
def test_kv_cache_matches_full_forward_step_by_step(cfg, scalar_norm):
    model = make_model(cfg, seed=1)
    T = cfg.context
    idx = torch.randint(0, cfg.vocab_size, (1, T))
    with torch.no_grad():
        full, _ = model(idx)
    full = full[0]
    dec = model.decoder()
    dec._scalar_norm = scalar_norm  # False: the path a GPU takes (the scale stays a tensor)
    logits = dec.prefill(idx[0, :5].tolist())
    assert logits.shape == (cfg.vocab_size,) and logits.dtype == torch.float32
    torch.testing.assert_close(logits, full[4], atol=1e-5, rtol=0)
    for t in range(5, T):
        token = idx[0, t] if t % 2 else int(idx[0, t])  # a tensor or an int both work
        logits = dec.step(token)
        torch.testing.assert_close(logits, full[t], atol=1e-5, rtol=0, msg=f"position {t}")
    assert dec.pos == T
    with pytest.raises(ValueError, match="full"):
        dec.step(0)

    # Reset reuses the cache; a prefill in two chunks (the second one masked against the
    # cached part) lands on the same logits.
    dec.reset()
    dec.prefill(idx[0, :7])
    logits = dec.prefill(idx[0, 7:20])
    torch.testing.assert_close(logits, full[19], atol=1e-5, rtol=0)
    torch.testing.assert_close(dec.step(idx[0, 20]), full[20], atol=1e-5, rtol=0)


def test_decoder_is_a_snapshot_of_the_weights():
    cfg = CONFIGS[0]
    model = make_model(cfg)
    dec = model.decoder(max_len=8)
    before = dec.prefill([1, 2, 3])
    with torch.no_grad():
        model.layers[0].mlp.up_proj.weight.mul_(3)
    dec.reset()
    assert torch.equal(dec.prefill([1, 2, 3]), before)
    fresh = model.decoder(max_len=8).prefill([1, 2, 3])
    assert not torch.allclose(fresh, before)
    with pytest.raises(ValueError):
        dec.prefill(list(range(6)))  # 3 + 6 > max_len 8
    with pytest.raises(ValueError):
        model.decoder(max_len=cfg.context + 1)


def test_a_few_adamw_steps_learn_a_repetitive_sequence():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=300, context=32, d_model=64, n_layers=2, n_heads=4)
    model = GPT(cfg)
    pattern = torch.tensor([5, 17, 42, 99, 7, 250, 3, 64])
    seq = pattern.repeat(9)  # 72 tokens
    x = torch.stack([seq[i:i + 32] for i in range(0, 8 * 4, 4)])  # 8 windows
    y = torch.stack([seq[i + 1:i + 33] for i in range(0, 8 * 4, 4)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(cfg.vocab_size), rel=0.1)  # ≈ uniform at init
    assert losses[-1] < 0.1 * losses[0], losses


def test_forward_under_bf16_autocast():
    cfg = CONFIGS[1]
    model = make_model(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, 32))
    _, loss32 = model(idx, idx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(idx)
        _, loss = model(idx, idx)
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    assert loss.item() == pytest.approx(loss32.item(), rel=0.02)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_targets_minus_one_are_ignored():
    cfg = CONFIGS[0]
    model = make_model(cfg)
    idx = torch.randint(0, cfg.vocab_size, (1, 16))
    targets = idx.clone()
    targets[0, 8:] = -1
    logits, _ = model(idx)
    _, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[0, :8], idx[0, :8])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16"])
def test_fused_loss_and_gradients_match_cross_entropy(autocast):
    """The fused chunked head + loss (engine/loss.py) against lm_head + F.cross_entropy:
    the same loss and gradients (bf16: to its rounding), ignored targets, chunk edges."""
    from slavik_tui.engine.loss import linear_cross_entropy

    torch.manual_seed(0)
    N, d, V = 300, 32, 500
    x = torch.randn(N, d, requires_grad=True)
    w = (torch.randn(V, d) * 0.3).requires_grad_()
    t = torch.randint(0, V, (N,))
    t[::7] = -1
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        ref = torch.nn.functional.cross_entropy((x @ w.t()).float(), t, ignore_index=-1)
        ours = linear_cross_entropy(x, w, t, chunk_rows=64)  # 300 rows: a partial last chunk
    assert ours.dtype == torch.float32
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    expected = torch.autograd.grad(2.5 * ref, [x, w])  # a scaled loss scales the gradients
    got = torch.autograd.grad(2.5 * ours, [x, w])
    tol = 2e-2 if autocast else 1e-5
    for e, g in zip(expected, got):
        assert (e - g).abs().max() <= tol * e.abs().max()
    with torch.no_grad():  # loss only, no gradient computed
        assert linear_cross_entropy(x, w, t).item() == pytest.approx(
            torch.nn.functional.cross_entropy(x @ w.t(), t, ignore_index=-1).item(), rel=1e-6)


def test_explicit_attention_matches_sdpa_in_bf16():
    from slavik_tui.engine.attention import causal_attention, use_explicit

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 40, 16, dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))
    assert use_explicit(q)
    ours = causal_attention(q, k, v)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (ours.float() - ref.float()).abs().max() < 0.03
    g = torch.randn_like(ours)
    got, expected = (torch.autograd.grad(y, [q, k, v], g) for y in (ours, ref))
    for a, b in zip(got, expected):
        assert (a.float() - b.float()).abs().max() < 0.05 * b.float().abs().max()
    with torch.no_grad():
        assert not use_explicit(q)  # inference: SDPA's flash kernel is the faster one
