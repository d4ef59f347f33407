"""The on-disk layout of `history.sqlite`: tables, versions, row layouts and the SQL they share.

Schema (`PRAGMA user_version` = SCHEMA_VERSION = 2)::

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
    metrics(                         -- version 2: any named series, long and narrow
      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, step INTEGER NOT NULL,
      t REAL NOT NULL, name TEXT NOT NULL,  -- 'rewards/chrf', 'reward_std', 'gpu/util', 'kl'
      value REAL,                        -- NULL = NaN
      superseded INTEGER NOT NULL DEFAULT 0
    )
    INDEX metrics_run_name_step ON metrics(run_id, name, step)
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

Versions: 1 had no `metrics`; opening a version-1 file as the writer adds it in place (the
DDL is all `IF NOT EXISTS`, so the migration is the DDL itself) and keeps every row. Readers
read a version-1 file as it is, with no metrics, until a writer upgrades it.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable


class _LazyNumpy:
    """numpy, imported on first use: listing models (the app's first paint) needs none of it,
    and `import numpy` costs ~0.15 s. Each attribute is fetched once, then kept on the
    instance, so hot loops pay a plain attribute lookup."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        value = getattr(numpy, name)
        setattr(self, name, value)
        return value


np: Any = _LazyNumpy()

SCHEMA_VERSION = 2
OLDEST_READABLE = 1  # versions a reader understands: OLDEST_READABLE..SCHEMA_VERSION
BUSY_TIMEOUT_MS = 5000
# steps rows per packed block (256 KiB of blob). Read as `schema.BLOCK_ROWS` at each use, so a
# test can shrink it to cross block edges with a handful of rows.
BLOCK_ROWS = 4096

RUN_STATUSES = ("running", "finished", "stopped", "failed")
STEP_FIELDS = ("id", "run_id", "step", "t", "loss", "lr", "grad_norm", "tok_s")
EVAL_FIELDS = ("id", "run_id", "step", "t", "val_loss", "val_bpb", "reward", "size_mb")
METRIC_FIELDS = ("id", "run_id", "step", "t", "name", "value")
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


def empty_columns(dtype: Any) -> dict[str, Any]:
    """Zero-length columns of a record layout: what a reader returns before any row exists."""
    return {name: np.empty(0, dtype=dtype[name]) for name in dtype.names}


DDL = """
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
CREATE TABLE IF NOT EXISTS metrics(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  t REAL NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  superseded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS metrics_run_name_step ON metrics(run_id, name, step);
CREATE TABLE IF NOT EXISTS step_blocks(
  last_id INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL,
  n INTEGER NOT NULL,
  run_lo INTEGER NOT NULL,
  run_hi INTEGER NOT NULL,
  data BLOB NOT NULL
);
"""

INSERT_STEP = (
    "INSERT INTO steps(run_id, step, t, loss, lr, grad_norm, tok_s) VALUES (?,?,?,?,?,?,?)"
)
INSERT_EVAL = (
    "INSERT INTO evals(run_id, step, t, val_loss, val_bpb, reward, size_mb) VALUES (?,?,?,?,?,?,?)"
)
INSERT_METRIC = "INSERT INTO metrics(run_id, step, t, name, value) VALUES (?,?,?,?,?)"
# NULL -> 'nan', which numpy parses, so np.fromiter stays on its fast path.
STEP_SELECT = (
    "SELECT id, run_id, step, t, ifnull(loss,'nan'), ifnull(lr,'nan'), "
    "ifnull(grad_norm,'nan'), ifnull(tok_s,'nan') FROM steps"
)
EVAL_SELECT = (
    "SELECT id, run_id, step, t, ifnull(val_loss,'nan'), ifnull(val_bpb,'nan'), "
    "ifnull(reward,'nan'), ifnull(size_mb,'nan') FROM evals"
)


def died_reason(pid: int | None) -> str:
    """The reason recorded (and shown before anyone records it) for a run whose trainer died."""
    return f"trainer process {pid} died (killed or crashed)"
