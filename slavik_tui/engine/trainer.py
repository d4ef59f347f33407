"""The training loop (DESIGN §5): AdamW, warm-up + cosine, clipping, accumulation, evals,
checkpoints, exact resume, graceful stop, NaN guard.

Exact resume rests on three facts:
- a batch is a pure function of (seed, step, micro-step) — `TokenData.get_batch` — so the
  data position is the step itself;
- the model has no dropout, and every sampled eval uses its own seeded generator, so nothing
  else draws from global RNGs (their states are saved all the same);
- the plan (schedule, batch size, seed, ...) is saved in `trainer_state.pt`, and `train`
  without `--iters` continues an unfinished plan exactly where its last checkpoint left it.

The trainer reports through `report(line)` and rows in `history.sqlite`; it knows nothing of
any UI.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine import reward as rewards
from slavik_tui.spec.config import MB, ModelConfig
from slavik_tui.engine.data import TokenData, add_datasets, load_corpus_words
from slavik_tui.engine.model import GPT
from slavik_tui.spec.options import (  # noqa: F401 - re-exported: the trainer's API
    DEFAULT_ITERS,
    PLAN_DEFAULTS,
    TrainOptions,
    check_device_name,
)
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError
from slavik_tui.store.history import History
from slavik_tui.store.lock import ModelLock

class TrainingFailed(Exception):
    """The run stopped for a reason that is not a user's input error (e.g. divergence)."""


def make_plan(opts: TrainOptions, step: int, previous: dict | None) -> tuple[dict, bool]:
    """The run's plan and whether it resumes `previous` (an unfinished plan, no --iters)."""
    resuming = bool(previous) and opts.iters is None and step < previous["target_step"]
    if resuming:
        plan = dict(previous)
    else:
        iters = opts.iters or DEFAULT_ITERS
        plan = dict(PLAN_DEFAULTS)
        if previous:  # a new plan keeps the last one's settings unless told otherwise
            plan.update({k: previous[k] for k in PLAN_DEFAULTS if k in previous})
        plan.update(start_step=step, target_step=step + iters, warmup=min(100, iters // 10))
    for key in list(PLAN_DEFAULTS) + ["warmup"]:
        value = getattr(opts, key, None)
        if value is not None:
            plan[key] = value
    return plan, resuming


def lr_at(plan: dict, step: int) -> float:
    """Linear warm-up from 0, then cosine decay to lr·min_lr_ratio at the plan's end."""
    peak, floor = plan["lr"], plan["lr"] * plan["min_lr_ratio"]
    k = step - plan["start_step"]  # 1-based within the plan
    total = max(1, plan["target_step"] - plan["start_step"])
    warmup = plan["warmup"]
    if warmup and k <= warmup:
        return peak * k / warmup
    progress = min(1.0, (k - warmup) / max(1, total - warmup))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


# ---- device and precision -----------------------------------------------------------------
def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    check_device_name(requested)
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps asked for, but MPS is not available; use --device cpu")
    return device


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


def make_optimizer(model: torch.nn.Module, plan: dict, device: torch.device):
    """AdamW with decay on matrices only (not norms); fused kernels where the device has them."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": plan["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=plan["lr"], betas=(0.9, 0.95), eps=1e-8, fused=fused)


# ---- RNG state (saved for completeness; the loop itself draws from none) ----------------
def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


# ---- the trainer ----------------------------------------------------------------------------
class Trainer:
    def __init__(self, model_dir: Path, opts: TrainOptions, report: Callable[[str], None] = print):
        opts.validate()
        self.model_dir = Path(model_dir)
        self.opts = opts
        self.report = report
        self.stop_requested = False
        self.name = self.model_dir.name

    # Signals only set a flag: the current step finishes, then we checkpoint and leave.
    def _install_signal_handlers(self) -> dict:
        def handler(signum, _frame):
            if not self.stop_requested:
                self.report(f"received {signal.Signals(signum).name}: stopping after this step")
            self.stop_requested = True

        old = {}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (tests): stop() still works
                pass
        return old

    def request_stop(self) -> None:
        self.stop_requested = True

    def run(self, on_run_started: Callable[[int], None] | None = None) -> dict:
        """Train until the plan's target step or a stop request. Returns a summary dict."""
        with ModelLock(self.model_dir):
            old_handlers = self._install_signal_handlers()
            try:
                return self._run_locked(on_run_started)
            finally:
                for sig, h in old_handlers.items():
                    signal.signal(sig, h)

    def _run_locked(self, on_run_started) -> dict:
        opts, model_dir = self.opts, self.model_dir
        ckpt.recover(model_dir)
        cfg = ModelConfig.load(model_dir / "config.json")
        tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
        if opts.data:
            for entry in add_datasets(model_dir, opts.data, tokenizer, opts.encoding, opts.column):
                self.report(f"dataset {Path(entry.path).name}: {entry.tokens:,} tokens")
        data = TokenData(model_dir, cfg.context)

        device = pick_device(opts.device)
        dtype = pick_dtype(opts.dtype, device)
        state = ckpt.load_trainer_state(model_dir)
        step = int(state["step"]) if state else 0
        plan, resuming = make_plan(opts, step, state["plan"] if state else None)
        if plan["start_step"] >= plan["target_step"]:
            raise UserError("nothing to do: use --iters N to train N more steps")

        if state is None:
            torch.manual_seed(plan["seed"])
        model = GPT(cfg)
        if state is not None:
            ckpt.apply_weights(model, ckpt.load_weights(model_dir), model_dir)
        model.to(device)
        optimizer = make_optimizer(model, plan, device)
        if state is not None:
            try:
                optimizer.load_state_dict(state["optimizer"])
            except (ValueError, KeyError):
                self.report("optimizer state does not match; starting AdamW moments afresh")
            set_rng_state(state["rng"])
        step_fn = torch.compile(model) if opts.compile else model

        history = History(model_dir / "history.sqlite")
        try:
            history.reap_dead_runs()
            config_record = {
                **plan,
                "device": str(device),
                "dtype": str(dtype).removeprefix("torch."),
                "model": cfg.to_dict(),
                "params": cfg.n_params,
                "resumed": resuming,
                "datasets": [Path(d.path).name for d in data.datasets],
            }
            run_id = history.start_run(
                "pretrain", config_record, step, plan["target_step"], os.getpid()
            )
            history.supersede_after(step, run_id)
            if on_run_started:
                on_run_started(run_id)
            verb = "resuming" if resuming else "training"
            self.report(
                f"run {run_id}: {verb} '{self.name}' from step {step} to {plan['target_step']} "
                f"on {device} ({config_record['dtype']}), {cfg.n_params:,} params, "
                f"{data.train_tokens:,} train tokens"
            )
            loop = _Loop(self, model, step_fn, optimizer, data, tokenizer, cfg, plan, device,
                         dtype, history, run_id)
            return loop.run(step)
        finally:
            history.close()


class _Loop:
    """The per-step work, split from setup so each reads on its own."""

    def __init__(self, trainer, model, step_fn, optimizer, data, tokenizer, cfg, plan, device,
                 dtype, history, run_id):
        self.t = trainer
        self.model, self.step_fn, self.optimizer = model, step_fn, optimizer
        self.data, self.tokenizer, self.cfg, self.plan = data, tokenizer, cfg, plan
        self.device, self.dtype = device, dtype
        self.history, self.run_id = history, run_id
        self.autocast = dtype != torch.float32
        self.reward_fn = rewards.resolve(trainer.opts.reward)
        self.reward_ctx = rewards.RewardContext(corpus_words=load_corpus_words(trainer.model_dir))
        self.last_loss = float("nan")

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.autocast)

    def train_step(self, step: int) -> tuple[float, float, float]:
        plan, model = self.plan, self.model
        lr = lr_at(plan, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.train()
        accum = plan["grad_accum"]
        total = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = self.data.get_batch("train", plan["batch_size"], step * accum + micro, plan["seed"])
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with self._autocast():
                _, loss = self.step_fn(x, y)
            (loss / accum).backward()
            total += loss.detach()
        if plan["grad_clip"] > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), plan["grad_clip"]))
        else:
            grad_norm = float(torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])))
        loss_value = float(total) / accum
        if math.isfinite(loss_value) and math.isfinite(grad_norm):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_value, lr, grad_norm

    @torch.no_grad()
    def evaluate(self, step: int) -> dict:
        from slavik_tui.engine.generate import generate

        model, plan = self.model, self.plan
        model.eval()
        losses = []
        for x, y in self.data.val_batches(plan["eval_batches"], plan["batch_size"]):
            with self._autocast():
                _, loss = model(x.to(self.device), y.to(self.device))
            losses.append(float(loss))
        val_loss = sum(losses) / len(losses)
        val_bpb = val_loss / math.log(2) / self.data.val_bytes_per_token
        texts = []
        for i, prompt_ids in enumerate(self.data.reward_prompts(4, 16)):
            prompt = self.tokenizer.decode(prompt_ids)
            pieces = generate(model, self.tokenizer, prompt, max_tokens=32, temperature=0.8,
                              top_k=50, top_p=0.95, seed=plan["seed"] * 1000 + step * 4 + i)
            texts.append("".join(pieces))
        reward = rewards.score(self.reward_fn, texts, self.reward_ctx)
        model.train()
        return {"val_loss": val_loss, "val_bpb": val_bpb, "reward": reward, "sample": texts[0]}

    def size_mb(self) -> float:
        files = [self.t.model_dir / ckpt.WEIGHTS, self.t.model_dir / ckpt.STATE]
        if all(f.exists() for f in files):
            return sum(f.stat().st_size for f in files) / MB
        return self.cfg.sizes_mb()["checkpoint"]

    def save(self, step: int) -> None:
        weights = ckpt.serialize_weights(
            self.model.state_dict(), {"format": "pt", "step": str(step)}
        )
        state = ckpt.serialize_state({
            "step": step,
            "plan": self.plan,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(),
            "run_id": self.run_id,
        })
        ckpt.save_checkpoint(self.t.model_dir, weights, state, step)

    def run(self, step: int) -> dict:
        plan, report, history = self.plan, self.t.report, self.history
        tokens_per_step = plan["batch_size"] * plan["grad_accum"] * self.cfg.context
        target = plan["target_step"]
        status, reason = "finished", None
        started = time.time()
        last_saved = step
        try:
            while step < target:
                t0 = time.perf_counter()
                loss, lr, grad_norm = self.train_step(step + 1)
                dt = time.perf_counter() - t0
                if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                    status = "failed"
                    reason = (
                        f"loss became {loss} at step {step + 1} (training diverged); the last "
                        f"good checkpoint (step {last_saved}) is kept: resume with a lower --lr"
                    )
                    break
                step += 1
                tok_s = tokens_per_step / dt
                now = time.time()
                history.log_step(self.run_id, step, now, loss, lr, grad_norm, tok_s)
                self.last_loss = loss
                if step % self.t.opts.log_every == 0 or step == target:
                    eta = (target - step) * dt
                    report(f"step {step}/{target} | loss {loss:.4f} | lr {lr:.2e} | "
                           f"{tok_s:,.0f} tok/s | eta {_fmt_duration(eta)}")
                stopping = self.t.stop_requested
                if step % plan["save_every"] == 0 or step == target or stopping:
                    self.save(step)
                    last_saved = step
                if step % plan["eval_every"] == 0 or step == target or stopping:
                    ev = self.evaluate(step)
                    history.log_eval(self.run_id, step, time.time(), ev["val_loss"],
                                     ev["val_bpb"], ev["reward"], self.size_mb())
                    report(f"eval {step}: val loss {ev['val_loss']:.4f} | "
                           f"{ev['val_bpb']:.3f} bits/byte | reward {ev['reward']:.3f} | "
                           f"sample: {ev['sample'][:60]!r}")
                if stopping:
                    status = "stopped"
                    break
        except BaseException as exc:
            history.end_run(self.run_id, "failed", f"{type(exc).__name__}: {exc}"[:300])
            autosave_charts(self.t.model_dir, self.run_id)
            raise
        history.end_run(self.run_id, status, reason)
        autosave_charts(self.t.model_dir, self.run_id)
        elapsed = time.time() - started
        if status == "failed":
            report(f"run {self.run_id} failed: {reason}")
            raise TrainingFailed(reason)
        report(f"run {self.run_id} {status} at step {step} in {_fmt_duration(elapsed)}; "
               f"last loss {self.last_loss:.4f}")
        return {"run_id": self.run_id, "status": status, "step": step, "loss": self.last_loss}


def autosave_charts(model_dir: Path, run_id: int) -> None:
    """Save the ended run's chart (SVG) and CSV under charts/, in a separate process: drawing
    needs plotext/rich, which the engine never imports. Fire and forget — a failure there
    must never touch the run. SLAVIK_NO_AUTOSAVE=1 turns it off (the test suite does)."""
    if os.environ.get("SLAVIK_NO_AUTOSAVE"):
        return
    import subprocess
    import sys

    try:
        subprocess.Popen(
            [sys.executable, "-m", "slavik_tui.charts", str(model_dir), str(run_id)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
    except OSError:
        pass


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def train(model_dir: Path, opts: TrainOptions, report: Callable[[str], None] = print,
          on_run_started: Callable[[int], None] | None = None) -> dict:
    return Trainer(model_dir, opts, report).run(on_run_started)

