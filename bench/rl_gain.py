"""Does GRPO raise the reward on held-out prompts it never trained on, without breaking the
language model? (issue 9, "Numbers")

    python bench/rl_gain.py [--data FILE] [--pretrain-iters 1000] [--rl-iters 150] [--lr LR]
                            [--reward SPEC] [--group 8] [--prompts 8] [--max-new 64]
                            [--samples 4] [--model-dir DIR] [--out DIR]
    python bench/rl_gain.py --tiny        # a smoke run of the script itself (seconds)

1. A model (d_model 128, 4 layers, 4 heads, vocab 2000, context 128 unless told otherwise) is
   created from FILE (default ../shared/data/anna_karenina.txt) in a fresh folder and
   pretrained `--pretrain-iters` steps with the engine's own `create_model` and `train`
   (`--model-dir DIR`: a copy of an already trained model instead; the original is untouched).
2. Before: the reward lab's table (real / model / shuffled / repeated / random) on the lab's
   16 held-out prompts, the model's samples drawn with `--samples` seeds per prompt, and val
   bits/byte on the evals' fixed validation batches. RL never uses those prompts: its pool
   (engine/rl/prompts.py) leaves out every window the lab and the evals score, which this
   script checks before it starts.
3. `--rl-iters` GRPO steps with `engine.rl.rl` (the same code as `slavik-tui rl`).
4. After: the same measurements, then one summary: held-out reward before → after (and its
   change in points and in the pooled std of the per-prompt means), val bits/byte before →
   after (and the change in %; the issue asks for within 5%), median seconds per RL step (from
   the steps table's timestamps), the RL batch reward of the first and last tenth of the run,
   and this machine's CPU (model, flags that matter for torch: avx2, avx512f, avx512_bf16,
   amx_bf16, amx_tile) and torch threads.

Timings depend on what else runs: on a shared machine run it alone, and say so beside the
figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from slavik_tui.engine import reward_lab  # noqa: E402
from slavik_tui.engine.checkpoint import load_model  # noqa: E402
from slavik_tui.engine.create import create_model  # noqa: E402
from slavik_tui.engine.data import TokenData  # noqa: E402
from slavik_tui.engine.reward import RewardSpec, corpus_context, held_out_pairs  # noqa: E402
from slavik_tui.engine.rl import rl  # noqa: E402
from slavik_tui.engine.rl.prompts import LAB_SAMPLES, PromptPool  # noqa: E402
from slavik_tui.engine.trainer import TrainOptions, train  # noqa: E402
from slavik_tui.spec.config import ModelConfig  # noqa: E402
from slavik_tui.spec.options import DEFAULT_REWARD, PLAN_DEFAULTS  # noqa: E402
from slavik_tui.spec.rl_options import DEFAULT_RL_LR, RLOptions  # noqa: E402
from slavik_tui.store.history import History  # noqa: E402
from slavik_tui.store.workspace import Workspace  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "anna_karenina.txt"
SMALL = dict(vocab_size=2000, context=128, d_model=128, n_layers=4, n_heads=4)
TINY = dict(vocab_size=400, context=64, d_model=32, n_layers=1, n_heads=2)
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_line() -> str:
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if flags and model != "unknown CPU":
                break
    except OSError:
        pass
    has = [f for f in CPU_FLAGS if f in flags]
    return (f"{model}; {os.cpu_count()} cores; flags: {' '.join(has) or 'none of '}"
            f"{'' if has else ' '.join(CPU_FLAGS)}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def val_bpb(model, data: TokenData, batches: int, batch_size: int) -> float:
    """Bits per byte on the evals' fixed validation batches (as engine/evals.py)."""
    model.eval()
    losses = []
    with torch.no_grad():
        for x, y in data.val_batches(batches, batch_size):
            losses.append(float(model(x, y)[1]))
    return sum(losses) / len(losses) / math.log(2) / data.val_bytes_per_token


def measure(model_dir: Path, spec: RewardSpec, ctx: dict, samples: int, eval_batches: int,
            batch_size: int) -> dict:
    """The lab's table (its model column: seed 0), the model's combined reward per prompt
    averaged over `samples` seeds, and val bits/byte."""
    model, tokenizer, cfg = load_model(model_dir)
    data = TokenData(model_dir, cfg.context)
    pairs = [p for p in held_out_pairs(data, tokenizer, LAB_SAMPLES) if p.reference.strip()]
    table = reward_lab.lab(spec, pairs, tokenizer, model=model, seed=0, **ctx)
    totals = []
    for s in range(samples):
        texts = reward_lab.model_samples(model, tokenizer, pairs, s)
        totals.append(spec.score(texts, [p.prompt for p in pairs],
                                 [p.reference for p in pairs], **ctx).total)
    per_prompt = np.mean(np.asarray(totals), axis=0)
    return {"table": table, "model": float(per_prompt.mean()), "per_prompt": per_prompt,
            "bpb": val_bpb(model, data, eval_batches, batch_size), "pairs": pairs}


def check_apart(model_dir: Path, measured: list, eval_windows: int, args) -> str:
    """None of the measured prompts is among RL's (the pool the stage builds, same plan)."""
    _, tokenizer, cfg = load_model(model_dir)
    data = TokenData(model_dir, cfg.context)
    pool = PromptPool.build(data, tokenizer, eval_windows, args.max_new,
                            PLAN_DEFAULTS["seed"], "bench", wanted=args.prompts)
    shared = {p.prompt for p in pool.pairs} & {p.prompt for p in measured}
    if shared:
        sys.exit(f"RL's prompts include measured ones: {sorted(shared)[:2]}")
    return (f"RL pool: {len(pool.pairs)} prompts, none of the {len(measured)} measured ones, "
            f"{'apart from' if pool.apart_from_val_loss else 'OVERLAPPING'} the val-loss "
            "windows")


def seconds_per_step(model_dir: Path, run_kind: str = "grpo") -> tuple[float, list, list]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        run = max((r for r in h.runs() if r.kind == run_kind), key=lambda r: r.id)
        steps = h.steps_arrays(run.id)
        reward = h.metrics_arrays(run.id, ["rl/reward"])["rl/reward"][1]
        evals = h.evals_arrays(run.id)
    t = np.asarray(steps["t"], dtype=np.float64)
    dt = np.diff(t)
    return (float(np.median(dt)) if dt.size else math.nan), reward, evals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--model-dir", type=Path, help="an already trained model (copied)")
    ap.add_argument("--pretrain-iters", type=int, default=1000)
    ap.add_argument("--rl-iters", type=int, default=150)
    ap.add_argument("--lr", type=float, help="RL learning rate (default RLOptions')")
    ap.add_argument("--reward", default=DEFAULT_REWARD)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--kl", type=float, default=0.0)
    ap.add_argument("--temperature", type=float, help="rollout temperature (default RLOptions')")
    ap.add_argument("--samples", type=int, default=4, help="seeds per held-out prompt")
    ap.add_argument("--max-bytes", type=int, help="use only the first N bytes of --data")
    ap.add_argument("--out", type=Path, help="keep the model here (default: a temp folder)")
    ap.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    args = ap.parse_args()
    if args.tiny:
        args.pretrain_iters, args.rl_iters, args.samples = 30, 4, 1
        args.group, args.prompts, args.max_new = 4, 2, 16
        args.max_bytes = args.max_bytes or 300_000
    work = Path(args.out or tempfile.mkdtemp(prefix="rl_gain-"))
    (work / "models").mkdir(parents=True, exist_ok=True)
    model_dir = work / "models" / "bench"
    if model_dir.exists():
        sys.exit(f"{model_dir} exists: pick another --out")
    started = time.time()
    if args.model_dir:
        shutil.copytree(args.model_dir, model_dir, ignore=shutil.ignore_patterns(".lock"))
        print(f"model: a copy of {args.model_dir}")
    else:
        text = args.data
        if args.max_bytes:
            text = work / f"first-{args.max_bytes}.txt"
            raw = args.data.read_bytes()[: args.max_bytes]
            text.write_text(raw.decode("utf-8", errors="ignore"), encoding="utf-8")
        cfg = ModelConfig(**(TINY if args.tiny else SMALL))
        create_model(Workspace(work / "models"), "bench", [str(text)], cfg,
                     report=lambda line: None)
        t0 = time.time()
        train(model_dir, TrainOptions(iters=args.pretrain_iters, eval_every=10**9,
                                      log_every=max(1, args.pretrain_iters // 5)), report=print)
        print(f"pretrained {args.pretrain_iters} steps on {args.data.name} in "
              f"{time.time() - t0:.0f} s")
    eval_batches, batch_size = PLAN_DEFAULTS["eval_batches"], PLAN_DEFAULTS["batch_size"]
    spec = RewardSpec.parse(args.reward)
    ctx = corpus_context(model_dir, None, spec)
    before = measure(model_dir, spec, ctx, args.samples, eval_batches, batch_size)
    apart = check_apart(model_dir, before["pairs"], eval_batches * batch_size, args)
    print("before RL:\n" + reward_lab.format_table(before["table"]))

    opts = RLOptions(iters=args.rl_iters, lr=args.lr, reward=args.reward, group=args.group,
                     prompts=args.prompts, max_new=args.max_new, kl=args.kl,
                     **({} if args.temperature is None else {"temperature": args.temperature}),
                     eval_every=max(1, args.rl_iters // 3), save_every=args.rl_iters,
                     log_every=max(1, args.rl_iters // 10))
    rl(model_dir, opts, report=print)
    after = measure(model_dir, spec, ctx, args.samples, eval_batches, batch_size)
    print("after RL:\n" + reward_lab.format_table(after["table"]))

    per_step, batch_reward, _ = seconds_per_step(model_dir)
    diff = after["per_prompt"] - before["per_prompt"]
    sem = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
    tenth = max(1, len(batch_reward) // 10)
    lr = args.lr if args.lr is not None else DEFAULT_RL_LR
    print("\n== rl_gain ==")
    print(f"settings: {args.rl_iters} RL steps, group {args.group} x {args.prompts} prompts, "
          f"max_new {args.max_new}, lr {lr:g}, kl {args.kl:g}, temperature "
          f"{args.temperature or 'default'}, reward {spec}")
    print(f"held-out reward ({len(before['pairs'])} lab prompts never used in RL, "
          f"{args.samples} samples each): {before['model']:.4f} -> {after['model']:.4f} "
          f"({after['model'] - before['model']:+.4f}; per-prompt change "
          f"{diff.mean():+.4f} ± {sem:.4f} s.e.)")
    print(apart)
    print(f"val bits/byte: {before['bpb']:.4f} -> {after['bpb']:.4f} "
          f"({100 * (after['bpb'] / before['bpb'] - 1):+.2f}%)")
    print(f"RL batch reward: first tenth {np.mean(batch_reward[:tenth]):.4f}, last tenth "
          f"{np.mean(batch_reward[-tenth:]):.4f}")
    print(f"seconds per RL step (median): {per_step:.3f}")
    print(f"cpu: {cpu_line()}")
    print(f"total {time.time() - started:.0f} s; model kept in {model_dir}")


if __name__ == "__main__":
    main()
