"""Sampling groups of completions: each prompt prefilled ONCE, its KV cache expanded to G rows.

`Decoder` (engine/decoder.py) steps one sequence — matrix-vector products — and a step of RL
needs P prompts × G completions. So the prompts go through the model once each (batched
when they have the same length), their keys and values are copied into G rows each of a
preallocated cache (`repeat_interleave`: the cache cloned per completion), and all P·G
continuations step together, one token for every row per step. Per-token work is dominated by
per-call overhead on a CPU, so one step of P·G rows costs a few times one row, not P·G times.
The weights are the Decoder's snapshot (q/k/v and gate/up fused, the RMSNorm weights folded
into the matmuls that follow, transposed for the matmul), taken once per rollout; the maths is
`GPT.forward`'s, and a test checks the logits against it.

Each prompt's completions are drawn from its own `torch.Generator` (the RL loop seeds it from
(seed, step, prompt)), never from torch's global RNG: the same weights and seeds give the
same tokens, which is what makes an RL run resume exactly after a kill. A completion ends at
the end-of-text token (kept as its last token: ending is a choice the policy learns) or after
`max_new` tokens; positions after the end are padding, outside `mask`. Sampling runs in
float32 without autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from slavik_tui.engine.model import GPT, apply_rope


@dataclass
class Group:
    """One prompt's G completions. tokens (G, T0 + max_new): the prompt then the sampled
    tokens (padding after an end: the end-of-text id); mask (G, max_new) bool: the tokens
    that belong to each completion (its end-of-text token included)."""

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
    """Incremental forward of `rows` sequences over a snapshot of `model`'s weights."""

    def __init__(self, model: GPT, rows: int, max_len: int) -> None:
        cfg = model.cfg
        if not 1 <= max_len <= cfg.context:
            raise ValueError(f"max_len must be in 1..{cfg.context}, got {max_len}")
        self.cfg, self.rows, self.max_len = cfg, rows, max_len
        self.snap = model.decoder(max_len)  # fused, norm-folded, transposed weights
        shape = (cfg.n_layers, rows, cfg.n_heads, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=self.snap.device, dtype=self.snap.dtype)
        self.v = torch.zeros(shape, device=self.snap.device, dtype=self.snap.dtype)
        self.pos = 0

    def _rms(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), None, self.snap.eps)

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, expand: int = 1) -> torch.Tensor:
        """ids (B, T) at positions pos..pos+T → float32 logits (B, T, vocab). With `expand`
        (the prefill), each of the B sequences' keys and values fill `expand` consecutive
        cache rows (B · expand = rows); later calls step all rows (B = rows, T = 1)."""
        cfg, snap = self.cfg, self.snap
        B, T = ids.shape
        p0, end = self.pos, self.pos + T
        if end > self.max_len:
            raise ValueError(f"{p0} + {T} tokens do not fit the cache of {self.max_len}")
        if B * expand != self.rows or (expand > 1 and p0):
            raise ValueError(f"{B} sequences × {expand} at {p0} do not fill {self.rows} rows "
                             "(expand only a prefill from position 0)")
        H, hd, d = cfg.n_heads, cfg.head_dim, cfg.d_model
        cos, sin = snap.cos[p0:end, None], snap.sin[p0:end, None]  # (T, 1, hd)
        x = snap.embed[ids]  # (B, T, d)
        for li, (w_qkv, w_o, w_gate_up, w_down) in enumerate(snap.layers):
            qkv = (self._rms(x) @ w_qkv).view(B, T, 3 * H, hd)
            qk = apply_rope(qkv[:, :, : 2 * H], cos, sin)
            q, k = qk.transpose(1, 2).split(H, dim=1)  # (B, H, T, hd)
            v = qkv[:, :, 2 * H :].transpose(1, 2)
            if expand > 1:  # one prefill, G copies of its cache
                self.k[li, :, :, p0:end] = k.repeat_interleave(expand, dim=0)
                self.v[li, :, :, p0:end] = v.repeat_interleave(expand, dim=0)
                keys, values = k, v
            else:
                self.k[li, :, :, p0:end] = k
                self.v[li, :, :, p0:end] = v
                keys, values = self.k[li, :, :, :end], self.v[li, :, :, :end]
            # the prefill (from position 0) is causal; a new token sees every cached position
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=p0 == 0 and T > 1)
            x = x + y.transpose(1, 2).reshape(B, T, d) @ w_o
            gate, up = (self._rms(x) @ w_gate_up).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ w_down
        self.pos = end
        return (self._rms(x) @ snap.head).float()


def _draw(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """(G, V) logits → (G,) ids drawn from softmax(logits / temperature), on the CPU."""
    probs = torch.softmax(logits.float().cpu() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def sample_groups(model: GPT, prompts: list[list[int]], group: int, max_new: int,
                  temperature: float, eot: int, n_vocab: int,
                  generators: list[torch.Generator]) -> list[Group]:
    """G completions of each prompt (token ids; len + max_new ≤ the context), prompt i's drawn
    with generators[i]. Prompts of one length share one batched rollout."""
    out: list[Group | None] = [None] * len(prompts)
    lengths = [len(p) for p in prompts]
    for T0 in sorted(set(lengths)):
        idx = [i for i, n in enumerate(lengths) if n == T0]
        for i, g in zip(idx, _rollout(model, [prompts[i] for i in idx], group, max_new,
                                      temperature, eot, n_vocab, [generators[i] for i in idx])):
            out[i] = g
    return out


def _rollout(model, prompts, group, max_new, temperature, eot, n_vocab, generators):
    """The rollout of prompts of one length: one prefill, then P·G rows step together."""
    P, T0 = len(prompts), len(prompts[0])
    if T0 < 1 or T0 + max_new > model.cfg.context:
        raise ValueError(f"a {T0}-token prompt and {max_new} new tokens exceed the context "
                         f"{model.cfg.context}")
    device = model.embed_tokens.weight.device
    rows = P * group
    cache = CachedGroup(model, rows, T0 + max_new)
    ids = torch.tensor(prompts, device=device)
    logits = cache.forward(ids, expand=group)[:, -1].repeat_interleave(group, dim=0)
    tokens = torch.full((rows, T0 + max_new), eot, dtype=torch.long)
    tokens[:, :T0] = ids.cpu().repeat_interleave(group, dim=0)
    mask = torch.zeros(rows, max_new, dtype=torch.bool)
    alive = torch.ones(rows, dtype=torch.bool)
    for t in range(max_new):
        step_logits = logits[:, :n_vocab]
        nxt = torch.cat([_draw(step_logits[j * group : (j + 1) * group], temperature, gen)
                         for j, gen in enumerate(generators)])
        nxt = torch.where(alive, nxt, torch.full_like(nxt, eot))
        tokens[:, T0 + t] = nxt
        mask[:, t] = alive
        alive = alive & (nxt != eot)
        if not bool(alive.any()) or t == max_new - 1:
            break
        logits = cache.forward(nxt.view(rows, 1).to(device))[:, -1]
    tokens, mask = tokens.to(device), mask.to(device)
    return [Group(T0, tokens[j * group : (j + 1) * group], mask[j * group : (j + 1) * group])
            for j in range(P)]


def sample_group(model: GPT, prompt: list[int], group: int, max_new: int, temperature: float,
                 eot: int, n_vocab: int, generator: torch.Generator) -> Group:
    """G completions of one prompt."""
    return sample_groups(model, [prompt], group, max_new, temperature, eot, n_vocab,
                         [generator])[0]


def seeded_generator(seed: int, step: int, index: int = 0) -> torch.Generator:
    """A CPU generator that is a pure function of (seed, step, index)."""
    mask = (1 << 64) - 1
    state = np.random.SeedSequence([int(seed) & mask, int(step) & mask, int(index) & mask])
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state.generate_state(1, dtype=np.uint64)[0] >> 1))
    return g
