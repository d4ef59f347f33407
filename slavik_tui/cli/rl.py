"""`rl NAME`: the GRPO stage on a trained model, here or detached (`--detach`).

    slavik-tui rl NAME --iters N [--group 8] [--prompts 8] [--max-new 64] [--reward SPEC]
                       [--kl 0.0] [--lr LR] [--temperature 1.0] [--detach]

The flags come from `RLOptions` (spec/rl_options.py); `rl NAME` without --iters resumes an
unfinished RL run exactly. A model without weights gets one line: train it first.
"""

from __future__ import annotations

import sys

from slavik_tui.cli.common import PROG, note, say, workspace
from slavik_tui.cli.parser import train_options
from slavik_tui.spec.options import options_argv
from slavik_tui.spec.rl_options import RLOptions


def cmd_rl(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    opts = train_options(args, RLOptions)  # checked here: a detached start fails up front
    from slavik_tui.engine import checkpoint as ckpt
    from slavik_tui.engine.rl import rl
    from slavik_tui.engine.rl.stage import untrained

    if not ckpt.weights_on_disk(model_dir):
        raise untrained(args.name)
    if getattr(args, "dry_run", False):
        from slavik_tui.cli.training import launch

        return launch(ws, model_dir, args, opts, command="rl")
    if args.detach:
        from slavik_tui.runs import start_detached

        run = start_detached(ws.root, args.name, options_argv(opts), command="rl")
        print(run.run_id)
        note(f"RL run {run.run_id} of '{args.name}' is running in the background (pid "
             f"{run.pid}); log: {run.log_path}; watch: {PROG} watch {args.name}; "
             f"stop: {PROG} stop {args.name}")
        return 0
    from slavik_tui.engine.trainer import TrainingFailed

    try:
        rl(model_dir, opts, report=say)
    except TrainingFailed as exc:
        print(f"{PROG}: RL failed: {exc}", file=sys.stderr)
        return 1
    return 0
