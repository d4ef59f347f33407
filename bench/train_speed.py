"""Training speed at the seed config, side by side with a nanoGPT-style reference.

    python bench/train_speed.py [--steps 10] [--repeats 3] [--curve 150] [--quick] [--compile]

Times, in one run (the machine's speed drifts between runs, so only ratios measured together
mean much):
- `ref`:   a plain nanoGPT-like loop — GPT-2 blocks (LayerNorm, GELU MLP, biases, learned
           positions), fp32, unfused AdamW (nanoGPT fuses only on CUDA), and attention through
           `scaled_dot_product_attention`, which nanoGPT uses on torch ≥ 2.0;
- `fp32`:  our model and optimizer step (SDPA, RMSNorm, SwiGLU, fused AdamW), fp32;
- `bf16`:  the same under bf16 autocast (what `--dtype auto` picks on CPUs with AMX/AVX512-BF16).
- `bf16c`: with `--compile`, the bf16 model under `torch.compile` (what `train --compile` runs);
           its first compile is timed apart and printed (it is paid once per run).
- `fp32c`: with `--compile`, the fp32 model under `torch.compile` (what a CPU without native
           bf16 would run with --compile).
Prints tokens/s, ms/step, MFU against a matmul peak measured here, and the speed-up over `ref`.
With `--curve N` it also trains fp32 and bf16 for N steps on the same batches of real text
(../shared/data when present, else generated) and prints the largest relative gap between
the two smoothed loss curves — bf16 must stay within 2% of fp32.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slavik_tui.spec.config import ModelConfig  # noqa: E402
from slavik_tui.engine.model import GPT  # noqa: E402
from slavik_tui.engine.trainer import make_optimizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nanogpt_ref import RefGPT, cpu_flags  # noqa: E402

SEED = dict(vocab_size=8000, context=256, d_model=256, n_layers=6, n_heads=8)
BATCH = 8


# ---- timing ---------------------------------------------------------------------------------
def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times)


def time_steps(model, optimizer, autocast_dtype, steps: int, vocab: int, ctx: int,
               step_fn=None) -> list[float]:
    g = torch.Generator().manual_seed(0)
    times = []
    step_fn = model if step_fn is None else step_fn
    for i in range(steps + 2):  # two warm-up steps
        x = torch.randint(0, vocab, (BATCH, ctx), generator=g)
        y = torch.roll(x, -1, dims=1)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            _, loss = step_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i == 0 and step_fn is not model and time.perf_counter() - t0 > 1:
            print(f"{'bf16c' if autocast_dtype else 'fp32c'}: first step (the compile) "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def flops_per_token(cfg: ModelConfig) -> float:
    # 6·N for the matmuls of forward + backward, plus attention scores (PaLM's appendix B)
    return 6 * cfg.n_params + 12 * cfg.n_layers * cfg.d_model * cfg.context


def ours(dtype):
    torch.manual_seed(0)
    cfg = ModelConfig(**SEED)
    model = GPT(cfg)
    plan = {"lr": 6e-4, "weight_decay": 0.1}
    return model, make_optimizer(model, plan, torch.device("cpu")), cfg


def ref():
    torch.manual_seed(0)
    model = RefGPT(SEED["vocab_size"], SEED["context"], SEED["d_model"], SEED["n_layers"],
                   SEED["n_heads"])
    return model, torch.optim.AdamW(model.parameters(), lr=6e-4, fused=False, foreach=False)


# ---- loss-curve agreement of bf16 and fp32 --------------------------------------------------
def real_tokens(n_tokens: int) -> torch.Tensor:
    from slavik_tui.engine.tokenizer import Tokenizer

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "anna_karenina.txt"
    if shared.exists():
        text = shared.read_text(encoding="utf-8")[:2_000_000]
        source = str(shared.name)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from corpus import make_text

        text, source = make_text(2_000_000), "generated text (../shared/data absent)"
    tok = Tokenizer.train([text], SEED["vocab_size"])
    ids = torch.tensor(tok.encode_to_array([text]).astype("int64"))
    print(f"curve data: {source}, {len(ids):,} tokens")
    return ids[:n_tokens] if n_tokens < len(ids) else ids


def curve(dtype, steps: int, ids: torch.Tensor) -> list[float]:
    model, opt, cfg = ours(dtype)
    g = torch.Generator().manual_seed(1)
    losses = []
    for step in range(steps):
        lr = 6e-4 * min(1.0, (step + 1) / 20)
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(ids) - cfg.context - 1, (BATCH,), generator=g)
        x = torch.stack([ids[s:s + cfg.context] for s in starts])
        y = torch.stack([ids[s + 1:s + cfg.context + 1] for s in starts])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def ema(values: list[float], alpha: float = 0.9) -> list[float]:
    out, acc = [], values[0]
    for v in values:
        acc = alpha * acc + (1 - alpha) * v
        out.append(acc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--curve", type=int, default=0, help="steps of the fp32-vs-bf16 check")
    ap.add_argument("--quick", action="store_true", help="4 steps × 2 repeats, no curve")
    ap.add_argument("--compile", action="store_true",
                    help="also time bf16 and fp32 under torch.compile")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.repeats, args.curve = 4, 2, 0
    print(cpu_flags())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, {SEED}")
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    print(f"matmul peak: fp32 {peak32 / 1e9:,.0f} GFLOP/s, bf16 {peak16 / 1e9:,.0f} GFLOP/s")
    cfg = ModelConfig(**SEED)
    tokens = BATCH * cfg.context
    results: dict[str, list[float]] = {"ref": [], "fp32": [], "bf16": []}
    compiled = compiled32 = None
    if args.compile:
        results["bf16c"], results["fp32c"] = [], []
        compiled = ours("bf16")
        compiled = (*compiled, torch.compile(compiled[0]))
        compiled32 = ours("fp32")
        compiled32 = (*compiled32, torch.compile(compiled32[0]))
    for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
        m, o = ref()
        results["ref"] += time_steps(m, o, None, args.steps, cfg.vocab_size, cfg.context)
        m, o, _ = ours("fp32")
        results["fp32"] += time_steps(m, o, None, args.steps, cfg.vocab_size, cfg.context)
        m, o, _ = ours("bf16")
        results["bf16"] += time_steps(m, o, torch.bfloat16, args.steps, cfg.vocab_size,
                                      cfg.context)
        if compiled:  # the same compiled model every round: only the first round compiles
            m, o, _, fn = compiled
            results["bf16c"] += time_steps(m, o, torch.bfloat16, args.steps, cfg.vocab_size,
                                           cfg.context, step_fn=fn)
            m, o, _, fn = compiled32
            results["fp32c"] += time_steps(m, o, None, args.steps, cfg.vocab_size, cfg.context,
                                           step_fn=fn)
    ref_ms = statistics.median(results["ref"]) * 1000
    for name, times in results.items():
        ms = statistics.median(times) * 1000
        tok_s = tokens / (ms / 1000)
        peak = peak16 if name.startswith("bf16") else peak32
        mfu = flops_per_token(cfg) * tok_s / peak
        print(f"{name:5s} {ms:8.1f} ms/step  {tok_s:9,.0f} tokens/s  MFU {mfu:6.1%} "
              f"(of its dtype's peak)  speed-up vs ref {ref_ms / ms:5.2f}x")
    for name, peak in (("fp32", peak32), ("bf16", peak16)):
        floor = flops_per_token(cfg) * tokens / peak * 1000
        ms = statistics.median(results[name]) * 1000
        print(f"physical limit ({name}): the step's matmul FLOPs at the peak above take "
              f"{floor:.0f} ms; the step is {ms / floor:.1f}x that; 2x ref needs "
              f"{ref_ms / 2:.0f} ms")
    if args.curve:
        ids = real_tokens(3_000_000)
        a, b = curve("fp32", args.curve, ids), curve("bf16", args.curve, ids)
        sa, sb = ema(a), ema(b)
        gap = max(abs(x - y) / x for x, y in zip(sa[10:], sb[10:]))
        print(f"loss curves over {args.curve} steps: fp32 {a[0]:.3f}→{sa[-1]:.3f}, "
              f"bf16 {b[0]:.3f}→{sb[-1]:.3f}; largest gap of the EMA(0.9) curves {gap:.2%} "
              f"({'within' if gap <= 0.02 else 'OUTSIDE'} 2%)")


if __name__ == "__main__":
    main()
