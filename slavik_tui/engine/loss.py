"""The LM head and its cross-entropy in one step, without the (rows × vocab) float32 tensors.

`F.cross_entropy(lm_head(x).float(), targets)` materialises, for a batch of 2,048 positions
and a vocabulary of 8,000, a 64 MB float32 logits tensor, its log-softmax (64 MB more, saved
for backward), a zero-filled gradient of the same size, and the log-softmax's backward over
it: on a CPU with bf16 matmuls that was ~25% of a training step (issue 11's profile: the
log-softmax forward and backward, the `fill_` and casts), more than the head's matmuls.

`linear_cross_entropy(x, weight, targets)` returns the same mean loss (targets == -1 ignored)
and computes the gradient in the forward pass, chunk by chunk of rows:

    logits = x_c @ Wᵀ                         (matmul in the compute dtype: bf16 under autocast)
    lp     = log_softmax(logits) in float32    (one fused kernel, reading the bf16 logits)
    loss  += -lp[target] / n                   (rows with target -1 count for nothing)
    g_c    = (exp(lp) - onehot(target)) / n    (written once, in the compute dtype)

and after the last chunk dx = g @ W and dW = gᵀ @ x (two large matmuls). Backward only scales
the saved gradients by the incoming one. The float32 tensors exist one chunk at a time; the
only full-size tensor is g, in the compute dtype. When no gradient is wanted (evaluation,
`no_grad`), only the loss is computed, chunk by chunk.
"""

from __future__ import annotations

import torch

# Rows per chunk: a chunk's float32 log-probabilities are rows × vocab × 4 bytes (8 MB at
# 256 × 8000). Measured on the seed config (2,048 rows): 128–512 are within noise.
CHUNK_ROWS = 256


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def linear_cross_entropy(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """Mean cross-entropy of `x @ weight.T` (x (..., d), weight (V, d)) against `targets`
    (the same leading shape, int64, -1 = ignore): float32 scalar, as `F.cross_entropy` with
    `ignore_index=-1` on float32 logits (NaN when every target is ignored, like it).

    Under autocast the matmuls run in the autocast dtype and the softmax in float32, exactly
    as `lm_head(x).float()` followed by `cross_entropy` would."""
    d = x.shape[-1]
    x2, t = x.reshape(-1, d), targets.reshape(-1)
    if x2.shape[0] != t.shape[0]:
        raise ValueError(f"{x2.shape[0]} rows of x but {t.shape[0]} targets")
    dtype = _compute_dtype(x)
    wants_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if not wants_grad:
        with torch.autocast(x.device.type, enabled=False):
            return _loss_only(x2, weight, t, dtype, chunk_rows)
    return _LinearCrossEntropy.apply(x2, weight, t, dtype, chunk_rows)


def _row_scale(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets with -1 replaced by 0, per-row weight 1/n or 0 for ignored rows) float32."""
    valid = t != -1
    n = valid.sum()
    return t.clamp(min=0), valid.float() / n


def _loss_only(x, weight, t, dtype, chunk_rows) -> torch.Tensor:
    xc, wc = x.to(dtype), weight.to(dtype)
    safe_t, scale = _row_scale(t)
    loss = torch.zeros((), dtype=torch.float32, device=x.device)
    for s in range(0, xc.shape[0], chunk_rows):
        e = s + chunk_rows
        lp = torch.log_softmax(xc[s:e] @ wc.t(), dim=-1, dtype=torch.float32)
        picked = lp.gather(1, safe_t[s:e, None]).view(-1)
        loss -= picked.dot(scale[s:e])
    return loss


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, t, dtype, chunk_rows):
        with torch.autocast(x.device.type, enabled=False):
            xc, wc = x.to(dtype), weight.to(dtype)
            safe_t, scale = _row_scale(t)
            N, V = xc.shape[0], wc.shape[0]
            g = torch.empty(N, V, dtype=dtype, device=x.device)
            loss = torch.zeros((), dtype=torch.float32, device=x.device)
            for s in range(0, N, chunk_rows):
                e = min(s + chunk_rows, N)
                lp = torch.log_softmax(xc[s:e] @ wc.t(), dim=-1, dtype=torch.float32)
                tc, sc = safe_t[s:e, None], scale[s:e, None]
                loss -= lp.gather(1, tc).view(-1).dot(sc.view(-1))
                probs = lp.exp_()
                probs.scatter_add_(1, tc, torch.full_like(sc, -1.0))
                torch.mul(probs, sc, out=g[s:e])  # (softmax - onehot) / n, cast on write
            grad_x = (g @ wc).to(x.dtype) if ctx.needs_input_grad[0] else None
            grad_w = (g.t() @ xc).to(weight.dtype) if ctx.needs_input_grad[1] else None
        ctx.save_for_backward(*(t for t in (grad_x, grad_w) if t is not None))
        ctx.has = (grad_x is not None, grad_w is not None)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        saved = iter(ctx.saved_tensors)
        grads = [next(saved) if has else None for has in ctx.has]
        # Reading the number back is free on a CPU; on a GPU, or traced by torch.compile
        # (where it would break the graph), always multiply.
        one = (grad_loss.device.type == "cpu" and not torch.compiler.is_compiling()
               and float(grad_loss) == 1.0)
        if not one:  # a scaled loss (accumulation, a weighted sum): scale the gradients
            grads = [None if g is None else g * grad_loss for g in grads]
        return grads[0], grads[1], None, None, None
