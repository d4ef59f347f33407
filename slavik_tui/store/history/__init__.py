"""Metrics history of one model: `models/<name>/history.sqlite`.

One job per module:

    schema.py      tables, versions, row layouts (numpy dtypes), field lists, shared SQL
    connection.py  opening the file (writer / read-only), transactions, damaged-file errors
    writer.py      runs and rows written; supersede, reap, delete; packing into step_blocks
    readers.py     columns of runs, new rows for pollers, run summaries, the last loss
    metrics.py     named series (`rewards/chrf`, `gpu/util`, `kl`): written, read, polled
    summary.py     RunInfo and the per-run statistics behind it
    export.py      CSV of one run, comparison CSV of several

`History` is the one class callers use: the writer and the readers over one connection.
"""

from __future__ import annotations

import os

from slavik_tui.store.history.export import export_compare_csv, export_run_csv
from slavik_tui.store.history.metrics import MAX_NAME, Metrics, check_metric_name
from slavik_tui.store.history.readers import Readers
from slavik_tui.store.history.schema import (
    BUSY_TIMEOUT_MS, CSV_COLUMNS, EVAL_FIELDS, EVAL_METRICS, METRIC_FIELDS, RUN_STATUSES,
    SCHEMA_VERSION, STEP_FIELDS, STEP_METRICS, eval_dtype, step_dtype,
)
from slavik_tui.store.history.summary import RunInfo
from slavik_tui.store.history.writer import Writer

__all__ = [
    "BUSY_TIMEOUT_MS", "CSV_COLUMNS", "EVAL_FIELDS", "EVAL_METRICS", "History", "MAX_NAME",
    "METRIC_FIELDS", "RUN_STATUSES", "RunInfo", "SCHEMA_VERSION", "STEP_FIELDS", "STEP_METRICS",
    "check_metric_name", "eval_dtype", "export_compare_csv", "export_run_csv", "step_dtype",
]


class History(Writer, Readers, Metrics):
    """`history.sqlite` of one model. `readonly=True` for viewers (a missing file reads as an
    empty history and is picked up once the trainer creates it)."""

    def export_csv(self, run_id: int, path: str | os.PathLike) -> None:
        """Every row of a run as one wide CSV table (see `export_run_csv`)."""
        export_run_csv(self, run_id, path)

    def __enter__(self) -> "History":
        return self
