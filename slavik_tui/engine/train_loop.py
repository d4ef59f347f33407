"""The per-step work of a run (split from the trainer's setup so each reads on its own):
steps, evals, checkpoints, the NaN guard, the thread tuner, and how a run ends.

A full disk ends the run as "failed" with a reason that starts with "disk full" (never a
traceback, never "trainer process died"): the save that failed removed its partial files, so
the last checkpoint and every logged point are kept.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from slavik_tui.atomic import disk_full_error, is_disk_full, on_disk_full
from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine import distributed as dist
from slavik_tui.engine import mfu as mfu_
from slavik_tui.engine.device import oom_advice
from slavik_tui.engine.gpu_stats import GpuStats, describe
from slavik_tui.engine.evals import evaluate
from slavik_tui.engine.threads import ThreadTuner
from slavik_tui.errors import DiskFull
from slavik_tui.proc import child_python
from slavik_tui.spec.config import MB
from slavik_tui.store.sizes import checkpoint_bytes


class TrainingFailed(Exception):
    """The run stopped for a reason that is not a user's input error (e.g. divergence)."""


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


# ---- the loop ------------------------------------------------------------------------------
class TrainLoop:
    """One run's steps. Under torchrun the trainer sets `world` (this rank's place: rank,
    size, is_main) and `ddp` (the DistributedDataParallel around `model`; `step_fn` calls
    it): each rank steps its share of the global batch, and only `world.is_main` saves,
    evaluates and reports. A stage's subclass that overrides `train_step` keeps that split
    (see `micro_batches` and `finish_step`)."""

    world: dist.World = dist.SINGLE
    ddp: torch.nn.Module | None = None
    uncompiled: torch.nn.Module | None = None  # step_fn without torch.compile, until it works
    step_tokens: int | None = None  # tokens the last step trained on, when a stage's vary (RL)

    def __init__(self, trainer, model, step_fn, optimizer, data, tokenizer, cfg, plan, device,
                 dtype, history, run_id, reward_spec, reward_ctx, tuner: ThreadTuner):
        self.t = trainer
        self.model, self.step_fn, self.optimizer = model, step_fn, optimizer
        self.data, self.tokenizer, self.cfg, self.plan = data, tokenizer, cfg, plan
        self.device, self.dtype = device, dtype
        self.history, self.run_id = history, run_id
        self.reward_spec, self.reward_ctx = reward_spec, reward_ctx  # RewardSpec, its kwargs
        self.eval_pairs = None  # the evals' fixed held-out (prompt, reference) pairs, found once
        self.tuner = tuner
        self.autocast = dtype != torch.float32
        self.last_loss = float("nan")

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.autocast)

    def train_step(self, step: int) -> tuple[float, float, float]:
        plan, model = self.plan, self.model
        lr = lr_at(plan, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.train()
        accum = dist.rank_accum(plan["grad_accum"], self.world)
        total = torch.zeros((), device=self.device)
        for micro, sync in self.micro_batches(accum):
            index = dist.micro_index(step, micro, plan["grad_accum"], self.world)
            x, y = self.data.get_batch("train", plan["batch_size"], index, plan["seed"])
            if self.device.type == "cuda":  # pinned: the copy overlaps the previous step
                x, y = x.pin_memory(), y.pin_memory()
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with sync:
                with self._autocast():
                    _, loss = self.step_fn(x, y)
                (loss / accum).backward()
            total += loss.detach()
        total = self.finish_step(total)
        accum = plan["grad_accum"]
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

    def micro_batches(self, accum: int):
        """(micro, context) for each of this rank's micro-steps: DDP's no_sync on all but the
        last, so gradients are all-reduced once per step."""
        for micro in range(accum):
            last = micro == accum - 1
            no_sync = self.ddp is not None and self.world.distributed and not last
            yield micro, self.ddp.no_sync() if no_sync else contextlib.nullcontext()

    def finish_step(self, loss_sum: torch.Tensor) -> torch.Tensor:
        """The loss summed over the whole world's micro-batches (this rank's alone in one
        process), and every rank learns whether any was asked to stop: all ranks stop after
        the same step."""
        loss_sum, stop = dist.agree(self.world, loss_sum, self.t.stop_requested)
        if stop:
            self.t.stop_requested = True
        return loss_sum

    def _step(self, step: int) -> tuple[float, float, float]:
        """train_step, falling back once to the uncompiled model when torch.compile fails
        (its errors surface at the first call)."""
        if self.uncompiled is None:
            return self.train_step(step)
        t0 = time.perf_counter()
        try:
            result = self.train_step(step)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:
            why = " ".join(str(exc).split())[:120]
            self.t.report(f"torch.compile failed ({type(exc).__name__}: {why}); training "
                          "without it (--no-compile skips the attempt)")
            self.step_fn, self.uncompiled = self.uncompiled, None
            self.optimizer.zero_grad(set_to_none=True)
            return self.train_step(step)
        self.uncompiled = None
        self.t.report(f"torch.compile: the first step took {time.perf_counter() - t0:.1f} s "
                      "(the compile, paid once per run and cached for the next; --no-compile "
                      "trains without it)")
        return result

    def evaluate(self, step: int) -> dict:
        """val loss, bits/byte, reward and a sample (engine/evals.py)."""
        return evaluate(self, step)

    def size_mb(self) -> float:
        nbytes = checkpoint_bytes(self.t.model_dir)  # the Models list's figure too
        return nbytes / MB if nbytes is not None else self.cfg.sizes_mb()["checkpoint"]

    def save(self, step: int) -> None:
        if not self.world.is_main:
            return
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
        with on_disk_full(self.t.model_dir, f"the checkpoint of step {step}",
                          needed=len(weights) + len(state), then=self._resume_advice()):
            ckpt.save_checkpoint(self.t.model_dir, weights, state, step)

    def _resume_advice(self) -> str:
        return f"resume with `slavik-tui {self.t.stage.command} {self.t.name}`"

    def run(self, step: int) -> dict:
        plan, report, history, tuner = self.plan, self.t.report, self.history, self.tuner
        tokens_per_step = plan["batch_size"] * plan["grad_accum"] * self.cfg.context
        target = plan["target_step"]
        status, reason = "finished", None
        started = time.time()
        last_saved = step
        peak = mfu_.device_peak(self.device, self.dtype) if self.world.is_main else None
        gpu = GpuStats.open(self.device) if self.world.is_main else None
        try:
            while step < target:
                tuner.before_step()
                t0 = time.perf_counter()
                loss, lr, grad_norm = self._step(step + 1)
                dt = time.perf_counter() - t0
                change = tuner.after_step(dt)
                if change:
                    report(change)
                if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                    status = "failed"
                    reason = (
                        f"loss became {loss} at step {step + 1} (training diverged); the last "
                        f"good checkpoint (step {last_saved}) is kept: resume with a lower --lr"
                    )
                    break
                step += 1
                tok_s = (self.step_tokens or tokens_per_step) / dt
                history.log_step(self.run_id, step, time.time(), loss, lr, grad_norm, tok_s)
                self.last_loss = loss
                if step % self.t.opts.log_every == 0 or step == target:
                    eta = (target - step) * dt
                    use = mfu_.mfu(self.cfg, tok_s, peak, self.world.size)
                    shown = f" | MFU {100 * use:.1f}%" if use is not None else ""
                    where = f"threads {tuner.threads}" if self.device.type == "cpu" else (
                        describe(gpu.read()) if gpu else str(self.device))
                    report(f"step {step}/{target} | loss {loss:.4f} | lr {lr:.2e} | "
                           f"{tok_s:,.0f} tok/s{shown} | eta {fmt_duration(eta)} | {where}")
                stopping = self.t.stop_requested
                if step % plan["save_every"] == 0 or step == target or stopping:
                    self.save(step)
                    last_saved = step
                if self.world.is_main and (step % plan["eval_every"] == 0 or step == target
                                           or stopping):
                    ev = self.evaluate(step)
                    # the named series first: the eval's fsynced commit makes them durable too
                    self._log_gpu(gpu, step, ev.get("metrics"))
                    history.log_eval(self.run_id, step, time.time(), ev["val_loss"],
                                     ev["val_bpb"], ev["reward"], self.size_mb())
                    report(f"eval {step}: val loss {ev['val_loss']:.4f} | "
                           f"{ev['val_bpb']:.3f} bits/byte | reward {ev['reward']:.3f} | "
                           f"sample: {ev['sample'][:60]!r}")
                if stopping:
                    status = "stopped"
                    break
        except torch.OutOfMemoryError:
            reason = oom_advice(plan, step + 1, last_saved, self.device)
            self._end("failed", reason)
            report(f"run {self.run_id} failed: {reason}")
            raise TrainingFailed(reason) from None
        except BaseException as exc:
            if isinstance(exc, DiskFull) or is_disk_full(exc):
                full = exc if isinstance(exc, DiskFull) else disk_full_error(
                    self.t.model_dir, "the run's history", then=self._resume_advice())
                self._end("failed", str(full))  # no chart: it would need space too
                raise full from None
            self._end("failed", f"{type(exc).__name__}: {exc}")
            if self.world.is_main:
                autosave_charts(self.t.model_dir, self.run_id)
            raise
        history.end_run(self.run_id, status, reason)
        if self.world.is_main:
            autosave_charts(self.t.model_dir, self.run_id)
        elapsed = time.time() - started
        if status == "failed":
            report(f"run {self.run_id} failed: {reason}")
            raise TrainingFailed(reason)
        report(f"run {self.run_id} {status} at step {step} in {fmt_duration(elapsed)}; "
               f"last loss {self.last_loss:.4f}")
        return {"run_id": self.run_id, "status": status, "step": step, "loss": self.last_loss,
                "threads": tuner.threads}

    def _log_gpu(self, gpu: GpuStats | None, step: int, values: dict | None = None) -> None:
        """The eval's named values (`rewards/NAME`, `reward_std`) and the GPU's readings
        (`gpu/util`, ...) beside it, in one History.log_metrics call."""
        values = {**(values or {}), **(gpu.read() if gpu is not None else {})}
        if values:
            self.history.log_metrics(self.run_id, step, time.time(), values)

    def _end(self, status: str, reason: str) -> None:
        """Record how the run ended; on a full disk even that may fail, and must not hide the
        reason the user needs to see."""
        try:
            self.history.end_run(self.run_id, status, reason[:300])
        except Exception as exc:
            if not is_disk_full(exc):
                raise


def autosave_charts(model_dir: Path, run_id: int) -> None:
    """Save the ended run's chart (SVG) and CSV under charts/, in a separate process: drawing
    needs plotext/rich, which the engine never imports. Fire and forget — a failure there
    must never touch the run. The child starts isolated (proc.child_python: no cwd on
    sys.path) in the model folder. SLAVIK_NO_AUTOSAVE=1 turns it off (the test suite does)."""
    if os.environ.get("SLAVIK_NO_AUTOSAVE"):
        return
    import subprocess

    try:
        subprocess.Popen(
            [*child_python(), "-m", "slavik_tui.charts", str(Path(model_dir).absolute()),
             str(run_id)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, cwd=model_dir,
        )
    except OSError:
        pass


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
