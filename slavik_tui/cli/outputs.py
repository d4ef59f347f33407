"""`runs`, `export` and `generate`: what comes out of a model (tables, files, text).

Files are written only where `check_output` allows: never inside the models folder, never over
something that is not a regular file, and over an existing file only with `--force`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slavik_tui.cli.common import PROG, workspace
from slavik_tui.cli.models import fmt, listing
from slavik_tui.spec.folder import HISTORY, check_output
from slavik_tui.spec.numbers import parse_whole
from slavik_tui.spec.options import check_device_name


def cmd_runs(args) -> int:
    from slavik_tui.store.history import History

    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    if args.csv:
        run_id = parse_whole(args.csv[0], "RUN_ID")
        out = check_output(args.csv[1], ws.root, args.force, example="run.csv")
    with History(model_dir / HISTORY, readonly=True) as history:
        if args.csv:
            history.run(run_id)  # a clear error for an unknown id
            history.export_csv(run_id, out)
            print(f"wrote run {run_id} of '{args.name}' to {out}")
            return 0
        runs = history.runs()

    def row(r) -> list[str]:
        started = str(r.to_json_dict().get("started_at") or "")[:19].replace("T", " ")
        last = r.last_step if r.last_step is not None else r.start_step
        return [str(r.id), r.status, started, f"{r.start_step}→{last}",
                fmt(r.final_loss, ".4f"), fmt(r.final_val_loss, ".4f"),
                fmt(r.best_reward, ".3f"), fmt(r.tok_s, ",.0f")]

    return listing(
        runs, args.json, f"no runs yet; start one with `{PROG} train {args.name}`",
        ["run", "status", "started (UTC)", "steps", "loss", "val loss", "best reward", "tok/s"],
        row,
    )


def cmd_export(args) -> int:
    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    out = check_output(args.out, ws.root, args.force, folder=args.format == "hf")
    from slavik_tui.engine.export import export

    quant = getattr(args, "quant", "f16")
    path = export(model_dir, Path(out), args.format, quant=quant)
    what = f"{args.format}, {quant}" if args.format == "gguf" else args.format
    print(f"exported '{args.name}' ({what}) to {path or out}")
    return 0


def cmd_generate(args) -> int:
    check_device_name(args.device)  # a typo is one line before torch is imported
    model_dir = workspace(args).model_dir(args.name)
    from slavik_tui.engine.checkpoint import load_model
    from slavik_tui.engine.generate import GenerationStats, generate

    model, tokenizer, _cfg = load_model(model_dir, device=args.device)
    stats = GenerationStats() if getattr(args, "stats", False) else None
    stream = generate(model, tokenizer, args.prompt, max_tokens=args.max_tokens,
                      temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                      repetition_penalty=args.repetition_penalty, seed=args.seed, stats=stats,
                      quantize=args.quantize)
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    if stats is not None:
        sys.stdout.flush()
        print(stats.line(), file=sys.stderr)
    return 0
