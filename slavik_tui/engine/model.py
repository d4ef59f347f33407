"""A Llama-style decoder-only transformer, in one readable file.

    token ids ─ embed_tokens ─┬─ N × Block ─ norm ─ lm_head (tied to embed_tokens) ─ logits
                              │
    Block:  x = x + o_proj(attention(rope(q), rope(k), v))   on  input_layernorm(x)
            x = x + down_proj(silu(gate_proj(h)) * up_proj(h))  on  post_attention_layernorm(x)

No biases, RMSNorm, rotary position embeddings (RoPE) and a SwiGLU MLP: the Llama architecture,
so an exported model loads in `transformers` as `LlamaForCausalLM` (engine/export.py). The
parameter names *are* Hugging Face's, minus its `model.` prefix, so the export is a rename.

Two ways to run the same weights:
- `GPT.forward(idx, targets)`: the whole sequence at once (training, evaluation).
- `GPT.decoder()` → `Decoder` (engine/decoder.py): one token at a time with a
  preallocated KV cache (generation).
  Decoding a small model on a CPU is bound by the per-operation overhead of PyTorch (a few
  microseconds each), not by arithmetic, so the decoder runs a fused copy of the weights with
  fewer, larger operations that write straight into their destination (see `Decoder`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from slavik_tui.engine.attention import causal_attention
from slavik_tui.engine.loss import linear_cross_entropy
from slavik_tui.spec.config import ModelConfig

if TYPE_CHECKING:
    from slavik_tui.engine.decoder import Decoder


# ---- rotary position embeddings -----------------------------------------------------------
def rope_tables(cfg: ModelConfig, length: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (length, head_dim), computed exactly as Hugging Face's Llama does.

    Rotate-half convention: dimension i pairs with i + head_dim/2 (not interleaved pairs), and
    the frequencies are repeated for both halves. Being HF's own layout, exported q/k weights
    need no permutation. Computed in float32 from an int64 range like HF, so the tables match
    bit for bit and exported logits agree to ~1e-6.
    """
    hd = cfg.head_dim
    inv_freq = 1.0 / (
        cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64, device=device).float() / hd)
    )
    pos = torch.arange(length, dtype=torch.int64, device=device).float()
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (-x2, x1) over the last dimension's two halves."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (i, i + hd/2) pair of `x` (..., T, hd) by its position's angle."""
    # cos/sin are float32 buffers; under bf16 autocast q/k are bf16, and SDPA needs q, k, v
    # of one dtype, so the tables follow x rather than promoting it to float32.
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


# ---- the blocks ---------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / rms(x) · weight (Llama: no mean subtraction, no bias)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 whatever the input: small models are sensitive to it and the
        # residual stream stays float32 under autocast anyway.
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).type_as(x)


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE (engine/attention.py picks the kernel)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        # Separate q/k/v weights (HF's names and layout, so export is a rename); forward
        # concatenates them into one matmul.
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, hd = self.n_heads, self.head_dim
        # One matmul for q, k and v (the weights concatenated per call: 3·d² values, cheap
        # next to the activations) and RoPE on q and k together: half the small operations.
        w = torch.cat((self.q_proj.weight, self.k_proj.weight, self.v_proj.weight))
        qkv = F.linear(x, w).view(B, T, 3 * H, hd)
        qk = apply_rope(qkv[:, :, : 2 * H], cos[:, None], sin[:, None])  # (B, T, 2H, hd)
        q, k = qk.transpose(1, 2).split(H, dim=1)  # (B, H, T, hd) each
        v = qkv[:, :, 2 * H :].transpose(1, 2)
        y = causal_attention(q, k, v)  # SDPA, or explicit bf16 matmuls (engine/attention.py)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)); hidden width cfg.ffn_hidden (≈ 8/3 · d)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_hidden, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # gate and up in one matmul (weights concatenated per call, as q/k/v in Attention)
        w = torch.cat((self.gate_proj.weight, self.up_proj.weight))
        gate, up = F.linear(x, w).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Pre-norm residual block: attention, then MLP, each added back to the stream."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


# ---- the model ----------------------------------------------------------------------------
class GPT(nn.Module):
    """The language model. State-dict keys (HF Llama's names without the `model.` prefix):

        embed_tokens.weight                                   (vocab, d)
        layers.{i}.input_layernorm.weight                     (d,)
        layers.{i}.self_attn.{q,k,v,o}_proj.weight            (d, d)
        layers.{i}.post_attention_layernorm.weight            (d,)
        layers.{i}.mlp.{gate,up}_proj.weight                  (ffn_hidden, d)
        layers.{i}.mlp.down_proj.weight                       (d, ffn_hidden)
        norm.weight                                           (d,)
        lm_head.weight                                        (vocab, d) — the same tensor as
                                                              embed_tokens.weight when tied
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            # One matrix both reads tokens in and scores them out: saves vocab·d parameters,
            # which is most of a small model, and works as well or better at this scale.
            self.lm_head.weight = self.embed_tokens.weight
        # RoPE tables are derived from the config, so they are not saved (persistent=False).
        cos, sin = rope_tables(cfg, cfg.context)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 style init: N(0, 0.02) everywhere, and the two projections that write into the
        residual stream (o_proj, down_proj) scaled by 1/sqrt(2·n_layers), so the stream's
        variance does not grow with depth at initialisation. Norm weights start at 1."""
        std = 0.02
        residual_std = std / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=residual_std)
            elif p.dim() >= 2:
                nn.init.normal_(p, mean=0.0, std=std)
            else:
                nn.init.ones_(p)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """idx (B, T) int64 → (logits (B, T, vocab) float32, None) without targets; with
        `targets` (B, T) → (None, the mean cross-entropy over all positions), positions
        with target -1 ignored. With targets the logits are never materialised: the head and
        the loss run fused and chunked (engine/loss.py), which saved a quarter of a bf16
        training step on a CPU. Call without targets for logits.

        Works under `torch.autocast(device, dtype=torch.bfloat16)`: the matmuls run in bf16,
        the residual stream, norms, logits and loss stay float32.
        """
        B, T = idx.shape
        if T > self.cfg.context:
            raise ValueError(f"{T} tokens are longer than the context {self.cfg.context}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed_tokens(idx)
        for block in self.layers:
            x = block(x, cos, sin)
        x = self.norm(x)
        if targets is not None:
            # = F.cross_entropy(lm_head(x).float(), targets, ignore_index=-1)
            return None, linear_cross_entropy(x, self.lm_head.weight, targets)
        # float32 logits: under autocast the head runs in bf16, and an 8000-way softmax needs
        # the range.
        return self.lm_head(x).float(), None

    def decoder(self, max_len: int | None = None) -> "Decoder":
        """A KV-cached incremental decoder over a snapshot of the current weights."""
        from slavik_tui.engine.decoder import Decoder  # the decoder builds on this module

        return Decoder(self, max_len)
