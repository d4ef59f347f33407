"""`models`, `delete` and `rename`: the models folder as a list, and changing it.

`delete` and `rename` are the app's own operations (`Workspace.delete` / `rename`), with the
same refusals: never while a trainer holds the model.
"""

from __future__ import annotations

import json
import sys

from slavik_tui.cli.common import PROG, note, workspace
from slavik_tui.errors import UserError


def fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def listing(items: list, as_json: bool, empty: str, header: list[str], row,
            extra_json: list[dict] = ()) -> int:
    """Print items as JSON (their to_json_dict, then `extra_json`) or as an aligned table, or
    say there are none."""
    if as_json:
        entries = [i.to_json_dict() for i in items] + list(extra_json)
        print(json.dumps(entries, ensure_ascii=False, indent=2))
    elif not items:
        print(empty)
    else:
        print_table(header, [row(i) for i in items])
    return 0


def cmd_models(args) -> int:
    damaged: list[tuple[str, str]] = []
    models = workspace(args).list(errors=damaged)

    def row(i) -> list[str]:
        # "size MB" is the checkpoint a user would download (weights + optimizer state), the
        # figure the app's list and the chart's green line show; the history beside it.
        size = "—" if i.checkpoint_mb is None else f"{i.checkpoint_mb:.2f}"
        return [i.name, size, f"{i.history_mb:.2f}", "✓" if i.trained else "", f"{i.params:,}",
                str(i.d_model), str(i.n_layers), str(i.n_heads), str(i.vocab_size),
                str(i.context), str(i.datasets), str(i.steps), fmt(i.last_loss, ".4f")]

    # A damaged model is never hidden: a line on stderr (the table stays parseable), and in
    # --json an entry that says what is wrong (a listed model's own damaged files are in its
    # entry's "problems").
    for name, error in damaged:
        note(f"{PROG}: damaged model '{name}': {error}")
    listed = {i.name for i in models}
    unlisted = [{"name": name, "damaged": True, "error": error}
                for name, error in damaged if name not in listed]
    empty = ("no working models; see the lines above" if unlisted
             else f"no models yet; create one with `{PROG} new NAME --data FILE`")
    return listing(
        models, args.json, empty,
        ["name", "size MB", "history MB", "trained", "params", "d_model", "layers", "heads", "vocab",
         "context", "datasets", "steps", "last loss"], row, extra_json=unlisted,
    )


def cmd_delete(args) -> int:
    ws = workspace(args)
    path = ws.model_dir(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"deleting '{path.name}' removes its weights, history and charts for "
                            f"good; confirm with `{PROG} delete {path.name} --yes`")
        print(f"Delete model '{path.name}' ({path}) with its weights, history and charts? "
              "[y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            note(f"kept '{path.name}'")
            return 1
    ws.delete(path.name)
    print(f"deleted model '{path.name}'")
    return 0


def cmd_rename(args) -> int:
    path = workspace(args).rename(args.old, args.new)
    print(f"renamed model '{args.old}' to '{path.name}'")
    return 0
