"""The command line: `slavik-tui` opens the app; sub-commands run the same jobs headless.

Contract (scripts and the app rely on these names and flags):
    new NAME --data FILE [...] [--d-model] [--layers] [--heads] [--vocab-size] [--context]
             [--encoding]
    train NAME [--iters N] [--data FILE ...] [--batch-size] [--lr] [--eval-every] [--save-every]
               [--device] [--seed] [--detach]
    stop NAME | generate NAME PROMPT [...] | models [--json] | runs NAME [--json] [--csv RUN OUT]
    export NAME OUT --format weights|bf16|hf | watch NAME
    global: --models-dir DIR (default $SLAVIK_MODELS_DIR, else ./models)
Every user error is one line on stderr and exit code 2. Heavy imports (torch) happen inside
the commands that need them, so `models`, `runs` and the app start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slavik_tui import __version__
from slavik_tui.errors import UserError

PROG = "slavik-tui"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _whole(text: str) -> int:
    """A whole number; its range is checked where the value is used (ModelConfig,
    TrainOptions), so the CLI and the app give the same message."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    common.add_argument("--models-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help="models workspace (default: $SLAVIK_MODELS_DIR, else ./models)")

    parser = OneLineParser(
        prog=PROG, parents=[common],
        description="Train small GPT-style language models on your own text, watch them learn, "
                    "talk to them. Without a command, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    p = sub.add_parser("new", parents=[common], help="create a model from text files")
    p.add_argument("name")
    p.add_argument("--data", action="append", required=True, metavar="FILE",
                   help="a .txt, .jsonl or .csv file (repeat for several)")
    p.add_argument("--d-model", type=_whole, default=256)
    p.add_argument("--layers", type=_whole, default=6)
    p.add_argument("--heads", type=_whole, default=8)
    p.add_argument("--vocab-size", type=_whole, default=8000)
    p.add_argument("--context", type=_whole, default=256)
    p.add_argument("--encoding", help="text encoding of legacy files, e.g. cp1251")
    p.add_argument("--column", help="JSONL field / CSV column with the text (default: text)")

    p = sub.add_parser("train", parents=[common], help="train (or resume) a model")
    p.add_argument("name")
    p.add_argument("--iters", type=_whole, help="new steps to run (default: resume an "
                   "unfinished run, else 1000)")
    p.add_argument("--data", action="append", default=[], metavar="FILE",
                   help="add a dataset before training (keeps the tokenizer)")
    p.add_argument("--encoding")
    p.add_argument("--column")
    p.add_argument("--batch-size", type=_whole)
    p.add_argument("--grad-accum", type=_whole)
    p.add_argument("--lr", type=float)
    p.add_argument("--warmup", type=_whole)
    p.add_argument("--eval-every", type=_whole)
    p.add_argument("--save-every", type=_whole)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", default="auto", help="auto, fp32 or bf16")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--seed", type=_whole)
    p.add_argument("--reward", default="corpus_words",
                   help="reward function: corpus_words, distinct or module:function")
    p.add_argument("--detach", action="store_true",
                   help="run in the background, surviving the terminal; prints the run id")

    p = sub.add_parser("stop", parents=[common], help="stop a model's training gracefully")
    p.add_argument("name")

    p = sub.add_parser("generate", parents=[common], help="stream text from a model")
    p.add_argument("name")
    p.add_argument("prompt")
    p.add_argument("--max-tokens", type=_whole, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=_whole, default=50)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=_whole)
    p.add_argument("--device", default="cpu")

    p = sub.add_parser("models", parents=[common], help="list models")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runs", parents=[common], help="list a model's runs, export one as CSV")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", nargs=2, metavar=("RUN_ID", "OUT.csv"))

    p = sub.add_parser("export", parents=[common], help="export weights (safetensors / HF)")
    p.add_argument("name")
    p.add_argument("out")
    p.add_argument("--format", required=True, choices=["weights", "bf16", "hf"])

    p = sub.add_parser("watch", parents=[common], help="open the app on a model's training chart")
    p.add_argument("name")
    return parser


# ---- commands ------------------------------------------------------------------------------
def _workspace(args):
    from slavik_tui.store.workspace import Workspace, resolve_models_dir

    return Workspace(resolve_models_dir(getattr(args, "models_dir", None)))


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_new(args) -> int:
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.store.workspace import validate_name

    validate_name(args.name)
    cfg = ModelConfig(vocab_size=args.vocab_size, context=args.context, d_model=args.d_model,
                      n_layers=args.layers, n_heads=args.heads)
    ws = _workspace(args)
    if (ws.root / args.name).exists():
        raise UserError(f"model '{args.name}' already exists in {ws.root}; pick another name")
    from slavik_tui.engine.create import create_model

    create_model(ws, args.name, args.data, cfg, args.encoding, args.column, report=_say)
    return 0


TRAIN_FLAGS = ["iters", "batch_size", "grad_accum", "lr", "warmup", "eval_every", "save_every",
               "seed"]


def train_args_for_child(args) -> list[str]:
    """The same train flags, minus --detach, for the detached process."""
    out: list[str] = []
    for key in TRAIN_FLAGS:
        value = getattr(args, key)
        if value is not None:
            out += [f"--{key.replace('_', '-')}", str(value)]
    for path in args.data:
        out += ["--data", str(Path(path).resolve())]
    for key in ("encoding", "column"):
        if getattr(args, key):
            out += [f"--{key}", getattr(args, key)]
    out += ["--device", args.device, "--dtype", args.dtype, "--reward", args.reward]
    if args.compile:
        out.append("--compile")
    return out


def cmd_train(args) -> int:
    ws = _workspace(args)
    model_dir = ws.model_dir(args.name)
    if args.detach:
        from slavik_tui.runs import start_detached

        run = start_detached(ws.root, args.name, train_args_for_child(args))
        print(run.run_id)
        print(f"run {run.run_id} of '{args.name}' is training in the background (pid {run.pid}); "
              f"log: {run.log_path}; watch: {PROG} watch {args.name}; "
              f"stop: {PROG} stop {args.name}", file=sys.stderr)
        return 0
    from slavik_tui.engine.trainer import TrainingFailed, TrainOptions, train

    opts = TrainOptions(
        iters=args.iters, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        warmup=args.warmup, eval_every=args.eval_every, save_every=args.save_every,
        seed=args.seed, device=args.device, dtype=args.dtype, compile=args.compile,
        reward=args.reward, data=args.data, encoding=args.encoding, column=args.column,
    )
    try:
        train(model_dir, opts, report=_say)
    except TrainingFailed as exc:
        print(f"{PROG}: training failed: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_stop(args) -> int:
    from slavik_tui.runs import stop
    from slavik_tui.store.lock import lock_holder

    model_dir = _workspace(args).model_dir(args.name)
    if lock_holder(model_dir):
        print(f"asking the trainer of '{args.name}' to stop (it finishes the step and saves)…",
              file=sys.stderr)
    pid = stop(model_dir)
    print(f"stopped: trainer {pid} of '{args.name}' saved its checkpoint and exited")
    return 0


def cmd_generate(args) -> int:
    ws = _workspace(args)
    model_dir = ws.model_dir(args.name)
    from slavik_tui.engine.checkpoint import load_model
    from slavik_tui.engine.generate import generate

    model, tokenizer, _cfg = load_model(model_dir, device=args.device)
    stream = generate(model, tokenizer, args.prompt, max_tokens=args.max_tokens,
                      temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                      repetition_penalty=args.repetition_penalty, seed=args.seed)
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def cmd_models(args) -> int:
    def row(i) -> list[str]:
        return [i.name, f"{i.size_mb:.1f}", "✓" if i.trained else "", f"{i.params:,}",
                str(i.d_model), str(i.n_layers), str(i.n_heads), str(i.vocab_size),
                str(i.context), str(i.datasets), str(i.steps), _fmt(i.last_loss, ".4f")]

    return _listing(
        _workspace(args).list(), args.json,
        f"no models yet; create one with `{PROG} new NAME --data FILE`",
        ["name", "size MB", "trained", "params", "d_model", "layers", "heads", "vocab",
         "context", "datasets", "steps", "last loss"], row,
    )


def _listing(items: list, as_json: bool, empty: str, header: list[str], row) -> int:
    """Print items as JSON (their to_json_dict) or as an aligned table, or say there are none."""
    if as_json:
        print(json.dumps([i.to_json_dict() for i in items], ensure_ascii=False, indent=2))
    elif not items:
        print(empty)
    else:
        _print_table(header, [row(i) for i in items])
    return 0


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def cmd_runs(args) -> int:
    from slavik_tui.store.history import History

    model_dir = _workspace(args).model_dir(args.name)
    with History(model_dir / "history.sqlite", readonly=True) as history:
        if args.csv:
            run_id, out = args.csv
            try:
                run_id = int(run_id)
            except ValueError:
                raise UserError(f"RUN_ID must be a number like 3, got {run_id!r}") from None
            history.run(run_id)  # a clear error for an unknown id
            history.export_csv(run_id, Path(out))
            print(f"wrote run {run_id} of '{args.name}' to {out}")
            return 0
        runs = history.runs()

    def row(r) -> list[str]:
        started = str(r.to_json_dict().get("started_at") or "")[:19].replace("T", " ")
        last = r.last_step if r.last_step is not None else r.start_step
        return [str(r.id), r.status, started, f"{r.start_step}→{last}",
                _fmt(r.final_loss, ".4f"), _fmt(r.final_val_loss, ".4f"),
                _fmt(r.best_reward, ".3f"), _fmt(r.tok_s, ",.0f")]

    return _listing(
        runs, args.json, f"no runs yet; start one with `{PROG} train {args.name}`",
        ["run", "status", "started (UTC)", "steps", "loss", "val loss", "best reward", "tok/s"],
        row,
    )


def cmd_export(args) -> int:
    model_dir = _workspace(args).model_dir(args.name)
    from slavik_tui.engine.export import export

    path = export(model_dir, Path(args.out), args.format)
    print(f"exported '{args.name}' ({args.format}) to {path or args.out}")
    return 0


def cmd_app(args, watch: str | None = None) -> int:
    from slavik_tui.ui.app import run_app

    ws = _workspace(args)
    if watch is not None:
        ws.model_dir(watch)  # unknown model: one line, before the app opens
    return run_app(ws.root, watch=watch) or 0


COMMANDS = {
    "new": cmd_new, "train": cmd_train, "stop": cmd_stop, "generate": cmd_generate,
    "models": cmd_models, "runs": cmd_runs, "export": cmd_export,
}


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


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
