"""Sampling a group of completions per prompt: ONE prefill, the KV cache expanded to G rows.

`Decoder` (engine/decoder.py) is built for one sequence — matrix-vector products — and a group
is G sequences that share their prompt. So the prompt goes through the model once (batch 1),
its keys and values are expanded to G rows of a preallocated cache, and the G continuations
are stepped together, one token for all G per step (batch G: the same calls as one sequence,
G rows each). The maths is `GPT.forward`'s, reading the model's own modules, with the cache
added; a test checks its logits against `GPT.forward`.

Sampling draws from a `torch.Generator` seeded by the caller (the RL loop seeds it from
(seed, step)), never from torch's global RNG: the same weights and seed give the same tokens,
which is what makes an RL run resume exactly after a kill. A completion ends at the
end-of-text token (kept as its last token: ending is a choice the policy learns) or after
`max_new` tokens; positions after the end are padding, outside `mask`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from slavik_tui.engine.model import GPT, apply_rope


@dataclass
class Group:
    """One prompt's G completions. tokens (G, T0 + max_new): the prompt then the sampled
    tokens (padding after an end: the end-of-text id); mask (G, max_new) bool: the tokens
    that belong to each completion; lengths (G,) their counts (end-of-text included)."""

    prompt_len: int
    tokens: torch.Tensor
    mask: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def completion_ids(self, i: int, eot: int) -> list[int]:
        """Completion i's token ids without its end-of-text token."""
        n = int(self.mask[i].sum())
        ids = self.tokens[i, self.prompt_len : self.prompt_len + n].tolist()
        return ids[:-1] if ids and ids[-1] == eot else ids


class CachedGroup:
    """Incremental forward of G sequences over `model`'s current weights with a KV cache."""

    def __init__(self, model: GPT, rows: int, max_len: int) -> None:
        cfg = model.cfg
        if not 1 <= max_len <= cfg.context:
            raise ValueError(f"max_len must be in 1..{cfg.context}, got {max_len}")
        self.model, self.rows, self.max_len = model, rows, max_len
        H, hd = cfg.n_heads, cfg.head_dim
        p = model.embed_tokens.weight
        shape = (cfg.n_layers, rows, H, max_len, hd)
        self.k = torch.zeros(shape, device=p.device, dtype=p.dtype)
        self.v = torch.zeros(shape, device=p.device, dtype=p.dtype)
        # q, k, v weights in one matrix per layer (as Attention.forward), once per rollout
        self.qkv = [torch.cat((b.self_attn.q_proj.weight, b.self_attn.k_proj.weight,
                               b.self_attn.v_proj.weight)) for b in model.layers]
        self.pos = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) at positions pos..pos+T (B = 1 or `rows`; a batch of 1 fills every
        row, the expansion of one prefill) → float32 logits (B, T, vocab) of the last layer."""
        model, cfg = self.model, self.model.cfg
        B, T = ids.shape
        p0, end = self.pos, self.pos + T
        if end > self.max_len:
            raise ValueError(f"{p0} + {T} tokens do not fit the cache of {self.max_len}")
        H, hd, d = cfg.n_heads, cfg.head_dim, cfg.d_model
        cos, sin = model.rope_cos[p0:end], model.rope_sin[p0:end]
        x = model.embed_tokens(ids)
        for li, block in enumerate(model.layers):
            h = block.input_layernorm(x)
            qkv = F.linear(h, self.qkv[li]).view(B, T, 3 * H, hd)
            qk = apply_rope(qkv[:, :, : 2 * H], cos[:, None], sin[:, None])
            q, k = qk.transpose(1, 2).split(H, dim=1)  # (B, H, T, hd)
            v = qkv[:, :, 2 * H :].transpose(1, 2)
            self.k[li, :, :, p0:end] = k  # a batch of 1 broadcasts over the G rows
            self.v[li, :, :, p0:end] = v
            keys, values = self.k[li, :B, :, :end], self.v[li, :B, :, :end]
            # a prefill from position 0 is causal; one new token sees every cached position
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=p0 == 0 and T > 1)
            x = x + block.self_attn.o_proj(y.transpose(1, 2).reshape(B, T, d))
            x = x + block.mlp(block.post_attention_layernorm(x))
        self.pos = end
        return model.lm_head(model.norm(x)).float()


def _sample(logits: torch.Tensor, temperature: float, n_vocab: int,
            generator: torch.Generator) -> torch.Tensor:
    """(G, V) logits → (G,) token ids drawn from softmax(logits / temperature)."""
    probs = torch.softmax(logits[:, :n_vocab].double().cpu() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def sample_group(model: GPT, prompt: list[int], group: int, max_new: int, temperature: float,
                 eot: int, n_vocab: int, generator: torch.Generator) -> Group:
    """G completions of `prompt` (token ids; len(prompt) + max_new ≤ the context)."""
    T0 = len(prompt)
    if T0 < 1 or T0 + max_new > model.cfg.context:
        raise ValueError(f"a {T0}-token prompt and {max_new} new tokens exceed the context "
                         f"{model.cfg.context}")
    device = model.embed_tokens.weight.device
    cache = CachedGroup(model, group, T0 + max_new)
    logits = cache.forward(torch.tensor([prompt], device=device))[:, -1].expand(group, -1)
    tokens = torch.full((group, T0 + max_new), eot, dtype=torch.long, device=device)
    tokens[:, :T0] = torch.tensor(prompt, device=device)
    mask = torch.zeros(group, max_new, dtype=torch.bool, device=device)
    alive = torch.ones(group, dtype=torch.bool, device=device)
    for t in range(max_new):
        nxt = _sample(logits, temperature, n_vocab, generator).to(device)
        nxt = torch.where(alive, nxt, torch.full_like(nxt, eot))
        tokens[:, T0 + t] = nxt
        mask[:, t] = alive
        alive = alive & (nxt != eot)
        if not bool(alive.any()) or t == max_new - 1:
            break
        logits = cache.forward(nxt.unsqueeze(1))[:, -1]
    return Group(T0, tokens, mask)


def seeded_generator(seed: int, step: int, index: int = 0) -> torch.Generator:
    """A CPU generator that is a pure function of (seed, step, index)."""
    import numpy as np

    mask = (1 << 64) - 1
    state = np.random.SeedSequence([int(seed) & mask, int(step) & mask, int(index) & mask])
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state.generate_state(1, dtype=np.uint64)[0] >> 1))
    return g
