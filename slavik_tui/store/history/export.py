"""CSV exports of a history: one run as a wide table, several runs side by side in long format.

Both stream their lines into one atomic write: rows are formatted a chunk at a time from numpy
columns, never built as one string, whatever the run's size.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from slavik_tui.atomic import atomic_write_lines
from slavik_tui.errors import UserError
from slavik_tui.store.history.schema import CSV_COLUMNS, EVAL_METRICS, STEP_METRICS, np

if TYPE_CHECKING:
    from slavik_tui.store.history import History

_CSV_CHUNK = 65536  # rows formatted at a time: exports stream, whatever the run's size


def _fmt_floats(arr: Any) -> list[str]:
    """Round-trip text for each value (repr), '' for NaN."""
    return ["" if v != v else repr(v) for v in arr.tolist()]


def _fmt_ints(arr: Any) -> list[str]:
    return [str(v) for v in arr.tolist()]


def _fmt_rows(cols: dict[str, Any], idx: Any, template: str, names: tuple[str, ...]) -> list[str]:
    """`template` filled with the columns `names` (step: int, the rest: float) of rows `idx`."""
    fields = [(_fmt_ints if n == "step" else _fmt_floats)(cols[n][idx]) for n in names]
    return [template.format(*row) for row in zip(*fields)]


def _merged_lines(order: Any, n_first: int, first: Callable, second: Callable) -> Iterator[str]:
    """Lines in `order` over two tables laid end to end (index < n_first: the first),
    formatted _CSV_CHUNK rows at a time by `first(idx)` / `second(idx)`."""
    for lo in range(0, len(order), _CSV_CHUNK):
        idx = order[lo:lo + _CSV_CHUNK]
        in_first = idx < n_first
        out: list[str] = [""] * len(idx)
        for pos, line in zip(np.flatnonzero(in_first).tolist(), first(idx[in_first])):
            out[pos] = line
        for pos, line in zip(np.flatnonzero(~in_first).tolist(),
                             second(idx[~in_first] - n_first)):
            out[pos] = line
        yield "".join(out)


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(
            f"cannot write {path}: folder {path.parent} does not exist; "
            "create it or pick another path"
        )
    atomic_write_lines(path, lines)


def export_run_csv(history: "History", run_id: int, path: str | os.PathLike) -> None:
    """Every step and eval row of a run (superseded ones too) as one wide UTF-8 table:
    kind,step,t,loss,lr,grad_norm,tok_s,val_loss,val_bpb,reward,size_mb — ordered by
    step, then kind ('eval' before 'step'); empty cells where a column does not apply."""
    s = history.run_steps(run_id)
    e = history.evals_arrays(run_id, include_superseded=True)
    n_evals = len(e["id"])
    kind = np.r_[np.zeros(n_evals, "<i8"), np.ones(len(s["id"]), "<i8")]
    order = np.lexsort((np.r_[e["id"], s["id"]], kind, np.r_[e["step"], s["step"]]))
    step_tpl = "step,{},{},{},{},{},{}" + "," * len(EVAL_METRICS) + "\n"
    eval_tpl = "eval,{},{}" + "," * len(STEP_METRICS) + ",{},{},{},{}\n"
    lines = _merged_lines(
        order, n_evals,
        lambda idx: _fmt_rows(e, idx, eval_tpl, ("step", "t") + EVAL_METRICS),
        lambda idx: _fmt_rows(s, idx, step_tpl, ("step", "t") + STEP_METRICS),
    )
    _write_lines(path, itertools.chain([",".join(CSV_COLUMNS) + "\n"], lines))


def export_compare_csv(
    items: list[tuple[str, "History", int]], path: str | os.PathLike
) -> None:
    """Several runs (of one or more models) in long format: model,run,step,metric,value —
    one line per non-NaN value, in the order of `items`, then step, then metric
    (loss, lr, grad_norm, tok_s, val_loss, val_bpb, reward, size_mb)."""
    metrics = STEP_METRICS + EVAL_METRICS
    chunks: list[str] = ["model,run,step,metric,value\n"]
    for model_name, history, run_id in items:
        s = history.run_steps(run_id)
        e = history.evals_arrays(run_id, include_superseded=True)
        prefix = f"{_csv_field(str(model_name))},{int(run_id)},"
        keys_step, keys_metric, keys_id, lines = [], [], [], []
        for m_index, metric in enumerate(metrics):
            src = s if metric in STEP_METRICS else e
            values = src[metric]
            ok = ~np.isnan(values)
            steps = src["step"][ok]
            keys_step.append(steps)
            keys_metric.append(np.full(len(steps), m_index, "<i8"))
            keys_id.append(src["id"][ok])
            lines.extend(
                f"{prefix}{st},{metric},{v!r}\n"
                for st, v in zip(steps.tolist(), values[ok].tolist())
            )
        order = np.lexsort((np.concatenate(keys_id), np.concatenate(keys_metric),
                            np.concatenate(keys_step)))
        chunks.extend(lines[i] for i in order.tolist())
    _write_lines(path, chunks)
