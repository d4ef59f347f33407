"""Where a model runs: the device, its precision, and whether a training step fits in memory.

`pick_device` turns a user's `--device` into a torch device or one clear line (an unknown
name, CUDA without a GPU). `check_step_fits` estimates the memory of one training step before
a run starts, so `--batch-size 100000` is refused with a size that fits instead of ending in an
out-of-memory kill.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from slavik_tui.errors import UserError
from slavik_tui.spec.config import MB, ModelConfig
from slavik_tui.spec.options import check_device_name


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    check_device_name(requested)
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {requested} asked for, but no CUDA GPU is visible; "
                            "use --device cpu", field="device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {requested}: only {torch.cuda.device_count()} CUDA "
                            "GPU(s) visible; use --device cuda:0", field="device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps asked for, but MPS is not available; use --device cpu",
                        field="device")
    return device


BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f")


def _cpuinfo() -> tuple[str | None, set[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (None and nothing where it is absent)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        return None, set()
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")),
                None)
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return name, set(flags)


def hardware(device: torch.device) -> dict[str, str]:
    """What a run's report states about the machine: torch's version, the CPU and the flags
    that decide bf16 speed, and the GPU (its name) when the run is on one."""
    name, flags = _cpuinfo()
    record = {"torch": torch.__version__, "cpu": name or "unknown",
              "cpu_flags": " ".join(f for f in BF16_FLAGS if f in flags) or "none of "
                           + "/".join(BF16_FLAGS)}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls run several times faster than fp32 there."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested == "fp32":
        return torch.float32
    if requested == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16  # bench/train_speed.py checks the curve stays within 2% of fp32
    return torch.float32


def setup_cuda(device: torch.device) -> None:
    """What a CUDA run wants before its first step: TF32 for the fp32 matmuls and convolutions
    that remain under bf16 autocast (norms, the optimizer), and SDPA free to pick the flash
    kernel (causal, bf16, head size <= 256)."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    torch.backends.cuda.enable_flash_sdp(True)
    torch.backends.cuda.enable_mem_efficient_sdp(True)


# torch.compile of the bf16 training step on a CPU pays back its first compile (about 40 s,
# less from the cache) after a few hundred steps of a model of some size (bench/README.md,
# `bench/train_speed.py --compile`); tiny models and short runs stay eager.
CPU_COMPILE_MIN_PARAMS = 2_000_000
_USER_COMPILE_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")  # before torch sets its own
CPU_COMPILE_MIN_STEPS = 300


def wants_compile(requested: bool, no_compile: bool, device: torch.device,
                  dtype: torch.dtype | None = None, params: int = 0, steps: int = 0,
                  static_shapes: bool = True) -> bool:
    """torch.compile when asked (`--compile`); by default on CUDA, and on a CPU for a bf16
    run of at least CPU_COMPILE_MIN_STEPS steps of a model of CPU_COMPILE_MIN_PARAMS
    parameters, where it pays for its first compile; never by default for a stage whose step
    sees changing shapes (`static_shapes` False: RL's rollouts), which would recompile.
    `--no-compile` wins."""
    if no_compile:
        return False
    if requested:
        return True
    if not static_shapes:
        return False
    if device.type == "cuda":
        return True
    return (device.type == "cpu" and dtype == torch.bfloat16
            and params >= CPU_COMPILE_MIN_PARAMS and steps >= CPU_COMPILE_MIN_STEPS)


def compile_cache_dir() -> Path:
    """Where torch.compile keeps what it compiled, between runs: TORCHINDUCTOR_CACHE_DIR when
    the user set it, else the user's cache folder, not torch's /tmp default, so a reboot keeps
    it. (Torch may have filled in its default by now: only what the user set counts.)"""
    if _USER_COMPILE_CACHE:
        return Path(_USER_COMPILE_CACHE)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "slavik-tui" / "inductor"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    return path


def oom_advice(plan: dict, step: int, saved: int, device: torch.device) -> str:
    """The one line a CUDA out-of-memory during a run ends with: the flags that halve the
    micro-batch and keep the global batch."""
    b, a = plan["batch_size"], plan["grad_accum"]
    fix = (f"--batch-size {b // 2} --grad-accum {a * 2}" if b > 1
           else "a smaller model")
    return (f"out of memory on {device} at step {step}; the last checkpoint (step {saved}) is "
            f"kept: train again with {fix} (the same tokens per step), or free the GPU")


# ---- memory of one step -------------------------------------------------------------------
# Per token, a layer keeps about 32 floats per unit of d_model for the backward pass (norms,
# q/k/v, attention output, the SwiGLU's three projections, their products and the gradients
# being formed), and the LM head about 4 x vocab (logits, log-softmax, their gradients);
# 4 bytes each. Weights, gradients and AdamW's two moments are 16 bytes per parameter.
# Measured peak RSS growth of one step (fp32 and bf16, torch 2.13 CPU) against it:
# d 32 / 1 layer / vocab 400 / ctx 32 / batch 256: 82-91 MB (estimate 82); d 256 / 6 layers /
# vocab 8000 / ctx 256 / batch 32: 2,371-2,395 MB (estimate 2,641).
ACTIVATION_FLOATS_PER_LAYER = 32
LOGIT_FLOATS_PER_VOCAB = 4
PARAM_BYTES = 16
HEADROOM = 0.8  # leave a fifth of free memory to the allocator, the OS and the data


def step_bytes(cfg: ModelConfig, batch_size: int) -> int:
    per_token = (cfg.d_model * cfg.n_layers * ACTIVATION_FLOATS_PER_LAYER
                 + LOGIT_FLOATS_PER_VOCAB * cfg.vocab_size)
    return batch_size * cfg.context * per_token * 4 + cfg.n_params * PARAM_BYTES


def available_bytes(device: torch.device) -> int | None:
    """Memory a step may use now: free GPU memory, or MemAvailable of the machine."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None  # MPS shares system memory but reports no budget: don't guess
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_step_fits(cfg: ModelConfig, batch_size: int, grad_accum: int,
                    device: torch.device, available: int | None = None) -> None:
    """UserError (field batch_size) when one micro-step would not fit, with flags that do."""
    available = available_bytes(device) if available is None else available
    if available is None:
        return
    budget = available * HEADROOM
    need = step_bytes(cfg, batch_size)
    if need <= budget:
        return
    fits = 1
    while fits * 2 < batch_size and step_bytes(cfg, fits * 2) <= budget:
        fits *= 2
    if step_bytes(cfg, fits) > budget:
        raise UserError(
            f"the model alone needs about {need / MB:,.0f} MB to train (weights, gradients, "
            f"optimizer) but only {available / MB:,.0f} MB is free on {device}; choose a smaller "
            "model or free memory", field="batch_size")
    accum = grad_accum * math.ceil(batch_size / fits)
    raise UserError(
        f"--batch-size {batch_size} needs about {need / MB:,.0f} MB for one step but only "
        f"{available / MB:,.0f} MB is free on {device}; use --batch-size {fits} "
        f"--grad-accum {accum} for the same tokens per step (or a smaller --batch-size)",
        field="batch_size")
