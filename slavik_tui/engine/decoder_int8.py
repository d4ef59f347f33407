"""Decoding with 8-bit weights: the `Decoder`'s step with a quarter of the bytes to read.

A batch-1 decoding step of a small model is bound by reading its weights (engine/decoder.py:
the seed config's 27 MB of float32 stream from the L3 cache every token, ~0.6 ms of a
~0.85 ms step). Stored as int8 with one scale per output row, the same matrices are 6.8 MB,
and PyTorch's CPU kernel for weight-only int8 (`torch._weight_int8pack_mm`, the one gpt-fast
uses) multiplies a bfloat16 row by them without widening the matrix first. The residual
stream, RMSNorm, RoPE, attention and the KV cache stay float32; only the inputs of the
matrix products are rounded to bfloat16 and the weights to int8.

Quantisation: for each output row w of a (fused, norm-folded) weight matrix, the scale is
s = max|w| / 127 rounded to bfloat16 (the kernel's scale dtype), and q = round(w / s) clipped
to ±127, so the error per weight is at most s/2 (plain symmetric per-channel int8, as
llama.cpp's Q8_0 but with one scale per row instead of per 32 weights).

What it costs in accuracy is measured, not assumed: tests/engine/test_decoder_int8.py
bounds the logits' error against the float32 decoder, and bench/generate_speed.py prints the
held-out bits per byte of both. `int8_supported()` says whether this torch has the kernel for
the device (the CPU only: elsewhere the float32/bfloat16 decoder is used).
"""

from __future__ import annotations

import functools
import torch
import torch.nn.functional as F

from slavik_tui.engine.decoder import Decoder, cached_weights, fused_weights
from slavik_tui.engine.model import GPT
from slavik_tui.errors import UserError

QMAX = 127
ACT = torch.bfloat16  # the kernel's activation (and scale) dtype


def int8_supported(device: torch.device | str = "cpu") -> bool:
    """True if `torch._weight_int8pack_mm` exists here and runs on `device` (CPU only)."""
    return torch.device(device).type == "cpu" and _cpu_kernel_works()


@functools.cache
def _cpu_kernel_works() -> bool:
    if not hasattr(torch, "_weight_int8pack_mm"):
        return False
    try:
        a = torch.ones(1, 32, dtype=ACT)
        b = torch.ones(8, 32, dtype=torch.int8)
        out = torch._weight_int8pack_mm(a, b, torch.ones(8, dtype=ACT))
    except (RuntimeError, NotImplementedError):
        return False
    return bool(torch.all(out == 32))


def quantize(w_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A (k, n) matrix (the decoder's transposed layout) → (q (n, k) int8, scales (n,) bf16)
    with w_t ≈ (q · scales[:, None])ᵀ."""
    w = w_t.detach().t().float()
    scale = (w.abs().amax(dim=1) / QMAX).clamp_min(1e-12).to(ACT)
    q = torch.round(w / scale.float()[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)
    return q.contiguous(), scale


def _mm(x: torch.Tensor, weight: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """x (m, k) bfloat16 @ the quantised (k, n) matrix → (m, n) bfloat16."""
    return torch._weight_int8pack_mm(x, weight[0], weight[1])


def _quantized(model) -> tuple[list[tuple], tuple[torch.Tensor, torch.Tensor]]:
    layers, head = fused_weights(model)
    return [tuple(quantize(w) for w in layer) for layer in layers], quantize(head)


class Int8Decoder(Decoder):
    """`Decoder` with int8 weights (same interface: prefill, step, reset, pos, max_len).

    Logits differ from the float32 decoder's by the rounding above (see the module's note).
    """

    def __init__(self, model, max_len: int | None = None) -> None:
        weight = model.embed_tokens.weight
        if weight.dtype != torch.float32 or weight.device.type != "cpu":
            raise ValueError("int8 decoding needs a float32 model on the CPU")
        super().__init__(model, max_len)
        d = self.cfg.d_model
        self._h = torch.zeros(1, d, dtype=ACT)  # the normalised row, as the kernel reads it
        self._y = torch.zeros(1, d, dtype=ACT)  # attention's output, ditto
        self._y_heads = self._y.view(1, self.cfg.n_heads, 1, self.cfg.head_dim)
        self._act = torch.zeros(1, self.cfg.ffn_hidden, dtype=ACT)  # SwiGLU's product, ditto
        self._act_flat = self._act.view(-1)

    def _weights(self, model) -> tuple[list[tuple], tuple[torch.Tensor, torch.Tensor]]:
        """The fused float32 matrices quantised, kept per model until its weights change."""
        return cached_weights(model, "int8", _quantized)

    def _norm_row(self) -> torch.Tensor:
        """RMSNorm of the residual row (its weight is folded into the next matrix), in bf16."""
        x = self._x_flat
        scale = (x.dot(x).item() / self.cfg.d_model + self.eps) ** -0.5
        return torch.mul(self._x, scale, out=self._h)

    @torch.inference_mode()
    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        p, x, rot = self._embed(token)
        ffn = self.cfg.ffn_hidden
        for (w_qkv, w_o, w_gate_up, w_down), (qkv_row, qk_raw, qk_row, q, k, v) in zip(
            self.layers, self._position_views(p)
        ):
            qkv_row.copy_(_mm(self._norm_row(), w_qkv))  # q, k, v of this token → cache
            torch.mm(qk_raw, rot, out=qk_row)  # RoPE on q and k → key cache
            self._y_heads.copy_(F.scaled_dot_product_attention(q, k, v))  # (1, H, 1, hd)
            x.add_(_mm(self._y, w_o))
            gate, up = _mm(self._norm_row(), w_gate_up).view(2, ffn)  # one call: both views
            torch.mul(F.silu(gate, inplace=True), up, out=self._act_flat)
            x.add_(_mm(self._act, w_down))
        self.pos = p + 1
        return _mm(self._norm_row(), self.head).view(-1).float()

    def _linear(self, x: torch.Tensor, weight) -> torch.Tensor:
        """Prefill's products: float32 rows through the int8 kernel, back to float32."""
        return _mm(x.to(ACT), weight).float()


QUANTIZE = ("auto", "none", "int8")


def resolve_quantize(model, quantize: str = "auto") -> str:
    """"none" or "int8": how `model` will decode. `auto` is int8 where it applies (a float32
    `GPT` on the CPU, with this torch's kernel), else none; an explicit "int8" that cannot
    apply is a UserError that says what to use instead."""
    if quantize not in QUANTIZE:
        raise UserError(f"quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}; "
                        "use auto (int8 on a CPU, else none)")
    if quantize == "none":
        return "none"
    fits = isinstance(model, GPT) and model.embed_tokens.weight.dtype == torch.float32 \
        and int8_supported(model.embed_tokens.weight.device)
    if quantize == "int8" and not fits:
        raise UserError("int8 decoding needs a float32 model on the CPU (and a torch with "
                        "_weight_int8pack_mm); use --quantize none or auto")
    return "int8" if fits else "none"
