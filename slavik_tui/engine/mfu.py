"""Model FLOPs utilisation: the share of the device's peak that training turns into model
maths, shown in `train`'s progress line on every device.

FLOPs per token follow PaLM (appendix B) as nanoGPT's `estimate_mfu` does: 6·N for the
matmuls of forward and backward over the N parameters (the tied embedding counted once: it
is the LM head's matmul), plus 12·L·d·T for attention's scores and weighted sum (causal
masking not discounted, the convention everyone reports against).

The peak is the GPU's dense bf16 tensor-core figure from its data sheet (a table below), or,
on a CPU, measured: a short square matmul in the run's dtype at the start of the run, once
per process (a shared, busy machine measures low: MFU there says how well the step uses what
the CPU gives right now).
"""

from __future__ import annotations

import time

import torch

from slavik_tui.spec.config import ModelConfig

# Dense bf16 peaks, FLOP/s (vendor data sheets, without sparsity). Longest names first: the
# first entry contained in torch.cuda.get_device_name() wins.
GPU_BF16_PEAK = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("H200", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("B100", 1750e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("RTX A6000", 155e12),
)


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs (forward + backward) per token of a step."""
    return 6.0 * cfg.n_params + 12.0 * cfg.n_layers * cfg.d_model * cfg.context


def gpu_peak(name: str) -> float | None:
    for key, peak in GPU_BF16_PEAK:
        if key.lower() in name.lower():
            return peak
    return None


_CPU_PEAK: dict[tuple, float] = {}


def cpu_peak(dtype: torch.dtype, seconds: float = 0.3, n: int = 1024) -> float:
    """Matmul FLOP/s of this CPU in `dtype` with the current torch threads (measured once per
    process, dtype and thread count)."""
    key = (dtype, torch.get_num_threads())
    if key not in _CPU_PEAK:
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        a @ b  # warm-up: the first call picks the kernel
        runs, start = 0, time.perf_counter()
        while True:
            a @ b
            runs += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        _CPU_PEAK[key] = 2.0 * n ** 3 * runs / elapsed
    return _CPU_PEAK[key]


def device_peak(device: torch.device, dtype: torch.dtype) -> float | None:
    """The peak FLOP/s of one device of the run, None where it is not known (MPS, an
    unlisted GPU)."""
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device))
    if device.type == "cpu":
        return cpu_peak(dtype)
    return None


def mfu(cfg: ModelConfig, tokens_per_s: float, peak: float | None,
        devices: int = 1) -> float | None:
    """The share (0..1) of `devices` devices' peak that `tokens_per_s` (all of them together)
    uses."""
    if not peak:
        return None
    return flops_per_token(cfg) * tokens_per_s / (peak * devices)
