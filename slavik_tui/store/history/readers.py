"""Reading a history: whole runs as numpy columns (packed blocks + the unpacked tail), the rows
a poller has not seen yet, run summaries, and the model's last loss for the models list."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from slavik_tui.store.history.connection import HistoryFile, locked
from slavik_tui.store.history.schema import (
    EVAL_FIELDS, EVAL_SELECT, STEP_FIELDS, STEP_SELECT, died_reason, empty_columns, eval_dtype,
    np, step_dtype,
)
from slavik_tui.store.history.summary import NO_EVALS, NO_STEPS, RunInfo, eval_stats, step_stats
from slavik_tui.store.lock import pid_alive


class Readers(HistoryFile):
    """What the UI, the CLI and the chart autosaver read (the writer may read too)."""

    # ---- columns ----------------------------------------------------------------------------
    def _load_steps(
        self, run_ids: list[int] | None, include_superseded: bool,
        fields: tuple[str, ...] = STEP_FIELDS,
    ) -> dict[str, Any]:
        """Steps rows of the given runs (None: all), ordered by id, from blocks + tail;
        `fields` picks the columns to decode (id and run_id always come along)."""
        wanted = {"id", "run_id", *fields}
        conn = self._reader()
        if conn is None:
            return {k: v for k, v in empty_columns(step_dtype()).items() if k in wanted}
        single = run_ids[0] if run_ids is not None and len(run_ids) == 1 else None
        with self._snapshot():
            if run_ids is None:
                blocks = conn.execute("SELECT n, data FROM step_blocks ORDER BY last_id").fetchall()
            else:
                blocks = conn.execute(
                    "SELECT n, data FROM step_blocks WHERE run_hi >= ? AND run_lo <= ? "
                    "ORDER BY last_id", (min(run_ids), max(run_ids)),
                ).fetchall()
            covered = self._covered()
            if single is not None:  # `+run_id`: walk the rowid range, not the run's index
                tail_rows = conn.execute(
                    STEP_SELECT + " WHERE id > ? AND +run_id = ? ORDER BY id", (covered, single)
                )
            else:
                tail_rows = conn.execute(STEP_SELECT + " WHERE id > ? ORDER BY id", (covered,))
            tail = np.fromiter(tail_rows, step_dtype())
            superseded = None
            if not include_superseded:
                if single is not None:
                    rows = conn.execute(
                        "SELECT id FROM steps WHERE superseded = 1 AND run_id = ? ORDER BY id",
                        (single,),
                    )
                else:  # without INDEXED BY the planner scans the whole table
                    rows = conn.execute(
                        "SELECT id FROM steps INDEXED BY steps_superseded WHERE superseded = 1"
                    )
                superseded = np.sort(np.fromiter((i for (i,) in rows), "<i8"))

        cols: dict[str, Any] = {}
        for k, name in enumerate(STEP_FIELDS):
            if name not in wanted:
                continue
            dtype = step_dtype()[name]
            parts = [np.frombuffer(data, dtype, n, k * 8 * n) for n, data in blocks]
            parts.append(tail[name])
            cols[name] = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
        keep = None
        if single is not None:
            if blocks:  # blocks at a run's edges hold rows of its neighbours too
                keep = cols["run_id"] == single
        elif run_ids is not None:
            keep = np.isin(cols["run_id"], np.asarray(run_ids, dtype="<i8"))
        if superseded is not None and len(superseded):
            hidden = np.isin(cols["id"], superseded, assume_unique=True)
            keep = ~hidden if keep is None else keep & ~hidden
        if keep is not None and not keep.all():
            cols = {name: col[keep] for name, col in cols.items()}
        return cols

    @staticmethod
    def _by_step(cols: dict[str, Any]) -> dict[str, Any]:
        """Order id-ordered columns by step (ties keep id order); usually already sorted."""
        step = cols["step"]
        if len(step) > 1 and not (step[1:] >= step[:-1]).all():
            order = np.argsort(step, kind="stable")
            cols = {name: col[order] for name, col in cols.items()}
        return cols

    @locked
    def steps_arrays(
        self, run_id: int | None = None, include_superseded: bool = False
    ) -> dict[str, Any]:
        """Columns id, run_id, step, t, loss, lr, grad_norm, tok_s (NaN where NULL), ordered
        by step. run_id=None: the model's whole curve (all runs, superseded rows hidden)."""
        return self._by_step(
            self._load_steps(None if run_id is None else [int(run_id)], include_superseded)
        )

    @locked
    def run_steps(self, run_id: int) -> dict[str, Any]:
        """Every steps row of an existing run, superseded ones too, ordered by id (what the
        exports write); UserError if there is no such run."""
        return self._load_steps([self._require_run(run_id)], include_superseded=True)

    @locked
    def evals_arrays(
        self, run_id: int | None = None, include_superseded: bool = False
    ) -> dict[str, Any]:
        """Columns id, run_id, step, t, val_loss, val_bpb, reward, size_mb, ordered by step."""
        conn = self._reader()
        if conn is None:
            return empty_columns(eval_dtype())
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(int(run_id))
        if not include_superseded:
            where.append("superseded = 0")
        sql = EVAL_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        arr = np.fromiter(conn.execute(sql + " ORDER BY step, id", args), eval_dtype())
        return {name: arr[name].copy() for name in EVAL_FIELDS}

    # ---- polling ----------------------------------------------------------------------------
    def _new_rows(
        self, table: str, fields: tuple[str, ...], after_rowid: int, run_id: int | None,
        include_superseded: bool, limit: int | None,
    ) -> list[tuple]:
        conn = self._reader()
        if conn is None:
            return []
        sql = f"SELECT {', '.join(fields)} FROM {table} WHERE id > ?"
        args: list[Any] = [int(after_rowid)]
        if run_id is not None:
            sql += " AND +run_id = ?"
            args.append(int(run_id))
        if not include_superseded:
            sql += " AND superseded = 0"
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return conn.execute(sql, args).fetchall()

    @locked
    def new_steps(
        self, after_rowid: int, run_id: int | None = None, include_superseded: bool = False,
        limit: int | None = None,
    ) -> list[tuple]:
        """Steps rows with id > after_rowid, ordered by id, as (id, run_id, step, t, loss, lr,
        grad_norm, tok_s) tuples (None for NaN). Pollers keep the last id they got. Rows
        already fetched may become superseded when a run resumes: reload the arrays when
        `runs()` shows a new run."""
        return self._new_rows(
            "steps", STEP_FIELDS, after_rowid, run_id, include_superseded, limit
        )

    @locked
    def new_evals(
        self, after_rowid: int, run_id: int | None = None, include_superseded: bool = False,
        limit: int | None = None,
    ) -> list[tuple]:
        """Evals rows with id > after_rowid, ordered by id: (id, run_id, step, t, val_loss,
        val_bpb, reward, size_mb)."""
        return self._new_rows(
            "evals", EVAL_FIELDS, after_rowid, run_id, include_superseded, limit
        )

    # ---- runs -------------------------------------------------------------------------------
    def _run_rows(self, conn: sqlite3.Connection, run_id: int | None) -> list[tuple]:
        sql = (
            "SELECT id, kind, status, reason, pid, started_at, ended_at, start_step, "
            "target_step, config_json FROM runs"
        )
        if run_id is not None:
            return conn.execute(sql + " WHERE id = ?", (run_id,)).fetchall()
        return conn.execute(sql + " ORDER BY id DESC").fetchall()

    def _infos(self, run_id: int | None) -> list[RunInfo]:
        conn = self._reader()
        if conn is None:
            return []
        rows = self._run_rows(conn, run_id)
        live_ids = {r[0] for r in rows}
        if run_id is None:  # forget runs deleted by another process
            for gone in set(self._stats_cache) - live_ids:
                del self._stats_cache[gone]
        need = [r[0] for r in rows if r[0] not in self._stats_cache]
        if need:
            cols = self._load_steps(need, True, fields=("step", "loss", "tok_s"))
            by_run_steps = step_stats(cols, need)
            marks = ",".join("?" * len(need))
            by_run_evals = eval_stats(conn.execute(
                f"SELECT run_id, step, id, val_loss, reward FROM evals WHERE run_id IN ({marks}) "
                "ORDER BY run_id, step, id", need,
            ).fetchall())
        out = []
        for rid, kind, status, reason, pid, started, ended, s0, s1, cfg in rows:
            if rid in self._stats_cache:
                sstats, estats = self._stats_cache[rid]
            else:
                sstats = by_run_steps.get(rid, NO_STEPS)
                estats = by_run_evals.get(rid, NO_EVALS)
                if status != "running":  # an ended run's rows never change
                    self._stats_cache[rid] = (sstats, estats)
            try:
                config = json.loads(cfg) if cfg else {}
            except ValueError:
                config = {}
            if status == "running" and (pid is None or not pid_alive(pid)):
                # Killed before anyone reaped it: show what the next writer will record.
                status, reason = "failed", died_reason(pid)
            out.append(RunInfo(
                id=rid, kind=kind, status=status, reason=reason, pid=pid, started_at=started,
                ended_at=ended, start_step=s0, target_step=s1, config=config,
                **sstats, **estats,
            ))
        return out

    @locked
    def runs(self) -> list[RunInfo]:
        """Every run, newest first (summaries from one pass over the packed steps)."""
        return self._infos(None)

    @locked
    def run(self, run_id: int) -> RunInfo:
        infos = self._infos(int(run_id))
        if not infos:
            raise self.unknown_run(run_id)
        return infos[0]

    def _require_run(self, run_id: int) -> int:
        """`run_id` as an int; UserError if there is no such run (one indexed read, no stats)."""
        run_id = int(run_id)
        conn = self._reader()
        if conn is None or conn.execute(
            "SELECT 1 FROM runs WHERE id = ?", (run_id,)
        ).fetchone() is None:
            raise self.unknown_run(run_id)
        return run_id

    @locked
    def running_run_id(self, pid: int) -> int | None:
        """Id of the newest run recorded as 'running' by trainer `pid` (one query on the
        small runs table; the pid may have died since: `run(id).status` says)."""
        conn = self._reader()
        if conn is None:
            return None
        row = conn.execute(
            "SELECT id FROM runs WHERE pid = ? AND status = 'running' ORDER BY id DESC LIMIT 1",
            (int(pid),),
        ).fetchone()
        return None if row is None else int(row[0])

    @locked
    def last_loss(self) -> float | None:
        """Final train loss of the newest run that has one (a few indexed reads)."""
        conn = self._reader()
        if conn is None:
            return None
        for (rid,) in conn.execute("SELECT id FROM runs ORDER BY id DESC").fetchall():
            row = conn.execute(
                "SELECT loss FROM steps WHERE run_id = ? ORDER BY step DESC, id DESC LIMIT 1",
                (rid,),
            ).fetchone()
            if row is not None and row[0] is not None:
                return float(row[0])
        return None
