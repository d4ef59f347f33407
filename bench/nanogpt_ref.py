"""nanoGPT's model, as the speed benches' reference (bench/train_speed.py, generate_speed.py).

Faithful to karpathy/nanoGPT's model.py where speed is concerned: GPT-2 blocks (LayerNorm,
GELU MLP, biases, learned positions), one fused qkv Linear, attention through
`scaled_dot_product_attention(is_causal=True)` as nanoGPT does on torch ≥ 2.0, tied
embeddings, nanoGPT's init, and its `generate` (no KV cache: the whole cropped sequence is
re-run for every token, the logits of the last position only).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RefBlock(nn.Module):
    def __init__(self, d: int, heads: int, ctx: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # nanoGPT's "flash" path
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, ctx: int, d: int, layers: int, heads: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(RefBlock(d, heads, ctx) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        # nanoGPT's init (std 0.02, residual projections scaled by 1/sqrt(2L)). Without it,
        # PyTorch's N(0, 1) embedding saturates the softmax and the head's gradient fills
        # with denormals, which made the reference 20× slower in its backward matmuls.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.proj, block.out):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, idx, targets=None):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        if targets is None:  # nanoGPT: inference computes the last position's logits only
            return self.head(x[:, [-1], :]), None
        logits = self.head(x)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """nanoGPT's GPT.generate, line for line (plus a generator for reproducibility)."""
        ctx = self.wpe.weight.shape[0]
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= ctx else idx[:, -ctx:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def cpu_flags() -> str:
    """The CPU's model name and the flags that decide bf16 speed (from /proc/cpuinfo)."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return "CPU flags unknown (no /proc/cpuinfo)"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines()
                      if line.startswith("flags")), []))
    shown = ", ".join(f"{f} {'yes' if f in flags else 'NO'}"
                      for f in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f"))
    return f"{name}: {shown}"



