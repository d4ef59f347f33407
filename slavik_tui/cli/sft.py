"""`sft`: fine-tune a model on dialogues, here or detached, as `train` does for text.

    slavik-tui sft NAME --data dialogues.jsonl --iters 300 [--detach] [every train flag]
    slavik-tui sft NAME                  # finish an unfinished sft run (the same dialogues)

The flags are SFTOptions' (spec/sft_options.py): every `train` flag, `--data` naming dialogue
files, `--columns Q,A` for a CSV. A detached or torchrun run is the same command in another
process (runs/detached.py), so `stop`, `watch` and a resume after a kill work as for `train`.
"""

from __future__ import annotations

from slavik_tui.cli.common import workspace
from slavik_tui.cli.parser import train_options
from slavik_tui.cli.training import launch, run_stage
from slavik_tui.spec.options import check_launch
from slavik_tui.spec.sft_options import SFTOptions


def cmd_sft(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    opts = train_options(args, SFTOptions)  # checked here, so a detached start fails here too
    check_launch(opts)
    if opts.launched or getattr(args, "dry_run", False):
        return launch(ws, model_dir, args, opts, command="sft")
    return run_stage(ws, model_dir, args, opts, "sft", "fine-tuning", "slavik_tui.engine.sft:sft")
