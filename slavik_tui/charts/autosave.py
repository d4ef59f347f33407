"""Autosave of an ended run: `models/NAME/charts/run-<id>.svg` (its chart) and `run-<id>.csv`
(every step and eval row, as `slavik-tui runs NAME --csv` writes it).

The trainer calls this when a run ends (finished, stopped or failed), as a separate process —
`python -m slavik_tui.charts MODEL_DIR RUN_ID`, fire and forget — because the engine sits
below the charts layer and never imports it (nor waits for a chart). The SVG is the vector
chart ctrl+s and the run report write (`svg.run_chart_svg`: lines from the data, both axes
with their units, legend, title; numpy and string building, imported inside
`svg.run_chart_svg`), not the terminal picture of the chart it once was (dots over the right
axis' numbers, "MB" clipped to "ME", the title twice); the CSV is every row, as before.

`main()` never raises to its caller: an error is one line on stderr and exit status 1.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Sequence

from slavik_tui.atomic import atomic_write_text
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.history import History, RunInfo


def chart_paths(model_dir: str | Path, run_id: int) -> tuple[Path, Path]:
    """Where a run's chart goes: (charts/run-<id>.svg, charts/run-<id>.csv)."""
    folder = Path(model_dir) / "charts"
    return folder / f"run-{int(run_id)}.svg", folder / f"run-{int(run_id)}.csv"


def run_title(model: str, run: RunInfo) -> str:
    """'tiny · run 3 · finished · steps 0→200 · 2025-03-01 12:00' (chart and SVG title)."""
    started = _dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M")
    last = run.last_step if run.last_step is not None else run.start_step
    return (f"{model} · run {run.id} · {run.status} · steps {run.start_step or 0}→{last} · "
            f"{started}")


def autosave_run(model_dir: str | Path, run_id: int) -> tuple[Path, Path]:
    """Write charts/run-<id>.svg and charts/run-<id>.csv of a run; returns (svg, csv).
    Raises UserError for a model without a history or an unknown run."""
    from slavik_tui.charts.svg import run_chart_svg

    model_dir = Path(model_dir)
    path = model_dir / "history.sqlite"
    if not path.is_file():
        raise UserError(f"{model_dir} has no history.sqlite; is it a model folder?")
    svg_path, csv_path = chart_paths(model_dir, run_id)
    ModelFolder(model_dir).inner_dir(svg_path.parent)  # a linked charts/ is refused
    with History(path, readonly=True) as history:
        run = history.run(int(run_id))
        steps = history.steps_arrays(run.id, include_superseded=True)
        evals = history.evals_arrays(run.id, include_superseded=True)
        # The picture first: it takes a fraction of a second even for 1e6 steps, the CSV of
        # those takes ~20 s (one formatted line per row).
        atomic_write_text(svg_path, run_chart_svg(steps, evals, run_title(model_dir.name, run)))
        del steps, evals
        history.export_csv(run.id, csv_path)
    return svg_path, csv_path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m slavik_tui.charts MODEL_DIR RUN_ID`: 0 and the two paths on stdout, or 1 and
    one line on stderr. Never raises."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != 2:
            raise UserError("usage: python -m slavik_tui.charts MODEL_DIR RUN_ID")
        try:
            run_id = int(args[1])
        except ValueError:
            raise UserError(f"RUN_ID must be a number like 3, got {args[1]!r}") from None
        svg, csv_path = autosave_run(args[0], run_id)
    except Exception as exc:  # noqa: BLE001 - fire-and-forget: report, never raise
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        print(f"slavik-tui charts: error: {message}", file=sys.stderr)
        return 1
    print(f"{svg}\n{csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
