"""Named series of a run: the long, narrow `metrics` table (schema version 2).

Anything a stage measures beyond the fixed columns of `steps` and `evals` is a named value at a
step: `rewards/chrf` and `reward_std` at each eval, `gpu/util` beside it, RL's `kl`, `entropy`,
`loss` per step. One row per value, so a new series needs no new column:

    history.log_metrics(run_id, step, t, {"rewards/chrf": 0.31, "reward_std": 0.05})
    history.metric_names(run_id)                  # ["reward_std", "rewards/chrf"]
    history.metrics_arrays(run_id)                # {"rewards/chrf": (steps, values), ...}
    history.new_metrics(after_id)                 # pollers: rows with id > the last seen

Values are floats; NaN (and None) are stored as NULL and read back as NaN, like the other
tables. Names are short printable text (`check_metric_name`). A version-1 file opened
read-only has no table yet: every reader here answers as for a run without metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from slavik_tui.errors import UserError
from slavik_tui.store.history.connection import HistoryFile, locked
from slavik_tui.store.history.schema import INSERT_METRIC, METRIC_FIELDS, np

MAX_NAME = 96  # characters: a CSV column header and a chart legend entry


def check_metric_name(name: object) -> str:
    """`name` if it can name a series (1..MAX_NAME printable characters, no space at either
    end), else a one-line UserError."""
    if not isinstance(name, str) or not name:
        raise UserError(f"a metric name must be non-empty text, got {name!r}")
    if len(name) > MAX_NAME:
        raise UserError(
            f"metric name '{name[:40]}…' has {len(name)} characters; at most {MAX_NAME} fit "
            "a chart's legend and a CSV header: use a shorter name"
        )
    if not name.isprintable() or name != name.strip():
        raise UserError(
            f"metric name {name!r} has control characters or spaces at its ends; "
            "use printable text such as 'rewards/chrf'"
        )
    return name


def _value(name: str, v: Any) -> float | None:
    """A storable value: float, or None for None/NaN (numpy and torch scalars included)."""
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r}: {v!r} is not a number") from None
    return None if math.isnan(x) else x


class Metrics(HistoryFile):
    """Writing and reading the `metrics` table (History mixes this in)."""

    def _metrics_reader(self):
        """The connection if the file has a metrics table, else None (no history yet, or a
        version-1 file that no writer has upgraded: re-checked each call, cheaply)."""
        conn = self._reader()
        if conn is None:
            return None
        if self.version < 2:
            self._check_version()
            if self.version < 2:
                return None
        return conn

    @locked
    def log_metrics(self, run_id: int, step: int, t: float,
                    values: Mapping[str, Any]) -> None:
        """Append one value per name at `step` in one transaction (nothing when empty)."""
        rows = [(int(run_id), int(step), float(t), check_metric_name(name), _value(name, v))
                for name, v in values.items()]
        if not rows:
            return
        with self._tx() as conn:
            conn.executemany(INSERT_METRIC, rows)

    @locked
    def metric_names(self, run_id: int | None = None) -> list[str]:
        """The names a run (None: any run) has values for, sorted."""
        conn = self._metrics_reader()
        if conn is None:
            return []
        if run_id is None:
            rows = conn.execute("SELECT DISTINCT name FROM metrics")
        else:
            rows = conn.execute("SELECT DISTINCT name FROM metrics WHERE run_id = ?",
                                (int(run_id),))
        return sorted(name for (name,) in rows)

    @locked
    def metrics_arrays(
        self, run_id: int | None = None, names: Iterable[str] | None = None,
        include_superseded: bool = False,
    ) -> dict[str, tuple[Any, Any]]:
        """{name: (steps int64, values float64)} ordered by step (then row id), NaN where
        NULL. run_id=None: the model's whole curve (every run, superseded rows hidden unless
        asked). `names` picks series; one that has no rows comes back as two empty arrays."""
        conn = self._metrics_reader()
        wanted = None if names is None else list(dict.fromkeys(names))
        empty = (np.empty(0, "<i8"), np.empty(0, "<f8"))
        if conn is None:
            return {} if wanted is None else {n: empty for n in wanted}
        dtype = np.dtype([("step", "<i8"), ("value", "<f8")])
        where, args = ["name = ?"], []
        if run_id is not None:
            where.insert(0, "run_id = ?")
            args.append(int(run_id))
        if not include_superseded:
            where.append("superseded = 0")
        sql = ("SELECT step, ifnull(value, 'nan') FROM metrics WHERE " + " AND ".join(where)
               + " ORDER BY step, id")
        out: dict[str, tuple[Any, Any]] = {}
        with self._snapshot():
            if wanted is None:
                if run_id is None:
                    found = conn.execute("SELECT DISTINCT name FROM metrics")
                else:
                    found = conn.execute("SELECT DISTINCT name FROM metrics WHERE run_id = ?",
                                         (int(run_id),))
                wanted = sorted(name for (name,) in found)
            for name in wanted:
                arr = np.fromiter(conn.execute(sql, (*args, name)), dtype)
                out[name] = (arr["step"].copy(), arr["value"].copy())
        return out

    @locked
    def new_metrics(
        self, after_rowid: int, run_id: int | None = None, include_superseded: bool = False,
        limit: int | None = None,
    ) -> list[tuple]:
        """Metrics rows with id > after_rowid, ordered by id, as (id, run_id, step, t, name,
        value) tuples (None for NaN); pollers keep the last id they got, as with new_steps."""
        if self._metrics_reader() is None:
            return []
        return self._new_rows("metrics", METRIC_FIELDS, after_rowid, run_id,
                              include_superseded, limit)

    @locked
    def run_metric_rows(self, run_id: int) -> list[tuple]:
        """Every metrics row of a run, superseded ones too, ordered by id, as (id, step, t,
        name, value) tuples (what the exports write)."""
        conn = self._metrics_reader()
        if conn is None:
            return []
        return conn.execute(
            "SELECT id, step, t, name, value FROM metrics WHERE run_id = ? ORDER BY id",
            (int(run_id),),
        ).fetchall()
