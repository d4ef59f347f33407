"""`reward NAME`: the reward lab — does a spec tell good text from bad on this model's text?

    slavik-tui reward NAME [--reward SPEC] [--samples N] [--seed S] [--device D] [--json]

Scores five kinds of text on the model's held-out prompts (engine/reward_lab.py): the real
continuations, the model's own samples, and three damaged kinds (shuffled words, one phrase
repeated, random tokens), with each function of the spec and combined. A spec worth
optimising ranks real far above the damaged kinds. `--json` prints exactly

    {"reward": SPEC, "scores": {"real": x, "model": y, "shuffled": z, "repeated": v,
     "random": w}, "functions": {NAME: {...the same keys...}}}
"""

from __future__ import annotations

import json

from slavik_tui.cli.common import say, workspace


def cmd_reward(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)  # unknown model: one line, before torch loads
    from slavik_tui.engine.reward_lab import format_table, run_lab

    result = run_lab(model_dir, args.reward, samples=args.samples, seed=args.seed,
                     device=args.device)
    if args.json:
        say(json.dumps({key: result[key] for key in ("reward", "scores", "functions")},
                       ensure_ascii=False))
    else:
        say(format_table(result))
    return 0
