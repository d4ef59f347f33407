"""Feeding a `MetricsChart` from a model's `history.sqlite`: whole curves and live tails.

Pure data code (numpy + store): no widget is created or imported here, the chart is passed in
and only its `append(key, steps, times, values)` is called, so this runs in unit tests without
an app. The screens do the rest:

* `fill_chart(chart, History.steps_arrays(), History.evals_arrays())` — a whole curve at once;
* `RunFollower(history_path).load_all()` then `.poll()` every ~0.5 s — only the rows written
  since the last poll (by rowid), handed to `append_rows(chart, steps_rows, evals_rows)`.

Series keys are those of `training_series(run)`: "loss" (train loss, per step) and
"val_loss", "reward", "size_mb" (per eval); with `run` they read "<run>:loss" and so on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from slavik_tui.store.history import EVAL_FIELDS, STEP_FIELDS, History

__all__ = [
    "EVAL_SERIES",
    "STEP_SERIES",
    "RunFollower",
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


def series_key(metric: str, run: str = "") -> str:
    """The chart key of `metric` for `run` (as `training_series(run)` names it)."""
    return f"{run}:{metric}" if run else metric


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


class RunFollower:
    """Reads what a trainer appends to `history_path`, a poll at a time.

    `run_id` None follows every run of the model (the model's curve: superseded rows hidden);
    an id follows that run only. The history is opened read-only on first use; a file that does
    not exist yet (a model never trained) reads as empty until the trainer creates it.
    Not thread-safe by itself: use one follower from one thread (or worker) at a time.
    """

    def __init__(self, history_path: str | os.PathLike, run_id: int | None = None) -> None:
        self.path = Path(history_path)
        self.run_id = run_id
        self.last_step_id = 0
        """Rowid of the newest steps row handed out so far."""
        self.last_eval_id = 0
        self._history: History | None = None

    @property
    def history(self) -> History:
        """The read-only History (opened lazily; a missing file reads as empty)."""
        if self._history is None:
            self._history = History(self.path, readonly=True)
        return self._history

    def load_all(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Everything so far as arrays (ordered by step), and position the poll after it."""
        history = self.history
        steps = history.steps_arrays(self.run_id)
        evals = history.evals_arrays(self.run_id)
        if len(steps["id"]):
            self.last_step_id = max(self.last_step_id, int(steps["id"].max()))
        if len(evals["id"]):
            self.last_eval_id = max(self.last_eval_id, int(evals["id"].max()))
        return steps, evals

    def poll(self, limit: int | None = None) -> tuple[list[tuple], list[tuple]]:
        """(steps rows, evals rows) written since the last poll, each ordered by rowid, as
        `History.new_steps` / `new_evals` tuples. `limit` caps each list (the rest comes
        next time)."""
        history = self.history
        steps = history.new_steps(self.last_step_id, self.run_id, limit=limit)
        evals = history.new_evals(self.last_eval_id, self.run_id, limit=limit)
        if steps:
            self.last_step_id = int(steps[-1][0])
        if evals:
            self.last_eval_id = int(evals[-1][0])
        return steps, evals

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None
