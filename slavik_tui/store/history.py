"""Metrics history of one model: `models/<name>/history.sqlite`.

SQLite in WAL mode with `synchronous=NORMAL` and a 5 s busy timeout. The trainer is the only
regular writer (it holds the model's `.lock`); any number of readers (UI, CLI) poll the file
at the same time, read-only, and fetch only rows with an id above the last one they saw.

Schema (`PRAGMA user_version` = SCHEMA_VERSION = 1)::

    runs(
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      kind        TEXT NOT NULL,     -- 'pretrain', 'finetune', ...
      status      TEXT NOT NULL,     -- running | finished | stopped | failed
      reason      TEXT,              -- one line: why it stopped or failed (NULL if finished)
      pid         INTEGER,           -- the trainer process
      started_at  REAL NOT NULL,     -- unix time
      ended_at    REAL,              -- unix time; NULL while running
      start_step  INTEGER,           -- 0, or the checkpoint step it resumed from
      target_step INTEGER,           -- the step it was asked to reach
      config_json TEXT               -- the run's settings, a JSON object
    )
    steps(
      id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- pollers read `id > last seen`
      run_id      INTEGER NOT NULL,  -- runs.id
      step        INTEGER NOT NULL,
      t           REAL NOT NULL,     -- unix time
      loss REAL, lr REAL, grad_norm REAL, tok_s REAL,   -- NULL = NaN (SQLite stores NaN as NULL)
      superseded  INTEGER NOT NULL DEFAULT 0  -- 1: replaced by a run resumed from a checkpoint
    )
    INDEX steps_run_step   ON steps(run_id, step)
    INDEX steps_superseded ON steps(run_id, id) WHERE superseded = 1   -- partial, tiny
    evals(
      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, step INTEGER NOT NULL,
      t REAL NOT NULL, val_loss REAL, val_bpb REAL, reward REAL, size_mb REAL,
      superseded INTEGER NOT NULL DEFAULT 0
    )
    INDEX evals_run_step ON evals(run_id, step)
    step_blocks(                     -- derived: a packed copy of `steps`, for fast loading
      last_id  INTEGER PRIMARY KEY,  -- the block holds every steps row with
      first_id INTEGER NOT NULL,     --   first_id <= id <= last_id
      n        INTEGER NOT NULL,     -- rows in it
      run_lo   INTEGER NOT NULL,     -- smallest and largest run_id in it
      run_hi   INTEGER NOT NULL,
      data     BLOB NOT NULL         -- column-major little-endian: id, run_id, step (int64),
    )                                --   t, loss, lr, grad_norm, tok_s (float64, NaN for NULL)

Why `step_blocks`: `sqlite3` builds a Python object per value, so 1,000,000 rows × 8 columns
take seconds to fetch even with `np.fromiter`; the UI must open such a run in well under a
second. The writer packs every BLOCK_ROWS new steps rows into one blob (amortised: a few µs
per step), and readers turn blobs into arrays with `np.frombuffer`. `steps` stays the source
of truth; invariant: every steps row with id <= max(step_blocks.last_id) is in exactly one
block with its current values, except `superseded`, which readers take from the partial
index. Rows above that id (the "tail", < BLOCK_ROWS normally) are read with SQL. Ids are
AUTOINCREMENT, so they only grow, even after `delete_run`: a poller never misses a row.

Per-run summaries (`RunInfo`) count every row a run wrote, superseded or not (they say what
the run did); the model's curve (`steps_arrays()` with no run) hides superseded rows, so after
a resume each step appears once.
"""

from __future__ import annotations

import datetime as _dt
import functools
import itertools
import json
import math
import os
import sqlite3
import threading
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from slavik_tui.atomic import atomic_write_lines
from slavik_tui.errors import UserError
from slavik_tui.store.lock import _pid_alive


class _LazyNumpy:
    """numpy, imported on first use: listing models (the app's first paint) needs none of it,
    and `import numpy` costs ~0.15 s."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        globals()["np"] = numpy
        return getattr(numpy, name)


np: Any = _LazyNumpy()

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
BLOCK_ROWS = 4096  # steps rows per packed block (256 KiB of blob)

RUN_STATUSES = ("running", "finished", "stopped", "failed")
STEP_FIELDS = ("id", "run_id", "step", "t", "loss", "lr", "grad_norm", "tok_s")
EVAL_FIELDS = ("id", "run_id", "step", "t", "val_loss", "val_bpb", "reward", "size_mb")
STEP_METRICS = STEP_FIELDS[4:]
EVAL_METRICS = EVAL_FIELDS[4:]
CSV_COLUMNS = ("kind", "step", "t") + STEP_METRICS + EVAL_METRICS

_INT_FIELDS = {"id", "run_id", "step"}
def _record_dtype(fields: Iterable[str]) -> Any:
    return np.dtype([(f, "<i8" if f in _INT_FIELDS else "<f8") for f in fields])


@functools.cache
def step_dtype() -> Any:
    """The numpy record layout of a steps row (built lazily, like numpy itself)."""
    return _record_dtype(STEP_FIELDS)


@functools.cache
def eval_dtype() -> Any:
    return _record_dtype(EVAL_FIELDS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  pid INTEGER,
  started_at REAL NOT NULL,
  ended_at REAL,
  start_step INTEGER,
  target_step INTEGER,
  config_json TEXT
);
CREATE TABLE IF NOT EXISTS steps(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  t REAL NOT NULL,
  loss REAL, lr REAL, grad_norm REAL, tok_s REAL,
  superseded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS steps_run_step ON steps(run_id, step);
CREATE INDEX IF NOT EXISTS steps_superseded ON steps(run_id, id) WHERE superseded = 1;
CREATE TABLE IF NOT EXISTS evals(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  t REAL NOT NULL,
  val_loss REAL, val_bpb REAL, reward REAL, size_mb REAL,
  superseded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS evals_run_step ON evals(run_id, step);
CREATE TABLE IF NOT EXISTS step_blocks(
  last_id INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL,
  n INTEGER NOT NULL,
  run_lo INTEGER NOT NULL,
  run_hi INTEGER NOT NULL,
  data BLOB NOT NULL
);
"""

_INSERT_STEP = (
    "INSERT INTO steps(run_id, step, t, loss, lr, grad_norm, tok_s) VALUES (?,?,?,?,?,?,?)"
)
_INSERT_EVAL = (
    "INSERT INTO evals(run_id, step, t, val_loss, val_bpb, reward, size_mb) VALUES (?,?,?,?,?,?,?)"
)
# NULL -> 'nan', which numpy parses, so np.fromiter stays on its fast path.
_STEP_SELECT = (
    "SELECT id, run_id, step, t, ifnull(loss,'nan'), ifnull(lr,'nan'), "
    "ifnull(grad_norm,'nan'), ifnull(tok_s,'nan') FROM steps"
)
_EVAL_SELECT = (
    "SELECT id, run_id, step, t, ifnull(val_loss,'nan'), ifnull(val_bpb,'nan'), "
    "ifnull(reward,'nan'), ifnull(size_mb,'nan') FROM evals"
)


# ---- small helpers -----------------------------------------------------------------------
def _num(x: Any) -> float | None:
    """numpy / torch scalars -> float (sqlite3 cannot bind them); None stays None."""
    return None if x is None else float(x)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _json_num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


_CSV_CHUNK = 65536  # rows formatted at a time: exports stream, whatever the run's size


def _fmt_floats(arr: np.ndarray) -> list[str]:
    """Round-trip text for each value (repr), '' for NaN."""
    return ["" if v != v else repr(v) for v in arr.tolist()]


def _fmt_ints(arr: np.ndarray) -> list[str]:
    return [str(v) for v in arr.tolist()]


def _fmt_rows(cols: dict[str, np.ndarray], idx: np.ndarray, template: str,
              names: tuple[str, ...]) -> list[str]:
    """`template` filled with the columns `names` (step: int, the rest: float) of rows `idx`."""
    fields = [(_fmt_ints if n == "step" else _fmt_floats)(cols[n][idx]) for n in names]
    return [template.format(*row) for row in zip(*fields)]


def _merged_lines(order: np.ndarray, n_first: int, first: Callable, second: Callable
                  ) -> Iterator[str]:
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


def _atomic_write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(
            f"cannot write {path}: folder {path.parent} does not exist; "
            "create it or pick another path"
        )
    atomic_write_lines(path, lines)


def _died_reason(pid: int | None) -> str:
    return f"trainer process {pid} died (killed or crashed)"


def _empty(dtype: np.dtype) -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype=dtype[name]) for name in dtype.names}


def _locked(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self: "History", *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper


# ---- run summaries -----------------------------------------------------------------------
@dataclass
class RunInfo:
    """One run, summarised. Metric fields are None when the run has no such rows, NaN when
    the value itself was NaN (a diverged loss)."""

    id: int
    kind: str
    status: str
    reason: str | None
    pid: int | None
    started_at: float
    ended_at: float | None
    start_step: int | None
    target_step: int | None
    last_step: int | None
    n_steps: int
    final_loss: float | None
    final_val_loss: float | None
    best_val_loss: float | None
    best_reward: float | None
    tok_s: float | None  # median tokens/s over the run's steps
    config: dict = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        out = {k: _json_num(v) for k, v in asdict(self).items()}
        out["started_at"] = _iso(self.started_at)
        out["ended_at"] = _iso(self.ended_at)
        return out


_NO_STEPS = {"last_step": None, "n_steps": 0, "final_loss": None, "tok_s": None}
_NO_EVALS = {"final_val_loss": None, "best_val_loss": None, "best_reward": None}


def _step_stats(cols: dict[str, np.ndarray], run_ids: list[int]) -> dict[int, dict]:
    """n_steps, last_step, final_loss, median tok_s per run, from id-ordered arrays."""
    out: dict[int, dict] = {}
    rid = cols["run_id"]
    if not len(rid):
        return out
    order = np.argsort(rid, kind="stable")  # groups runs, keeps id order inside each
    sorted_rid = rid[order]
    wanted = set(run_ids)
    starts = np.flatnonzero(np.r_[True, sorted_rid[1:] != sorted_rid[:-1]])
    ends = np.r_[starts[1:], len(sorted_rid)]
    for a, b in zip(starts.tolist(), ends.tolist()):
        run = int(sorted_rid[a])
        if run not in wanted:
            continue
        idx = order[a:b]
        steps = cols["step"][idx]
        last = int(steps.max())
        final = idx[np.flatnonzero(steps == last)[-1]]
        tok = cols["tok_s"][idx]
        tok = tok[~np.isnan(tok)]
        out[run] = {
            "last_step": last,
            "n_steps": int(b - a),
            "final_loss": float(cols["loss"][final]),
            "tok_s": float(np.median(tok)) if len(tok) else None,
        }
    return out


def _eval_stats(rows: list[tuple]) -> dict[int, dict]:
    """final/best val loss and best reward per run, from (run_id, step, id, val_loss, reward)
    rows ordered by run_id, step, id."""
    out: dict[int, dict] = {}
    if not rows:
        return out
    arr = np.array(
        [(r, s, float("nan") if v is None else v, float("nan") if w is None else w)
         for r, s, _i, v, w in rows],
        dtype=[("run", "<i8"), ("step", "<i8"), ("val", "<f8"), ("rew", "<f8")],
    )
    runs = arr["run"]
    starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
    ends = np.r_[starts[1:], len(runs)]
    for a, b in zip(starts.tolist(), ends.tolist()):
        val, rew = arr["val"][a:b], arr["rew"][a:b]
        finite_val = val[~np.isnan(val)]
        finite_rew = rew[~np.isnan(rew)]
        out[int(runs[a])] = {
            "final_val_loss": float(val[-1]),
            "best_val_loss": float(finite_val.min()) if len(finite_val) else None,
            "best_reward": float(finite_rew.max()) if len(finite_rew) else None,
        }
    return out


# ---- the history -------------------------------------------------------------------------
class History:
    """`history.sqlite` of one model. `readonly=True` for viewers (a missing file reads as an
    empty history and is picked up once the trainer creates it)."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.model_name = self.path.parent.name
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._ready = False  # schema present
        self._pending = 0  # writer: steps rows not yet packed into a block (approximate)
        self._stats_cache: dict[int, tuple[dict, dict]] = {}  # ended runs never change
        if readonly:
            self._connect_reader()
        else:
            self._connect_writer()

    # ---- connections ------------------------------------------------------------------------
    def _open(self, target: str, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,  # one connection, guarded by self._mutex
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return conn

    def _not_a_db(self, exc: Exception) -> UserError:
        return UserError(
            f"{self.path} is not a readable SQLite database ({exc}); move it away "
            "and the next training run starts a fresh history"
        )

    def _check_version(self) -> int:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise self._not_a_db(exc) from None
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{self.path} was written by a newer slavik-tui (history schema {version}, "
                f"this one reads up to {SCHEMA_VERSION}); upgrade slavik-tui"
            )
        return version

    def _connect_reader(self) -> bool:
        if self._conn is None:
            if not self.path.is_file():
                return False
            uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
            self._conn = self._open(uri, uri=True)
        if not self._ready:
            self._ready = self._check_version() == SCHEMA_VERSION
        return self._ready

    def _connect_writer(self) -> None:
        if not self.path.parent.is_dir():
            raise UserError(
                f"cannot open {self.path}: folder {self.path.parent} does not exist; "
                "see `slavik-tui models`"
            )
        self._conn = self._open(str(self.path), uri=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            self._conn = None
            raise self._not_a_db(exc) from None
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if self._check_version() < SCHEMA_VERSION:
            with self._tx():
                if self._conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._ready = True
        self._pending = self._conn.execute(
            "SELECT count(*) FROM steps WHERE id > ?", (self._covered(),)
        ).fetchone()[0]
        if self._pending >= BLOCK_ROWS:
            self._pack()

    def _reader(self) -> sqlite3.Connection | None:
        """The connection if a history with our schema exists, else None (no runs yet)."""
        if self.readonly:
            return self._conn if self._connect_reader() else None
        return self._conn

    def _writer(self) -> sqlite3.Connection:
        if self.readonly:
            raise RuntimeError(f"{self.path} is open read-only")
        if self._conn is None:
            raise RuntimeError(f"{self.path} is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, write lock taken up front (two writers, e.g. the trainer and
        `delete_run` from the CLI, then queue on busy_timeout instead of failing)."""
        conn = self._writer()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the file."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def _durable(self) -> Iterator[None]:
        """Commit with an fsync of the WAL (evals and run status survive a power cut)."""
        conn = self._writer()
        conn.execute("PRAGMA synchronous=FULL")
        try:
            yield
        finally:
            conn.execute("PRAGMA synchronous=NORMAL")

    @_locked
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._ready = False

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- writer ---------------------------------------------------------------------------
    @_locked
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

    @_locked
    def log_step(
        self, run_id: int, step: int, t: float, loss: float | None, lr: float | None,
        grad_norm: float | None, tok_s: float | None,
    ) -> None:
        """Append one training step (its own commit: cheap in WAL + synchronous=NORMAL)."""
        self._writer().execute(
            _INSERT_STEP,
            (int(run_id), int(step), float(t), _num(loss), _num(lr), _num(grad_norm), _num(tok_s)),
        )
        self._pending += 1
        if self._pending >= BLOCK_ROWS:
            self._pack()

    @_locked
    def log_eval(
        self, run_id: int, step: int, t: float, val_loss: float | None, val_bpb: float | None,
        reward: float | None, size_mb: float | None,
    ) -> None:
        """Append one evaluation; fsynced, so every eval is durable (DESIGN §1)."""
        with self._durable():
            self._writer().execute(
                _INSERT_EVAL,
                (int(run_id), int(step), float(t), _num(val_loss), _num(val_bpb), _num(reward),
                 _num(size_mb)),
            )

    @_locked
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
                raise self._unknown_run(run_id)

    @_locked
    def supersede_after(self, step: int, keep_run_id: int) -> int:
        """Mark superseded every steps/evals row of runs other than `keep_run_id` with a step
        above `step` (a run resumed from checkpoint `step`). Returns the rows marked."""
        marked = 0
        with self._tx() as conn:
            others = [
                r for (r,) in conn.execute("SELECT id FROM runs WHERE id != ?", (int(keep_run_id),))
            ]
            for table in ("steps", "evals"):
                for run in others:  # one index range per run, not a table scan
                    marked += conn.execute(
                        f"UPDATE {table} SET superseded = 1 "
                        "WHERE run_id = ? AND step > ? AND superseded = 0",
                        (run, int(step)),
                    ).rowcount
        return marked

    @_locked
    def reap_dead_runs(self, is_alive: Callable[[int], bool] | None = None) -> list[int]:
        """Mark 'failed' every 'running' run whose trainer pid is not alive; returns their
        ids. ended_at becomes the run's last row's time (or its start)."""
        is_alive = is_alive or _pid_alive
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
                    (_died_reason(pid),
                     max(times) if times else started, rid),
                )
                if cur.rowcount:
                    reaped.append(rid)
        return reaped

    @_locked
    def delete_run(self, run_id: int) -> None:
        """Delete a run and all its rows; refused while it is running."""
        conn = self._writer()
        run_id = int(run_id)
        self.reap_dead_runs()
        row = conn.execute("SELECT status, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._unknown_run(run_id)
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
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            for first, last in touched:  # keep the block invariant: re-pack what is left
                self._write_block(conn, first, last)
        self._stats_cache.pop(run_id, None)

    # ---- packing ----------------------------------------------------------------------------
    def _covered(self) -> int:
        return self._conn.execute("SELECT coalesce(max(last_id), 0) FROM step_blocks").fetchone()[0]

    def _write_block(
        self, conn: sqlite3.Connection, first: int, last: int, arr: np.ndarray | None = None
    ) -> int:
        """(Re)build the block for ids first..last from `steps` (or from `arr`, those rows
        already fetched); returns its row count."""
        if arr is None:
            arr = np.fromiter(
                conn.execute(_STEP_SELECT + " WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)),
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
        """Pack every full BLOCK_ROWS of unpacked steps rows into blocks (writer only)."""
        with self._tx() as conn:
            covered = self._covered()
            while True:
                arr = np.fromiter(conn.execute(
                    _STEP_SELECT + " WHERE id > ? ORDER BY id LIMIT ?", (covered, BLOCK_ROWS)
                ), step_dtype())
                if len(arr) < BLOCK_ROWS:
                    self._pending = len(arr)
                    break
                last = int(arr["id"][-1])
                self._write_block(conn, covered + 1, last, arr)
                covered = last

    # ---- reader ---------------------------------------------------------------------------
    def _unknown_run(self, run_id: int) -> UserError:
        return UserError(
            f"no run {run_id} in model '{self.model_name}'; "
            f"see `slavik-tui runs {self.model_name}`"
        )

    def _load_steps(
        self, run_ids: list[int] | None, include_superseded: bool,
        fields: tuple[str, ...] = STEP_FIELDS,
    ) -> dict[str, np.ndarray]:
        """Steps rows of the given runs (None: all), ordered by id, from blocks + tail;
        `fields` picks the columns to decode (id and run_id always come along)."""
        wanted = {"id", "run_id", *fields}
        conn = self._reader()
        if conn is None:
            return {k: v for k, v in _empty(step_dtype()).items() if k in wanted}
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
                    _STEP_SELECT + " WHERE id > ? AND +run_id = ? ORDER BY id", (covered, single)
                )
            else:
                tail_rows = conn.execute(_STEP_SELECT + " WHERE id > ? ORDER BY id", (covered,))
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

        cols: dict[str, np.ndarray] = {}
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
    def _by_step(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Order id-ordered columns by step (ties keep id order); usually already sorted."""
        step = cols["step"]
        if len(step) > 1 and not (step[1:] >= step[:-1]).all():
            order = np.argsort(step, kind="stable")
            cols = {name: col[order] for name, col in cols.items()}
        return cols

    @_locked
    def steps_arrays(
        self, run_id: int | None = None, include_superseded: bool = False
    ) -> dict[str, np.ndarray]:
        """Columns id, run_id, step, t, loss, lr, grad_norm, tok_s (NaN where NULL), ordered
        by step. run_id=None: the model's whole curve (all runs, superseded rows hidden)."""
        return self._by_step(
            self._load_steps(None if run_id is None else [int(run_id)], include_superseded)
        )

    @_locked
    def evals_arrays(
        self, run_id: int | None = None, include_superseded: bool = False
    ) -> dict[str, np.ndarray]:
        """Columns id, run_id, step, t, val_loss, val_bpb, reward, size_mb, ordered by step."""
        conn = self._reader()
        if conn is None:
            return _empty(eval_dtype())
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(int(run_id))
        if not include_superseded:
            where.append("superseded = 0")
        sql = _EVAL_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        arr = np.fromiter(conn.execute(sql + " ORDER BY step, id", args), eval_dtype())
        return {name: arr[name].copy() for name in EVAL_FIELDS}

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

    @_locked
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

    @_locked
    def new_evals(
        self, after_rowid: int, run_id: int | None = None, include_superseded: bool = False,
        limit: int | None = None,
    ) -> list[tuple]:
        """Evals rows with id > after_rowid, ordered by id: (id, run_id, step, t, val_loss,
        val_bpb, reward, size_mb)."""
        return self._new_rows(
            "evals", EVAL_FIELDS, after_rowid, run_id, include_superseded, limit
        )

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
            step_stats = _step_stats(cols, need)
            marks = ",".join("?" * len(need))
            eval_stats = _eval_stats(conn.execute(
                f"SELECT run_id, step, id, val_loss, reward FROM evals WHERE run_id IN ({marks}) "
                "ORDER BY run_id, step, id", need,
            ).fetchall())
        out = []
        for rid, kind, status, reason, pid, started, ended, s0, s1, cfg in rows:
            if rid in self._stats_cache:
                sstats, estats = self._stats_cache[rid]
            else:
                sstats = step_stats.get(rid, _NO_STEPS)
                estats = eval_stats.get(rid, _NO_EVALS)
                if status != "running":  # an ended run's rows never change
                    self._stats_cache[rid] = (sstats, estats)
            try:
                config = json.loads(cfg) if cfg else {}
            except ValueError:
                config = {}
            if status == "running" and (pid is None or not _pid_alive(pid)):
                # Killed before anyone reaped it: show what the next writer will record.
                status, reason = "failed", _died_reason(pid)
            out.append(RunInfo(
                id=rid, kind=kind, status=status, reason=reason, pid=pid, started_at=started,
                ended_at=ended, start_step=s0, target_step=s1, config=config,
                **sstats, **estats,
            ))
        return out

    @_locked
    def runs(self) -> list[RunInfo]:
        """Every run, newest first (summaries from one pass over the packed steps)."""
        return self._infos(None)

    @_locked
    def run(self, run_id: int) -> RunInfo:
        infos = self._infos(int(run_id))
        if not infos:
            raise self._unknown_run(run_id)
        return infos[0]

    @_locked
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

    @_locked
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

    # ---- export -----------------------------------------------------------------------------
    @_locked
    def export_csv(self, run_id: int, path: str | os.PathLike) -> None:
        """Every step and eval row of a run (superseded ones too) as one wide UTF-8 table:
        kind,step,t,loss,lr,grad_norm,tok_s,val_loss,val_bpb,reward,size_mb — ordered by
        step, then kind ('eval' before 'step'); empty cells where a column does not apply.
        Streamed: rows are formatted a chunk at a time, never all in memory."""
        run_id = self._require_run(run_id)
        s = self._load_steps([run_id], include_superseded=True)
        e = self.evals_arrays(run_id, include_superseded=True)
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
        _atomic_write_lines(path, itertools.chain([",".join(CSV_COLUMNS) + "\n"], lines))

    def _require_run(self, run_id: int) -> int:
        """`run_id` as an int; UserError if there is no such run (one indexed read, no stats)."""
        run_id = int(run_id)
        conn = self._reader()
        if conn is None or conn.execute(
            "SELECT 1 FROM runs WHERE id = ?", (run_id,)
        ).fetchone() is None:
            raise self._unknown_run(run_id)
        return run_id


def export_compare_csv(
    items: list[tuple[str, History, int]], path: str | os.PathLike
) -> None:
    """Several runs (of one or more models) in long format: model,run,step,metric,value —
    one line per non-NaN value, in the order of `items`, then step, then metric
    (loss, lr, grad_norm, tok_s, val_loss, val_bpb, reward, size_mb)."""
    metrics = STEP_METRICS + EVAL_METRICS
    chunks: list[str] = ["model,run,step,metric,value\n"]
    for model_name, history, run_id in items:
        with history._mutex:
            run_id = history._require_run(run_id)
            s = history._load_steps([run_id], include_superseded=True)
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
    _atomic_write_lines(path, chunks)
