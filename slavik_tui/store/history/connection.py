"""One connection to `history.sqlite`: opening it as the writer or a read-only viewer,
transactions, and turning a damaged file into one line for the user.

SQLite in WAL mode with `synchronous=NORMAL` and a 5 s busy timeout. The trainer is the only
regular writer (it holds the model's `.lock`); any number of readers (UI, CLI) poll the file
at the same time, read-only, and fetch only rows with an id above the last one they saw.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import threading
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from slavik_tui.errors import UserError
from slavik_tui.store.history.schema import (
    BUSY_TIMEOUT_MS, DDL, OLDEST_READABLE, SCHEMA_VERSION,
)

# SQLite's primary result codes for a file that is not (or no longer) a database. Busy, locked,
# full and I/O errors are something else and keep their own exception.
_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT}


def is_damage(exc: sqlite3.Error) -> bool:
    """Does this error say the file's bytes are not a sound database?"""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _DAMAGE_CODES


def locked(method: Callable) -> Callable:
    """One call at a time on the shared connection; a damaged file becomes a UserError, so
    every reader and writer answers a garbage history with one line, never a traceback."""

    @functools.wraps(method)
    def wrapper(self: "HistoryFile", *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                if is_damage(exc):
                    raise self.damaged(exc) from None
                raise

    return wrapper


class HistoryFile:
    """The connection, the mutex that guards it, and its transactions. `readonly=True` for
    viewers (a missing file reads as an empty history and is picked up once the trainer
    creates it)."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.model_name = self.path.parent.name
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._ready = False  # schema present
        self.version = 0  # the file's schema version once read (readers accept older ones)
        self._stats_cache: dict[int, tuple[dict, dict]] = {}  # readers: ended runs never change
        try:
            if readonly:
                self._connect_reader()
            else:
                self._connect_writer()
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError) and is_damage(exc):
                raise self.damaged(exc) from None
            raise

    # ---- errors ---------------------------------------------------------------------------
    def damaged(self, exc: Exception) -> UserError:
        """The one line for a file that is not a database. SQLite replays a `-wal` beside the
        file into whatever file takes its name, so the advice moves all three away."""
        name = self.path.name
        return UserError(
            f"{self.path} is not a readable SQLite database ({exc}); move it and any "
            f"{name}-wal and {name}-shm beside it out of {self.path.parent}, and the next "
            "training run starts a fresh history"
        )

    def unknown_run(self, run_id: int) -> UserError:
        return UserError(
            f"no run {run_id} in model '{self.model_name}'; "
            f"see `slavik-tui runs {self.model_name}`"
        )

    def _refuse_non_regular(self) -> None:
        """A model folder may come from someone else: never open a history through a link."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise UserError(
                f"{self.path} is {kind}; slavik-tui opens only a real history file there: "
                "move it out of the folder and the next training run starts a fresh history"
            )

    # ---- connections ------------------------------------------------------------------------
    def _open(self, target: str, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,  # one connection, guarded by self._mutex
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return conn

    def _check_version(self) -> int:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:  # the first read of the file's header
            raise self.damaged(exc) from None
        self.version = version
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{self.path} was written by a newer slavik-tui (history schema {version}, "
                f"this one reads up to {SCHEMA_VERSION}); upgrade slavik-tui"
            )
        return version

    def _connect_reader(self) -> bool:
        if self._conn is None:
            self._refuse_non_regular()
            if not self.path.is_file():
                return False
            uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
            self._conn = self._open(uri, uri=True)
        if not self._ready:
            self._ready = self._check_version() >= OLDEST_READABLE
        return self._ready

    def _connect_writer(self) -> None:
        if not self.path.parent.is_dir():
            raise UserError(
                f"cannot open {self.path}: folder {self.path.parent} does not exist; "
                "see `slavik-tui models`"
            )
        self._refuse_non_regular()
        self._conn = self._open(str(self.path), uri=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            # Any failure here (even "locked" on a file SQLite cannot parse) means the file is
            # unusable as our history.
            raise self.damaged(exc) from None
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if self._check_version() < SCHEMA_VERSION:
            with self._tx():
                if self._conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    for stmt in DDL.split(";"):
                        if stmt.strip():
                            self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.version = SCHEMA_VERSION
        self._ready = True

    def _covered(self) -> int:
        """The highest steps id already packed into a block (0 when none is)."""
        return self._conn.execute("SELECT coalesce(max(last_id), 0) FROM step_blocks").fetchone()[0]

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

    # ---- transactions -----------------------------------------------------------------------
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

    @locked
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._ready = False

    def __enter__(self) -> "HistoryFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
