"""Fast incremental decoding: the model one token at a time with a preallocated KV cache.

`GPT.decoder()` makes one. Kept apart from engine/model.py because it is a second,
generation-only implementation of the same maths (fused weights, in-place updates), tested
against `GPT.forward` (tests/engine/test_model.py).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from slavik_tui.engine.model import GPT, rope_tables, rotate_half


def fused_weights(model: GPT) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
    """The decoder's copies of the weights: per layer (qkv (d, 3d), o (d, d), gate_up
    (d, 2·ffn), down (ffn, d)), transposed, each RMSNorm's weight multiplied in; and the LM
    head (d, V) with the final norm's weight."""
    with torch.no_grad():
        layers = []
        for block in model.layers:
            att, mlp = block.self_attn, block.mlp
            w1 = block.input_layernorm.weight
            w2 = block.post_attention_layernorm.weight
            qkv = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]) * w1
            gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]) * w2
            layers.append((
                qkv.t().contiguous(),
                att.o_proj.weight.detach().t().contiguous(),
                gate_up.t().contiguous(),
                mlp.down_proj.weight.detach().t().contiguous(),
            ))
        head = (model.lm_head.weight * model.norm.weight).t().contiguous()
    return layers, head


# model → {kind: (weights' identity and versions, what `build` made of them)}
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_weights(model: GPT, kind: str, build: Callable[[GPT], Any]) -> Any:
    """`build(model)`, made again only when one of the model's parameters has changed since:
    a parameter is known by its storage, its version counter and its L2 norm. The norm is
    needed: fused AdamW (the trainer's optimizer on a CPU) writes the parameters in place
    without advancing their version counters, and the trainer's evals sample from the live
    model after each stretch of steps. One `_foreach_norm` over the seed config's 6.9M
    parameters takes ~2 ms, against ~25 ms to quantise them again. So generating ten answers
    with one model prepares its weights once, and a model that trains on is never decoded
    from a stale copy."""
    params = list(model.parameters())
    with torch.no_grad():
        norms = torch.stack(torch._foreach_norm(params)).tolist() if params else []
    key = (tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params), tuple(norms))
    slot = _CACHE.setdefault(model, {})
    hit = slot.get(kind)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = build(model)
    slot[kind] = (key, value)
    return value


_POOL_LOCK = threading.Lock()
POOL_SIZE = 2  # idle decoders kept per model and kind (a text and a chat at once)


@contextmanager
def borrowed(model: GPT, make: Callable[[GPT], "Decoder"]) -> Iterator["Decoder"]:
    """An empty decoder of `model` made by `make` (a Decoder class) for one generation, taken
    from the model's idle ones when their weights are still the model's, else new; it goes
    back when the block ends. A decoder's cache and its per-position views cost ~10 ms to
    build for the seed config, ~5% of a 256-token answer."""
    with _POOL_LOCK:
        idle = _CACHE.setdefault(model, {}).setdefault(("idle", make), [])
        decoder = idle.pop() if idle else None
    if decoder is None or not decoder.current(model):
        decoder = make(model)
    decoder.reset()
    try:
        yield decoder
    finally:
        with _POOL_LOCK:
            idle = _CACHE.setdefault(model, {}).setdefault(("idle", make), [])
            if len(idle) < POOL_SIZE:
                idle.append(decoder)


class Decoder:
    """Token-by-token decoding for one sequence (batch 1) with a static KV cache.

        dec = model.decoder()              # snapshot of the weights, cache of cfg.context rows
        logits = dec.prefill(prompt_ids)   # (vocab,) float32 logits after the last prompt token
        logits = dec.step(next_id)         # ... after one more token; dec.pos counts tokens
        dec.reset()                        # empty the cache (same weights)

    Equal to `GPT.forward` up to float rounding (~1e-6). A step of a small model is a few
    dozen matrix-vector products that stream every weight from memory once, plus ~100 small
    PyTorch calls that each cost microseconds of dispatch whatever their size. The step is
    written to make as few calls as possible:
    - Fused weights: q, k and v in one matmul, gate and up in one, and each RMSNorm's weight
      multiplied into the matmul that follows it (norm(x)·w @ Wᵀ = norm(x) @ (W·w)ᵀ), the
      final norm's into a private copy of the LM head. Weights are stored transposed (d, n),
      the layout MKL's matrix-vector product reads fastest.
    - Results land where they are used: the qkv matmul writes its row straight into the cache,
      RoPE rotates q and k from there into the rotated-q/k cache with one more matmul, and
      the output and down projections accumulate into the residual stream in place
      (`addmm_`). No concatenation, no copies, no allocation of the cache per token.
    - RoPE as a matmul: rotating a head's q or k row at position p is multiplying it by a
      (hd × hd) matrix R(p) = I·cos(p) + P·sin(p) (P: the rotate-half permutation), made
      for every position when the decoder is built and shared by all layers and heads.
    - RMSNorm on a CPU is one dot product: its scale 1/rms(x) is read out as a Python float
      (no sync cost on a CPU) and passed as the `alpha` of the matmul that consumes the
      normalised row, so the row itself is never rescaled. (On a GPU, where reading a number
      back would stall the queue, the scale stays a tensor.)
    - The cache views a step reads (this position's rows, rows 0..p as heads) are made once
      per position for all layers together (slice the all-layer cache, then `unbind`).
    The snapshot is taken at construction: after training further, make a new decoder (its
    weights are prepared again only if the model's changed: `cached_weights`).
    """

    def __init__(self, model: GPT, max_len: int | None = None) -> None:
        cfg = model.cfg
        self.cfg = cfg
        self.max_len = max_len = int(max_len or cfg.context)
        if not 1 <= max_len <= cfg.context:
            raise ValueError(f"max_len must be in 1..{cfg.context}, got {max_len}")
        w = model.embed_tokens.weight
        device, dtype = w.device, w.dtype
        self.device, self.dtype = device, dtype
        d, H, hd, L = cfg.d_model, cfg.n_heads, cfg.head_dim, cfg.n_layers
        self.eps = cfg.norm_eps
        self._scalar_norm = device.type == "cpu"

        with torch.no_grad():
            self.embed = w.detach()  # shared with the model, read only
            self.layers, self.head = self._weights(model)

            cos, sin = rope_tables(cfg, max_len, device)
            self.cos, self.sin = cos.to(dtype), sin.to(dtype)
            # R(p) = I·cos(p) + P·sin(p): row i+hd/2 → column i with a minus sign, row i →
            # column i+hd/2, so q @ R(p) = q·cos + rotate_half(q)·sin (HF's rotate-half).
            half = hd // 2
            idx = torch.arange(half, device=device)
            eye = torch.eye(hd, device=device, dtype=dtype)
            perm = torch.zeros(hd, hd, device=device, dtype=dtype)
            perm[idx + half, idx] = -1.0
            perm[idx, idx + half] = 1.0
            # every position's R(p) made once (max_len × hd² numbers: 1 MB for the seed
            # config), so a step reads its matrix without a call
            rots = eye * self.cos[:, None, :] + perm * self.sin[:, None, :]
            self._rots = list(rots.unbind(0))

        # The cache, all layers in one tensor each: `qkv` holds each position's raw q, k, v
        # row as the matmul wrote it (the v part is the value cache; raw q and k are scratch),
        # `qk` the rotated q and k heads of each position (the k part is the key cache; the
        # rotated q is read in the same step). Rows are positions: one position, one write.
        self.qkv_cache = torch.zeros(L, max_len, 3 * d, device=device, dtype=dtype)
        self.qk_cache = torch.zeros(L, max_len, 2 * H, hd, device=device, dtype=dtype)
        self._x = torch.zeros(1, d, device=device, dtype=dtype)  # the residual stream
        self._x_flat, self._x_t = self._x.view(-1), self._x.t()  # views, always current
        self._gate_up = torch.zeros(1, 2 * cfg.ffn_hidden, device=device, dtype=dtype)
        self._gate = self._gate_up[:, : cfg.ffn_hidden]
        self._up = self._gate_up[:, cfg.ffn_hidden :]
        self._eps = torch.full((1, 1), self.eps, device=device, dtype=dtype)
        # Position-major views of the cache, from which a position's per-layer views are cut
        # with two calls each (index or narrow, then unbind over the layers).
        qkv, qk = self.qkv_cache, self.qk_cache
        self._bases = (
            qkv.unsqueeze(2).transpose(0, 1),                              # (P, L, 1, 3d)
            qkv[:, :, : 2 * d].view(L, max_len, 2 * H, hd).transpose(0, 1),  # (P, L, 2H, hd)
            qk.transpose(0, 1),                                            # (P, L, 2H, hd)
            qk[:, :, :H].unsqueeze(3).unsqueeze(2).transpose(0, 1),        # (P, L, 1, H, 1, hd)
        )
        self._keys = qk[:, :, H:].transpose(1, 2).unsqueeze(1)             # (L, 1, H, P, hd)
        self._values = qkv[:, :, 2 * d :].view(L, max_len, H, hd).transpose(1, 2).unsqueeze(1)
        self._views: list[list[tuple]] = []  # per position, per layer; made on first use
        self.pos = 0

    # -- helpers --------------------------------------------------------------------------
    def current(self, model: GPT) -> bool:
        """True if this decoder's weights are still `model`'s (it has not trained since)."""
        return self._weights(model)[1] is self.head and self.max_len == model.cfg.context

    def _weights(self, model: GPT) -> tuple[list[tuple], torch.Tensor]:
        """(per-layer fused matrices, LM head) for this decoder: `fused_weights`, kept per
        model until its weights change (a decoder per answer costs nothing to build then)."""
        return cached_weights(model, "float", fused_weights)

    def _position_views(self, p: int) -> list[tuple]:
        """Per layer: (qkv row p (1, 3d), its raw q and k as (2H, hd), rotated q/k row p
        (2H, hd), q (1, H, 1, hd), keys and values of positions 0..p (1, H, p+1, hd))."""
        views = self._views
        while len(views) <= p:
            t = len(views)
            views.append(list(zip(
                *(base[t].unbind(0) for base in self._bases),
                self._keys.narrow(3, 0, t + 1).unbind(0),
                self._values.narrow(3, 0, t + 1).unbind(0),
            )))
        return views[p]

    def _embed(self, token: int | torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Start a step: the token's embedding into the residual row; (position, that row,
        the position's RoPE matrix). ValueError when the cache is full."""
        p = self.pos
        if p >= self.max_len:
            raise ValueError(f"the cache is full ({self.max_len} tokens); reset() and prefill")
        x = self._x
        if isinstance(token, torch.Tensor):
            torch.index_select(self.embed, 0, token.view(1), out=x)
        else:
            x.copy_(self.embed[token])
        return p, x, self._rots[p]

    def _norm(self) -> tuple[torch.Tensor, float]:
        """RMSNorm of the residual row as (row, scale): the normalised row is row·scale.

        CPU: (x, 1/rms(x)) from one dot product; the caller folds the scale into its matmul's
        alpha. Elsewhere: (x / rms(x), 1.0), computed without leaving the device."""
        x, d = self._x, self.cfg.d_model
        if self._scalar_norm:
            return x, (self._x_flat.dot(self._x_flat).item() / d + self.eps) ** -0.5
        s = torch.addmm(self._eps, x, self._x_t, alpha=1.0 / d)
        return x * s.rsqrt_(), 1.0

    def reset(self) -> None:
        """Forget the sequence; the next call should be `prefill`. (Old rows are simply
        overwritten: attention only ever reads rows below `pos`.)"""
        self.pos = 0

    # -- decoding -------------------------------------------------------------------------
    @torch.inference_mode()
    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        """Feed one token at position `pos`; return the next-token logits (vocab,) float32."""
        p, x, rot = self._embed(token)
        gate, up, gate_up = self._gate, self._up, self._gate_up
        for (w_qkv, w_o, w_gate_up, w_down), (qkv_row, qk_raw, qk_row, q, k, v) in zip(
            self.layers, self._position_views(p)
        ):
            h, scale = self._norm()
            qkv_row.addmm_(h, w_qkv, beta=0, alpha=scale)  # q, k, v of this token → cache
            torch.mm(qk_raw, rot, out=qk_row)  # RoPE on q and k → key cache
            y = F.scaled_dot_product_attention(q, k, v)  # (1, H, 1, hd)
            x.addmm_(y.view(1, -1), w_o)
            h, scale = self._norm()
            gate_up.addmm_(h, w_gate_up, beta=0, alpha=scale)
            F.silu(gate, inplace=True)
            x.addmm_(gate.mul_(up), w_down)
        self.pos = p + 1
        h, scale = self._norm()
        return torch.addmm(self._eps, h, self.head, beta=0, alpha=scale).view(-1).float()

    @torch.inference_mode()
    def prefill(self, tokens: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Feed several tokens at once (from `pos` on); return the logits after the last one.

        Same weights and cache as `step`, but each matmul covers all T rows, so a long prompt
        costs about one forward pass instead of T steps.
        """
        ids = torch.as_tensor(tokens, dtype=torch.long, device=self.device).view(-1)
        T, p0 = ids.numel(), self.pos
        if T == 0:
            raise ValueError("prefill needs at least one token")
        if p0 + T > self.max_len:
            raise ValueError(f"{p0} + {T} tokens do not fit the cache of {self.max_len}")
        H, hd, d = self.cfg.n_heads, self.cfg.head_dim, self.cfg.d_model
        end = p0 + T
        cos, sin = self.cos[p0:end].unsqueeze(1), self.sin[p0:end].unsqueeze(1)  # (T, 1, hd)
        mask = None  # new row t sees cached and new columns 0..p0+t
        if p0:
            cols = torch.arange(end, device=self.device)
            mask = cols[None, :] <= torch.arange(p0, end, device=self.device)[:, None]
        x = self.embed[ids]  # (T, d)
        caches = zip(self.layers, self.qkv_cache, self.qk_cache)
        linear = self._linear
        for (w_qkv, w_o, w_gate_up, w_down), qkv, qk in caches:
            qkv[p0:end] = linear(self._rms_rows(x), w_qkv)
            raw = qkv[p0:end, : 2 * d].view(T, 2 * H, hd)
            qk[p0:end] = raw * cos + rotate_half(raw) * sin
            q = qk[p0:end, :H].transpose(0, 1)  # (H, T, hd)
            k = qk[:end, H:].transpose(0, 1)  # (H, end, hd)
            v = qkv[:end, 2 * d :].view(end, H, hd).transpose(0, 1)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
            x = x + linear(y.transpose(0, 1).reshape(T, d), w_o)
            gate, up = linear(self._rms_rows(x), w_gate_up).chunk(2, dim=-1)
            x = x + linear(F.silu(gate) * up, w_down)
        self.pos = end
        return linear(self._rms_rows(x[-1:]), self.head).view(-1).float()

    def _linear(self, x: torch.Tensor, weight) -> torch.Tensor:
        """Rows `x` times one of this decoder's prepared (d_in, d_out) matrices (prefill's
        products; `step` has its own, fused into the cache and the residual row)."""
        return x @ weight

    def _rms_rows(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), None, self.eps)
