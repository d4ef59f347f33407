"""CSV exports of a history: one run as a wide table, several runs side by side in long format.

Both stream their lines into one atomic write: rows are formatted a chunk at a time from numpy
columns, never built as one string, whatever the run's size.
"""

from __future__ import annotations

import itertools
import math
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


def _merged_lines(order: Any, bounds: list[int], formatters: list[Callable]) -> Iterator[str]:
    """Lines in `order` over tables laid end to end (table k holds the indexes
    bounds[k]..bounds[k+1]), formatted _CSV_CHUNK rows at a time by `formatters[k](idx)`."""
    for lo in range(0, len(order), _CSV_CHUNK):
        idx = order[lo:lo + _CSV_CHUNK]
        table = np.searchsorted(np.asarray(bounds[1:]), idx, side="right")
        out: list[str] = [""] * len(idx)
        for k, fmt in enumerate(formatters):
            mine = table == k
            for pos, line in zip(np.flatnonzero(mine).tolist(), fmt(idx[mine] - bounds[k])):
                out[pos] = line
        yield "".join(out)


def csv_name(name: str) -> str:
    """A metric's name in an export: as it is, or `metric:NAME` where it would read as one of
    the fixed columns (an RL stage's own per-step `loss` or `reward`)."""
    return f"metric:{name}" if name in CSV_COLUMNS else name


def metric_columns(rows: list[tuple]) -> tuple[list[str], dict[str, Any]]:
    """A run's metrics rows (id, step, t, name, value) as one wide row per logged group — the
    values one `log_metrics` call wrote share step and t — in columns id, step, t and one per
    name (sorted; NaN where a group has no value). Returns (names, columns)."""
    names = sorted({r[3] for r in rows})
    col = {name: j for j, name in enumerate(names)}
    groups: dict[tuple, int] = {}
    ids, steps, times, cells = [], [], [], []
    for rid, step, t, name, value in rows:
        g = groups.setdefault((step, t), len(groups))
        if g == len(ids):
            ids.append(rid)
            steps.append(step)
            times.append(t)
            cells.append([math.nan] * len(names))
        cells[g][col[name]] = math.nan if value is None else value
    values = np.asarray(cells, "<f8").reshape(len(ids), len(names))
    cols: dict[str, Any] = {"id": np.asarray(ids, "<i8"), "step": np.asarray(steps, "<i8"),
                            "t": np.asarray(times, "<f8")}
    for j, name in enumerate(names):
        cols[name] = values[:, j]
    return names, cols


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
    """Every step, eval and metrics row of a run (superseded ones too) as one wide UTF-8
    table: kind,step,t,loss,lr,grad_norm,tok_s,val_loss,val_bpb,reward,size_mb, then one
    column per metric name the run logged (sorted) — ordered by step, then kind ('eval',
    'metric', 'step'); empty cells where a column does not apply. A 'metric' line holds the
    values one `log_metrics` call wrote."""
    s = history.run_steps(run_id)
    e = history.evals_arrays(run_id, include_superseded=True)
    names, m = metric_columns(history.run_metric_rows(run_id))
    sizes = [len(e["id"]), len(m["id"]), len(s["id"])]
    bounds = [0, sizes[0], sizes[0] + sizes[1], sum(sizes)]
    kind = np.repeat(np.arange(3, dtype="<i8"), sizes)
    order = np.lexsort((np.r_[e["id"], m["id"], s["id"]], kind,
                        np.r_[e["step"], m["step"], s["step"]]))
    extra = "," * len(names)
    step_tpl = "step,{},{},{},{},{},{}" + "," * len(EVAL_METRICS) + extra + "\n"
    eval_tpl = "eval,{},{}" + "," * len(STEP_METRICS) + ",{},{},{},{}" + extra + "\n"
    metric_tpl = "metric,{},{}" + "," * (len(STEP_METRICS) + len(EVAL_METRICS)) + \
        ",{}" * len(names) + "\n"
    lines = _merged_lines(order, bounds, [
        lambda idx: _fmt_rows(e, idx, eval_tpl, ("step", "t") + EVAL_METRICS),
        lambda idx: _fmt_rows(m, idx, metric_tpl, ("step", "t", *names)),
        lambda idx: _fmt_rows(s, idx, step_tpl, ("step", "t") + STEP_METRICS),
    ])
    header = ",".join(CSV_COLUMNS + tuple(_csv_field(csv_name(n)) for n in names)) + "\n"
    _write_lines(path, itertools.chain([header], lines))


def export_compare_csv(
    items: list[tuple[str, "History", int]], path: str | os.PathLike
) -> None:
    """Several runs (of one or more models) in long format: model,run,step,metric,value —
    one line per non-NaN value, in the order of `items`, then step, then metric
    (loss, lr, grad_norm, tok_s, val_loss, val_bpb, reward, size_mb, then the run's named
    metrics sorted by name, written as `csv_name` gives them)."""
    fixed = STEP_METRICS + EVAL_METRICS
    chunks: list[str] = ["model,run,step,metric,value\n"]
    for model_name, history, run_id in items:
        s = history.run_steps(run_id)
        e = history.evals_arrays(run_id, include_superseded=True)
        names, m = metric_columns(history.run_metric_rows(run_id))
        prefix = f"{_csv_field(str(model_name))},{int(run_id)},"
        keys_step, keys_metric, keys_id, lines = [], [], [], []
        for m_index, metric in enumerate(fixed + tuple(names)):
            src = m if m_index >= len(fixed) else s if metric in STEP_METRICS else e
            values = src[metric]
            ok = ~np.isnan(values)
            steps = src["step"][ok]
            keys_step.append(steps)
            keys_metric.append(np.full(len(steps), m_index, "<i8"))
            keys_id.append(src["id"][ok])
            label = metric if m_index < len(fixed) else _csv_field(csv_name(metric))
            lines.extend(
                f"{prefix}{st},{label},{v!r}\n"
                for st, v in zip(steps.tolist(), values[ok].tolist())
            )
        order = np.lexsort((np.concatenate(keys_id), np.concatenate(keys_metric),
                            np.concatenate(keys_step)))
        chunks.extend(lines[i] for i in order.tolist())
    _write_lines(path, chunks)
