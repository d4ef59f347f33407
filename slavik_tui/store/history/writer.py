"""Writing a history: runs opened and closed, steps and evals appended, superseded rows
marked after a resume, dead trainers' runs reaped, runs deleted; and the packing of steps rows
into `step_blocks` that keeps big runs fast to load (see schema.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Callable

from slavik_tui.errors import UserError
from slavik_tui.store.history import schema
from slavik_tui.store.history.connection import HistoryFile, locked
from slavik_tui.store.history.schema import (
    INSERT_EVAL, INSERT_STEP, RUN_STATUSES, STEP_FIELDS, STEP_SELECT, died_reason, np,
    step_dtype,
)
from slavik_tui.store.lock import pid_alive


def _num(x: Any) -> float | None:
    """numpy / torch scalars -> float (sqlite3 cannot bind them); None stays None."""
    return None if x is None else float(x)


class Writer(HistoryFile):
    """The trainer's side of a history (and `delete_run`, which the CLI and the app use)."""

    _pending = 0  # steps rows not yet packed into a block (approximate)

    def _connect_writer(self) -> None:
        super()._connect_writer()
        self._pending = self._conn.execute(
            "SELECT count(*) FROM steps WHERE id > ?", (self._covered(),)
        ).fetchone()[0]
        if self._pending >= schema.BLOCK_ROWS:
            self._pack()

    # ---- runs and rows --------------------------------------------------------------------
    @locked
    def start_run(
        self,
        kind: str,
        config: dict,
        start_step: int = 0,
        target_step: int | None = None,
        pid: int | None = None,
    ) -> int:
        """Record a new run as 'running'; returns its id."""
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"run kind must be a non-empty string, got {kind!r}")
        config_json = json.dumps(config or {}, ensure_ascii=False, sort_keys=True, default=str)
        with self._durable(), self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs(kind, status, pid, started_at, start_step, target_step, "
                "config_json) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (kind, os.getpid() if pid is None else int(pid), time.time(),
                 None if start_step is None else int(start_step),
                 None if target_step is None else int(target_step), config_json),
            )
            return int(cur.lastrowid)

    @locked
    def log_step(
        self, run_id: int, step: int, t: float, loss: float | None, lr: float | None,
        grad_norm: float | None, tok_s: float | None,
    ) -> None:
        """Append one training step (its own commit: cheap in WAL + synchronous=NORMAL)."""
        self._writer().execute(
            INSERT_STEP,
            (int(run_id), int(step), float(t), _num(loss), _num(lr), _num(grad_norm), _num(tok_s)),
        )
        self._pending += 1
        if self._pending >= schema.BLOCK_ROWS:
            self._pack()

    @locked
    def log_eval(
        self, run_id: int, step: int, t: float, val_loss: float | None, val_bpb: float | None,
        reward: float | None, size_mb: float | None,
    ) -> None:
        """Append one evaluation; fsynced, so every eval is durable (DESIGN §1)."""
        with self._durable():
            self._writer().execute(
                INSERT_EVAL,
                (int(run_id), int(step), float(t), _num(val_loss), _num(val_bpb), _num(reward),
                 _num(size_mb)),
            )

    @locked
    def end_run(self, run_id: int, status: str, reason: str | None = None) -> None:
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"end status must be one of {RUN_STATUSES[1:]}, got {status!r}")
        if reason is not None:  # shown in one-line tables
            reason = " ".join(str(reason).split())
        with self._durable(), self._tx() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, reason = ?, ended_at = ? WHERE id = ?",
                (status, reason, time.time(), int(run_id)),
            )
            if cur.rowcount == 0:
                raise self.unknown_run(run_id)

    @locked
    def supersede_after(self, step: int, keep_run_id: int) -> int:
        """Mark superseded every steps/evals/metrics row of runs other than `keep_run_id` with a
        step above `step` (a run resumed from checkpoint `step`). Returns the rows marked."""
        marked = 0
        with self._tx() as conn:
            others = [
                r for (r,) in conn.execute("SELECT id FROM runs WHERE id != ?", (int(keep_run_id),))
            ]
            for table in ("steps", "evals", "metrics"):
                for run in others:  # one index range per run, not a table scan
                    marked += conn.execute(
                        f"UPDATE {table} SET superseded = 1 "
                        "WHERE run_id = ? AND step > ? AND superseded = 0",
                        (run, int(step)),
                    ).rowcount
        return marked

    @locked
    def reap_dead_runs(self, is_alive: Callable[[int], bool] | None = None) -> list[int]:
        """Mark 'failed' every 'running' run whose trainer pid is not alive; returns their
        ids. ended_at becomes the run's last row's time (or its start)."""
        is_alive = is_alive or pid_alive
        conn = self._writer()
        running = conn.execute(
            "SELECT id, pid, started_at FROM runs WHERE status = 'running'"
        ).fetchall()
        dead = [(rid, pid, started) for rid, pid, started in running
                if pid is None or not is_alive(pid)]
        if not dead:
            return []
        reaped = []
        with self._durable(), self._tx() as conn:
            for rid, pid, started in dead:
                times = []
                for table in ("steps", "evals"):
                    row = conn.execute(
                        f"SELECT t FROM {table} WHERE run_id = ? "
                        "ORDER BY step DESC, id DESC LIMIT 1",
                        (rid,),
                    ).fetchone()
                    if row:
                        times.append(row[0])
                cur = conn.execute(
                    "UPDATE runs SET status = 'failed', reason = ?, ended_at = ? "
                    "WHERE id = ? AND status = 'running'",
                    (died_reason(pid), max(times) if times else started, rid),
                )
                if cur.rowcount:
                    reaped.append(rid)
        return reaped

    @locked
    def delete_run(self, run_id: int) -> None:
        """Delete a run and all its rows; refused while it is running."""
        conn = self._writer()
        run_id = int(run_id)
        self.reap_dead_runs()
        row = conn.execute("SELECT status, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self.unknown_run(run_id)
        if row[0] == "running":
            raise UserError(
                f"run {run_id} of model '{self.model_name}' is still running (pid {row[1]}); "
                f"stop it first with `slavik-tui stop {self.model_name}`"
            )
        with self._tx() as conn:
            touched = conn.execute(
                "SELECT first_id, last_id FROM step_blocks WHERE run_lo <= ? AND run_hi >= ?",
                (run_id, run_id),
            ).fetchall()
            conn.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM evals WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            for first, last in touched:  # keep the block invariant: re-pack what is left
                self._write_block(conn, first, last)
        self._stats_cache.pop(run_id, None)

    # ---- packing ----------------------------------------------------------------------------
    def _write_block(
        self, conn: sqlite3.Connection, first: int, last: int, arr: Any = None
    ) -> int:
        """(Re)build the block for ids first..last from `steps` (or from `arr`, those rows
        already fetched); returns its row count."""
        if arr is None:
            arr = np.fromiter(
                conn.execute(STEP_SELECT + " WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)),
                step_dtype(),
            )
        if not len(arr):
            conn.execute("DELETE FROM step_blocks WHERE last_id = ?", (last,))
            return 0
        blob = b"".join(np.ascontiguousarray(arr[name]).tobytes() for name in STEP_FIELDS)
        conn.execute(
            "INSERT OR REPLACE INTO step_blocks(last_id, first_id, n, run_lo, run_hi, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (last, first, len(arr), int(arr["run_id"].min()), int(arr["run_id"].max()), blob),
        )
        return len(arr)

    def _pack(self) -> None:
        """Pack every full BLOCK_ROWS of unpacked steps rows into blocks."""
        with self._tx() as conn:
            covered = self._covered()
            while True:
                arr = np.fromiter(conn.execute(
                    STEP_SELECT + " WHERE id > ? ORDER BY id LIMIT ?",
                    (covered, schema.BLOCK_ROWS),
                ), step_dtype())
                if len(arr) < schema.BLOCK_ROWS:
                    self._pending = len(arr)
                    break
                last = int(arr["id"][-1])
                self._write_block(conn, covered + 1, last, arr)
                covered = last
