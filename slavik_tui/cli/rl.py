"""`rl NAME`: the GRPO stage on a trained model, here or detached (`--detach`).

    slavik-tui rl NAME --iters N [--group 8] [--prompts 8] [--max-new 64] [--reward SPEC]
                       [--kl 0.0] [--lr LR] [--temperature 1.0] [--detach]

The flags come from `RLOptions` (spec/rl_options.py); `rl NAME` without --iters resumes an
unfinished RL run exactly. A model without weights gets one line: train it first.
"""

from __future__ import annotations

from slavik_tui.cli.common import workspace
from slavik_tui.cli.parser import train_options
from slavik_tui.spec.rl_options import RLOptions


def cmd_rl(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    opts = train_options(args, RLOptions)  # checked here: a detached start fails up front
    from slavik_tui.engine import checkpoint as ckpt
    from slavik_tui.engine.rl.stage import untrained

    if not ckpt.weights_on_disk(model_dir):
        raise untrained(args.name)
    if getattr(args, "dry_run", False):
        from slavik_tui.cli.training import launch

        return launch(ws, model_dir, args, opts, command="rl")
    from slavik_tui.cli.training import run_stage

    return run_stage(ws, model_dir, args, opts, "rl", "running RL", "slavik_tui.engine.rl:rl")
