"""`sft`: fine-tune a model on dialogues, here or detached, as `train` does for text.

    slavik-tui sft NAME --data dialogues.jsonl --iters 300 [--detach] [every train flag]
    slavik-tui sft NAME                  # finish an unfinished sft run (the same dialogues)

The flags are SFTOptions' (spec/sft_options.py): every `train` flag, `--data` naming dialogue
files, `--columns Q,A` for a CSV. A detached or torchrun run is the same command in another
process (runs/detached.py), so `stop`, `watch` and a resume after a kill work as for `train`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from slavik_tui.cli.common import PROG, note, say, workspace
from slavik_tui.cli.parser import train_options
from slavik_tui.cli.training import launch
from slavik_tui.spec.options import check_launch, options_argv
from slavik_tui.spec.sft_options import SFTOptions


def cmd_sft(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    opts = train_options(args, SFTOptions)  # checked here, so a detached start fails here too
    check_launch(opts)
    if opts.launched or getattr(args, "dry_run", False):
        return launch(ws, model_dir, args, opts, command="sft")
    if args.detach:
        from slavik_tui.runs import start_detached

        # the trainer runs in the model's folder: give it the files, not relative names
        opts = dataclasses.replace(opts, data=[str(Path(p).resolve()) for p in opts.data])
        run = start_detached(ws.root, args.name, options_argv(opts), command="sft")
        print(run.run_id)
        note(f"run {run.run_id} of '{args.name}' is fine-tuning in the background (pid "
             f"{run.pid}); log: {run.log_path}; watch: {PROG} watch {args.name}; "
             f"stop: {PROG} stop {args.name}")
        return 0
    from slavik_tui.engine.sft import sft
    from slavik_tui.engine.trainer import TrainingFailed

    try:
        sft(model_dir, opts, report=say)
    except TrainingFailed as exc:
        print(f"{PROG}: training failed: {exc}", file=sys.stderr)
        return 1
    return 0
