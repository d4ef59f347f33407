"""The command line: `slavik-tui` opens the app; sub-commands run the same jobs headless.

Contract (scripts and the app rely on these names and flags; README "The command line"):
    new NAME --data FILE [...] [--d-model] [--layers] [--heads] [--vocab-size] [--context]
             [--encoding] [--column]
    train NAME [every TrainOptions flag, see spec/options.py] [--detach]
    rl NAME [every RLOptions flag, see spec/rl_options.py] [--detach]
    sft NAME --data FILE [every TrainOptions flag] [--columns Q,A] [--detach]
    chat NAME [--system TEXT] [--temperature] [--seed] [--max-tokens] [...]
    stop NAME | generate NAME PROMPT [...] | models [--json] | watch NAME
    runs NAME [--json] [--csv RUN OUT [--force]] | export NAME OUT --format weights|bf16|hf
    report NAME [--run ID] [--out FILE.md [--force]]
    reward NAME [--reward SPEC] [--samples N] [--seed S] [--device D] [--json]
    delete NAME [--yes] | rename OLD NEW
    global: --models-dir DIR (default $SLAVIK_MODELS_DIR, else ./models)
Every user error is one line on stderr and exit code 2. Heavy imports (torch) happen inside
the commands that need them, so `models`, `runs` and the app start fast.
"""

from __future__ import annotations

import sys

from slavik_tui.cli import chat, sft
from slavik_tui.cli import models, outputs, report, reward, rl, training
from slavik_tui.cli.common import workspace
from slavik_tui.cli.parser import PROG, build_parser
from slavik_tui.errors import UserError

COMMANDS = {
    "new": training.cmd_new, "train": training.cmd_train, "stop": training.cmd_stop,
    "generate": outputs.cmd_generate, "runs": outputs.cmd_runs, "export": outputs.cmd_export,
    "models": models.cmd_models, "delete": models.cmd_delete, "rename": models.cmd_rename,
    "sft": sft.cmd_sft, "chat": chat.cmd_chat,
    "report": report.cmd_report, "rl": rl.cmd_rl, "reward": reward.cmd_reward,
}


def cmd_app(args, watch: str | None = None) -> int:
    from slavik_tui.ui.app import run_app

    ws = workspace(args)
    if watch is not None:
        ws.model_dir(watch)  # unknown model: one line, before the app opens
    return run_app(ws.root, watch=watch) or 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            return cmd_app(args)
        if args.command == "watch":
            return cmd_app(args, watch=args.name)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `slavik-tui generate ... | head`
        sys.stderr.close()
        return 0


__all__ = ["COMMANDS", "PROG", "build_parser", "main"]
