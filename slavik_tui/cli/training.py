"""`new`, `train` and `stop`: create a model, train it (here or detached), stop its trainer."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from slavik_tui.cli.common import PROG, note, say, workspace
from slavik_tui.cli.parser import new_config, train_options
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import validate_name
from slavik_tui.spec.options import check_launch, options_argv


def cmd_new(args) -> int:
    name = validate_name(args.name)
    cfg = new_config(args)
    ws = workspace(args)
    if (ws.root / name).exists():
        raise UserError(f"model '{name}' already exists in {ws.root}; pick another name")
    from slavik_tui.engine.create import create_model

    create_model(ws, name, args.data, cfg, args.encoding, args.column, report=say)
    return 0


def cmd_train(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    opts = train_options(args)  # checked here, so a detached start fails in the foreground
    check_launch(opts)
    if opts.launched or getattr(args, "dry_run", False):
        return launch(ws, model_dir, args, opts)
    return run_stage(ws, model_dir, args, opts, "train", "training",
                     "slavik_tui.engine.trainer:train")


def run_stage(ws, model_dir: Path, args, opts, command: str, doing: str, run: str) -> int:
    """Run a stage's trainer here (`run` names it as "module:function", e.g.
    "slavik_tui.engine.trainer:train", called as fn(model_dir, opts, report=); imported only
    then, so `--detach` does not load torch) or, with `--detach`, as `slavik-tui <command>
    NAME …` in its own session; `doing` words the detached note ("training", "fine-tuning", "running RL") and the failure line."""
    if args.detach:
        from slavik_tui.runs import start_detached

        # The trainer runs in another folder's session: give it the files, not relative names.
        data = getattr(opts, "data", None)
        if data:
            opts = dataclasses.replace(opts, data=[str(Path(p).resolve()) for p in data])
        run_info = start_detached(ws.root, args.name, options_argv(opts), command=command)
        print(run_info.run_id)
        note(f"run {run_info.run_id} of '{args.name}' is {doing} in the background (pid "
             f"{run_info.pid}); log: {run_info.log_path}; watch: {PROG} watch {args.name}; "
             f"stop: {PROG} stop {args.name}")
        return 0
    import importlib

    from slavik_tui.engine.trainer import TrainingFailed

    module, name = run.split(":")
    try:
        getattr(importlib.import_module(module), name)(model_dir, opts, report=say)
    except TrainingFailed as exc:
        print(f"{PROG}: {doing} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def launch(ws, model_dir: Path, args, opts, command: str = "train") -> int:
    """`--nproc N` / `--nnodes K`: torchrun over N ranks (here, or detached), each running
    `slavik-tui <command> NAME` with the same flags; `--dry-run` prints the command only."""
    import shlex
    import subprocess

    from slavik_tui.runs.detached import launch_command, launcher_env, start_detached
    from slavik_tui.store.lock import lock_holder

    opts = dataclasses.replace(opts, data=[str(Path(p).resolve()) for p in opts.data])
    argv = launch_command(ws.root, args.name, opts, command)
    if getattr(args, "dry_run", False):
        print(shlex.join(argv))
        return 0
    if not opts.launched:  # only --dry-run brought us here
        raise AssertionError("launch() without a launch")
    holder = lock_holder(model_dir) if opts.node_rank == 0 else None
    if holder:
        raise UserError(
            f"model '{args.name}' is already being trained (pid {holder}); "
            f"watch it with `{PROG} watch {args.name}` or stop it with `{PROG} stop {args.name}`")
    if args.detach:
        run = start_detached(ws.root, args.name, [], command=command, argv=argv)
        print(run.run_id)
        note(f"run {run.run_id} of '{args.name}' is training in the background on "
             f"{opts.nproc * opts.nnodes} processes (torchrun pid {run.pid}); log: "
             f"{run.log_path}; watch: {PROG} watch {args.name}; stop: {PROG} stop {args.name}")
        return 0
    note(shlex.join(argv))
    before = _last_run(model_dir)
    proc = subprocess.Popen(argv, env=launcher_env(), cwd=model_dir)
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:  # the ranks got the SIGINT too: wait for their checkpoint
            continue
    run = _last_run(model_dir)
    if code != 0 and run is not None and run.id != getattr(before, "id", None) \
            and run.status == "stopped":
        # torchrun ends with a SignalException after forwarding SIGTERM/SIGINT to the ranks;
        # they stopped gracefully and rank 0 saved the checkpoint
        note(f"run {run.id} stopped at step {run.last_step}; resume with "
             f"`{PROG} {command} {args.name} --nproc {opts.nproc}`")
        return 0
    if code != 0:
        print(f"{PROG}: training failed: torchrun exited with code {code} (the failing "
              "rank's error is above; the last checkpoint is kept)", file=sys.stderr)
        return 1
    return 0


def _last_run(model_dir: Path):
    from slavik_tui.spec.folder import ModelFolder
    from slavik_tui.store.history import History

    path = ModelFolder(model_dir).history
    if not path.exists():
        return None
    with History(path, readonly=True) as history:
        runs = history.runs()
    return max(runs, key=lambda r: r.id) if runs else None


def cmd_stop(args) -> int:
    from slavik_tui.runs import stop
    from slavik_tui.store.lock import lock_holder

    model_dir = workspace(args).model_dir(args.name)
    if lock_holder(model_dir):
        note(f"asking the trainer of '{args.name}' to stop (it finishes the step and saves)…")
    pid = stop(model_dir)
    print(f"stopped: trainer {pid} of '{args.name}' saved its checkpoint and exited")
    return 0
