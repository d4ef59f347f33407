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

import contextlib
import dataclasses
import math
import os
import signal
from pathlib import Path
from typing import Callable

import torch

from slavik_tui.atomic import on_disk_full
from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine import distributed as dist
from slavik_tui.engine import reward as rewards
from slavik_tui.engine.data import TokenData, add_datasets
from slavik_tui.engine.device import (  # noqa: F401 - pick_device re-exported
    check_step_fits,
    compile_cache_dir,
    hardware,
    pick_device,
    pick_dtype,
    setup_cuda,
    wants_compile,
)
from slavik_tui.engine.model import GPT
from slavik_tui.engine.resume import start_point
from slavik_tui.engine.threads import ThreadTuner, choose_threads
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.engine.train_loop import (  # noqa: F401 - re-exported: the trainer's API
    TrainingFailed,
    TrainLoop,
    lr_at,
    rng_state,
    set_rng_state,
)
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.options import (  # noqa: F401 - re-exported: the trainer's API
    DEFAULT_ITERS,
    PLAN_DEFAULTS,
    TrainOptions,
    check_device_name,
    plan_defaults,
)
from slavik_tui.store.history import History, check_metric_name
from slavik_tui.store.lock import ModelLock

def make_plan(opts: TrainOptions, step: int, previous: dict | None,
              kind: str = "pretrain") -> tuple[dict, bool]:
    """The run's plan and whether it resumes `previous` (an unfinished plan of the same stage
    `kind`, no --iters). The plan's defaults come from the options' class (a stage's subclass
    of TrainOptions adds its own)."""
    defaults = plan_defaults(type(opts))
    same_stage = bool(previous) and previous.get("kind", "pretrain") == kind
    resuming = same_stage and opts.iters is None and step < previous["target_step"]
    if resuming:
        plan = {**defaults, **previous}  # a state from an older version may lack keys
    else:
        iters = opts.iters or DEFAULT_ITERS
        plan = dict(defaults)
        if same_stage:  # a new plan keeps the last one's settings unless told otherwise
            plan.update({k: previous[k] for k in defaults if k in previous})
        plan.update(start_step=step, target_step=step + iters, warmup=min(100, iters // 10))
    plan["kind"] = kind
    for key in list(defaults) + ["warmup"]:
        value = getattr(opts, key, None)
        if value is not None:
            plan[key] = value
    return plan, resuming


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


def reward_text(opts: TrainOptions, plan: dict, resuming: bool) -> str:
    """The spec a run scores with: --reward, else (a stage whose option may be None) the
    resumed plan's, else the default."""
    if opts.reward:
        return opts.reward
    if resuming and plan.get("reward"):
        return plan["reward"]
    return rewards.DEFAULT_SPEC


def check_reward(text: str, model_dir: Path, data,
                 report: Callable[[str], None] = print) -> tuple[rewards.RewardSpec, dict]:
    """The run's RewardSpec and the corpus context its functions get, every function called
    once on a tiny input: a bad spec (unknown name, bad weight, a function that raises or
    returns the wrong shape) is one UserError here, before a run is recorded, not at the first
    eval. The old names (`corpus_words`, `distinct`) map to today's with one report line."""
    text, note = rewards.upgrade_legacy(text)
    if note:
        report(note)
    spec = rewards.RewardSpec.parse(text)
    for name in spec.names:  # each is stored as the series rewards/NAME
        try:
            check_metric_name(f"rewards/{name}")
        except UserError as exc:
            raise UserError(f"reward '{name}': {exc}", field="reward") from None
    ctx = rewards.corpus_context(model_dir, data, spec)
    spec.check(**ctx)
    return spec, ctx


# ---- stages -------------------------------------------------------------------------------
class Stage:
    """What makes a run pretraining, dialogue fine-tuning or RL: its history `kind`, the command
    that resumes it, where its batches come from, and the loop that steps it. Everything else —
    lock, signals, resume point, plan, optimizer, history run, checkpoints, evals, the NaN guard
    — is the trainer's, the same for every stage."""

    kind = "pretrain"
    command = "train"  # `slavik-tui <command> NAME` resumes a run of this stage
    loop_class = TrainLoop
    static_shapes = True  # every step_fn call sees one batch shape (torch.compile pays)

    def fit_plan(self, plan: dict, opts: TrainOptions, cfg: ModelConfig) -> None:
        """Adjust the plan's defaults to the model (the rl stage cuts its completion length
        to the context); a value the user gave is left for the stage to check."""

    def make_data(self, model_dir: Path, cfg: ModelConfig, tokenizer: Tokenizer,
                  opts: TrainOptions, report: Callable[[str], None]):
        """The run's batches: an object with TokenData's interface (get_batch, val_batches,
        val_bytes_per_token, context, datasets, train_tokens; the evals' reward pairs come
        from val_batches)."""
        if opts.data:
            with on_disk_full(model_dir, "the token cache of the new data"):
                for entry in add_datasets(model_dir, opts.data, tokenizer, opts.encoding,
                                          opts.column):
                    report(f"dataset {Path(entry.path).name}: {entry.tokens:,} tokens")
        return TokenData(model_dir, cfg.context)

    def prepare_model(self, model: torch.nn.Module, tokenizer: Tokenizer,
                      report: Callable[[str], None]) -> None:
        """A hook run on the loaded model before it moves to the device (SFT grows the
        embeddings for the chat tokens here)."""


PRETRAIN = Stage()


# ---- the trainer ----------------------------------------------------------------------------
class Trainer:
    def __init__(self, model_dir: Path, opts: TrainOptions, report: Callable[[str], None] = print,
                 stage: Stage = PRETRAIN):
        opts.validate()
        self.model_dir = Path(model_dir)
        self.opts = opts
        self.report = report
        self.stage = stage
        self.stop_requested = False
        self.name = self.model_dir.name
        # This process' place in a torchrun job (rank 0 of 1 outside one); only rank 0 writes.
        self.world = dist.world_from_env()
        if not self.world.is_main:
            self.report = lambda line: None

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
        """Train until the plan's target step or a stop request. Returns a summary dict.
        Under torchrun, rank 0 holds the lock (the other ranks write nothing)."""
        lock = ModelLock(self.model_dir) if self.world.is_main else contextlib.nullcontext()
        with lock:
            old_handlers = self._install_signal_handlers()
            try:
                summary = self._run_locked(on_run_started)
                # Leave together: a rank that tears its process group down while rank 0 still
                # runs the last eval and save can abort (gloo) and fail a finished run.
                dist.barrier(self.world)
                return summary
            finally:
                for sig, h in old_handlers.items():
                    signal.signal(sig, h)
                dist.shutdown(self.world)

    def _run_locked(self, on_run_started) -> dict:
        opts, model_dir, report = self.opts, self.model_dir, self.report
        stage, world = self.stage, self.world
        device = dist.rank_device(pick_device(opts.device), world)
        dist.init(world, device)
        setup_cuda(device)
        # Rank 0, the lock holder, finishes an interrupted save and adds new data; the other
        # ranks read what it left, after it.
        if not world.is_main:
            dist.barrier(world)
        point = start_point(model_dir, opts.reset_optimizer)
        cfg = ModelConfig.load(model_dir / "config.json")
        tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
        data = stage.make_data(model_dir, cfg, tokenizer,
                               opts if world.is_main else dataclasses.replace(opts, data=[]),
                               report)
        if world.is_main:
            dist.barrier(world)

        dtype = pick_dtype(opts.dtype, device)
        step, state = point.step, point.state
        plan, resuming = make_plan(opts, step, state["plan"] if state else None, stage.kind)
        stage.fit_plan(plan, opts, cfg)
        if plan["start_step"] >= plan["target_step"]:
            raise UserError("nothing to do: use --iters N to train N more steps", field="iters")
        reward_spec, reward_ctx = check_reward(reward_text(opts, plan, resuming), model_dir,
                                               data, report)
        plan["reward"] = str(reward_spec)  # saved with the plan; in the run's config
        plan = fit_world(plan, world, resuming or opts.grad_accum is not None, report)
        check_step_fits(cfg, plan["batch_size"], plan["grad_accum"], device)
        for note in point.notes:
            report(note)

        if point.weights is None:
            torch.manual_seed(plan["seed"])
        model = GPT(cfg)
        if point.weights is not None:
            ckpt.apply_weights(model, point.weights, model_dir)
        stage.prepare_model(model, tokenizer, report)
        model.to(device)
        optimizer = make_optimizer(model, plan, device)
        if state is not None:
            if not point.fresh_optimizer:
                try:
                    optimizer.load_state_dict(state["optimizer"])
                except (ValueError, KeyError, TypeError, RuntimeError):
                    report("optimizer state does not match; starting AdamW moments afresh")
            try:
                set_rng_state(state["rng"])
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError):
                report("the saved random state is unreadable; continuing without it")
        ddp = dist.wrap(model, world, device)
        compiled = wants_compile(opts.compile, opts.no_compile, device, dtype, cfg.n_params,
                                 plan["target_step"] - step, stage.static_shapes)
        if compiled:
            compile_cache_dir()
        step_fn = torch.compile(ddp) if compiled else ddp
        threads = choose_threads(opts.threads if opts.threads or not world.distributed
                                 or device.type != "cpu"
                                 else max(1, (os.cpu_count() or 1) // world.local_size))
        tuner = ThreadTuner(threads)

        history = History(model_dir / "history.sqlite") if world.is_main else dist.NullHistory()
        try:
            history.reap_dead_runs()
            config_record = {
                **plan,
                "device": str(device),
                "dtype": str(dtype).removeprefix("torch."),
                "threads": threads.threads,
                "model": cfg.to_dict(),
                "params": cfg.n_params,
                "resumed": resuming,
                "datasets": [Path(d.path).name for d in data.datasets],
                "world_size": world.size,
                **hardware(device),
            }
            run_id = history.start_run(
                stage.kind, config_record, step, plan["target_step"], os.getpid()
            )
            history.supersede_after(step, run_id)
            if on_run_started:
                on_run_started(run_id)
            verb = "resuming" if resuming else "training"
            report(
                f"run {run_id}: {verb} '{self.name}' from step {step} to {plan['target_step']} "
                f"on {device}{f' x {world.size} processes' if world.distributed else ''} "
                f"({config_record['dtype']}, {threads.threads} threads: "
                f"{threads.why}), {cfg.n_params:,} params, {data.train_tokens:,} train tokens"
            )
            loop = stage.loop_class(self, model, step_fn, optimizer, data, tokenizer, cfg, plan,
                             device, dtype, history, run_id, reward_spec, reward_ctx, tuner)
            loop.world, loop.ddp = world, ddp
            loop.uncompiled = ddp if compiled else None
            return loop.run(step)
        finally:
            history.close()


def fit_world(plan: dict, world: dist.World, fixed: bool, report) -> dict:
    """The plan's grad_accum counts the micro-batches of the whole world, so it must divide
    among the ranks. A new plan without --grad-accum takes one micro-batch per rank (the usual
    DDP global batch, batch_size × world); a fixed one that does not divide is refused."""
    accum, size = plan["grad_accum"], world.size
    if accum % size == 0:
        return plan
    if not fixed:
        report(f"--grad-accum {size}: one micro-batch of {plan['batch_size']} per process")
        return {**plan, "grad_accum": size * math.ceil(accum / size)}
    fits = size * math.ceil(accum / size)
    raise UserError(
        f"--grad-accum {accum} does not divide among {size} processes (the global batch is "
        f"--batch-size x --grad-accum on any number of processes); use --grad-accum {fits} "
        f"(or --iters N for a new plan), or a process count that divides {accum}",
        field="grad_accum")


def train(model_dir: Path, opts: TrainOptions, report: Callable[[str], None] = print,
          on_run_started: Callable[[int], None] | None = None,
          stage: Stage = PRETRAIN) -> dict:
    return Trainer(model_dir, opts, report, stage).run(on_run_started)

