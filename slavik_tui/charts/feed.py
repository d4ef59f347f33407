"""Feeding a chart from a model's `history.sqlite`: whole curves and live tails.

Pure data code (numpy + store): no widget is created or imported here, the chart is passed in
and only its `append(key, steps, times, values)` is called, so this runs in unit tests without
an app. The screens do the rest:

* `fill_chart(chart, History.steps_arrays(), History.evals_arrays())` — a whole curve at once;
* `slavik_tui.runs.watch.RunFollower(history_path).load_all()` then `.poll()` every ~0.5 s —
  only the rows written since the last poll (by rowid), handed to
  `append_rows(chart, steps_rows, evals_rows)`.

Series keys are those of `charts.training.training_series(run)`: "loss" (train loss, per
step) and "val_loss", "reward", "size_mb" (per eval); with `run` they read "<run>:loss" and so
on. The named metrics of the history's metrics table that the chart draws (`rewards/NAME`,
`gpu/NAME`: `training.metric_series`) come through `fill_metrics(chart,
History.metrics_arrays(run_id), steps_arrays)` and `append_metric_rows(chart,
History.new_metrics(last_id))`; their series are added to the chart on first sight, as
"extra" series the extras key shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from slavik_tui.charts.training import metric_series, series_key
from slavik_tui.store.history import EVAL_FIELDS, STEP_FIELDS

__all__ = [
    "EVAL_SERIES",
    "STEP_SERIES",
    "append_rows",
    "fill_chart",
    "series_key",
]

STEP_SERIES: tuple[str, ...] = ("loss",)
"""Steps columns drawn as series (the key is the column name)."""
EVAL_SERIES: tuple[str, ...] = ("val_loss", "reward", "size_mb")
"""Evals columns drawn as series."""

_STEP_INDEX = {name: i for i, name in enumerate(STEP_FIELDS)}
_EVAL_INDEX = {name: i for i, name in enumerate(EVAL_FIELDS)}


class _Chart(Protocol):  # what feed needs of MetricsChart
    def append(self, key: str, steps: Any, times: Any, values: Any) -> None: ...


class _GrowingChart(_Chart, Protocol):  # and for the named metrics
    def has_series(self, key: str) -> bool: ...

    def add_series(self, series: Any) -> Any: ...


def _append_columns(
    chart: _Chart, step: np.ndarray, t: np.ndarray, values: np.ndarray, key: str
) -> None:
    values = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(values)
    if not ok.any():
        return
    if not ok.all():
        step, t, values = step[ok], t[ok], values[ok]
    chart.append(key, np.asarray(step, np.float64), np.asarray(t, np.float64), values)


def fill_chart(
    chart: _Chart,
    steps: dict[str, np.ndarray],
    evals: dict[str, np.ndarray],
    run: str = "",
) -> None:
    """Append a run's (or a model's whole) arrays, as `History.steps_arrays()` /
    `evals_arrays()` return them, to the chart's series of `run`: x = step, time = t (unix
    seconds). NaN values are skipped (a diverged loss shows as a gap, not a spike to nowhere).
    Missing columns are ignored, so a partial dict is fine."""
    for metric in STEP_SERIES:
        if metric in steps and len(steps[metric]):
            _append_columns(chart, steps["step"], steps["t"], steps[metric],
                            series_key(metric, run))
    for metric in EVAL_SERIES:
        if metric in evals and len(evals[metric]):
            _append_columns(chart, evals["step"], evals["t"], evals[metric],
                            series_key(metric, run))


def _rows_to_columns(rows: Sequence[tuple], index: dict[str, int],
                     names: Sequence[str]) -> dict[str, np.ndarray]:
    """Rows from `new_steps` / `new_evals` (None for NaN) -> float columns step, t, *names."""
    cols: dict[str, np.ndarray] = {}
    for name in ("step", "t", *names):
        i = index[name]
        cols[name] = np.fromiter(
            (np.nan if r[i] is None else r[i] for r in rows), np.float64, len(rows)
        )
    return cols


def append_rows(
    chart: _Chart,
    steps_rows: Sequence[tuple],
    evals_rows: Sequence[tuple],
    run: str = "",
) -> None:
    """Append rows as `RunFollower.poll()` (`History.new_steps` / `new_evals`) returns them."""
    if steps_rows:
        fill_chart(chart, _rows_to_columns(steps_rows, _STEP_INDEX, STEP_SERIES), {}, run)
    if evals_rows:
        fill_chart(chart, {}, _rows_to_columns(evals_rows, _EVAL_INDEX, EVAL_SERIES), run)


def _metric_key(chart: _GrowingChart, name: str, run: str, color: Any) -> str | None:
    """The chart key of metric `name`, its series added on first sight; None: not drawn."""
    series = metric_series(name, run, color)
    if series is None:
        return None
    if not chart.has_series(series.key):
        chart.add_series(series)
    return series.key


def fill_metrics(
    chart: _GrowingChart,
    metrics: dict[str, tuple[np.ndarray, np.ndarray]],
    steps: dict[str, np.ndarray] | None = None,
    run: str = "",
    color: Any = None,
) -> None:
    """Append `History.metrics_arrays()` ({name: (steps, values)}) to the chart's extra
    series of `run`. That table has no times: they are read off the run's `steps` arrays
    (its step → t, interpolated; without steps the step stands in for the time)."""
    st = (steps or {}).get("step")
    tt = (steps or {}).get("t")
    have_t = st is not None and tt is not None and len(st) > 0
    for name, (m_steps, values) in metrics.items():
        if not len(m_steps):
            continue
        key = _metric_key(chart, name, run, color)
        if key is None:
            continue
        x = np.asarray(m_steps, np.float64)
        t = np.interp(x, np.asarray(st, np.float64), np.asarray(tt, np.float64)) if have_t \
            else x.copy()
        _append_columns(chart, x, t, np.asarray(values, np.float64), key)


def append_metric_rows(chart: _GrowingChart, rows: Sequence[tuple], run: str = "",
                       color: Any = None) -> None:
    """Append `History.new_metrics()` rows, (id, run_id, step, t, name, value) tuples."""
    by_name: dict[str, list[tuple]] = {}
    for row in rows:
        by_name.setdefault(row[4], []).append(row)
    for name, group in by_name.items():
        key = _metric_key(chart, name, run, color)
        if key is None:
            continue
        cols = np.array([[r[2], r[3], np.nan if r[5] is None else r[5]] for r in group],
                        dtype=np.float64)
        _append_columns(chart, cols[:, 0], cols[:, 1], cols[:, 2], key)
