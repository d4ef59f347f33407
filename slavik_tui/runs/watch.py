"""Watching a run: read what a trainer appends to a model's history, a poll at a time.

Three pieces, no torch and no UI, used by the app's Training screen (which is also what
`slavik-tui watch NAME` opens) and History screen:

* `RunFollower` hands out the history rows written since the last poll;
* `RunWatcher` is the poll loop of one model: the whole curve once, then every POLL_SECONDS
  the new rows and, when the trainer holding the model's lock changes, a `RunSnapshot`;
* `LiveRun` (runs/live.py, re-exported here) is what a watcher has seen so far, as plain
  data: the `RunProgress` of the newest run (step, last values, the ETA's inputs) and the
  notices a user should get when a trainer starts, or a run ends.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from slavik_tui.errors import UserError
from slavik_tui.runs.live import (  # noqa: F401 - the plain data, re-exported for importers
    Curve,
    LiveRun,
    Notice,
    Rows,
    RunProgress,
    RunSnapshot,
    is_resumable,
)
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.history import History
from slavik_tui.store.lock import lock_holder

__all__ = ["Curve", "LiveRun", "Notice", "POLL_SECONDS", "RunFollower", "RunProgress",
           "RunSnapshot", "RunWatcher", "Rows", "is_resumable"]

POLL_SECONDS = 0.5
"""How often a watched model's history is read for new rows."""


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
        self.last_metric_id = 0
        """Id of the newest metrics row handed out by `poll_metrics`."""
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

    def poll_metrics(self, limit: int | None = None) -> list[tuple]:
        """Named-metrics rows (`History.new_metrics` tuples) written since the last call; the
        first call hands out every row so far (feed them to `charts.feed.append_metric_rows`)."""
        rows = self.history.new_metrics(self.last_metric_id, self.run_id, limit=limit)
        if rows:
            self.last_metric_id = int(rows[-1][0])
        return rows

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None


def _checkpoint_step(folder: ModelFolder) -> int:
    try:
        return folder.saved_step()
    except UserError:  # a damaged record: the trainer says so when it starts
        return 0


class RunWatcher:
    """The poll loop of one model folder. `events()` yields a `Curve` first, then `Rows` as
    they land and a `RunSnapshot` whenever the lock's holder changes (and until a new
    trainer's run shows up in the history). `kick()` (any thread) ends the current wait."""

    def __init__(self, model_dir: str | os.PathLike, poll_seconds: float = POLL_SECONDS) -> None:
        self.folder = ModelFolder(model_dir)
        self.follower = RunFollower(self.folder.history)
        self.poll_seconds = poll_seconds
        self._kick = threading.Event()

    def kick(self) -> None:
        self._kick.set()

    def snapshot(self, pid: int | None) -> RunSnapshot:
        """The newest run and the checkpoint, read now; `pid` is the lock's holder."""
        runs = self.follower.history.runs()
        run = runs[0] if runs else None
        if run is not None and run.status == "running" and not pid:
            pid = lock_holder(self.folder.path)  # it may have started since the probe
        step = _checkpoint_step(self.folder)
        return RunSnapshot(run, pid, step, is_resumable(run, step, pid))

    def events(self, cancelled: Callable[[], bool] = lambda: False
               ) -> Iterator[Curve | Rows | RunSnapshot]:
        """Until `cancelled()`; raises UserError (or sqlite's errors) when the history cannot
        be read."""
        yield Curve(*self.follower.load_all(), metrics=self.follower.poll_metrics())
        last_pid: object = object()  # differs from any pid: read the state the first time
        waiting_for_run = False
        while not cancelled():
            pid = lock_holder(self.folder.path)
            steps, evals = self.follower.poll()
            metrics = self.follower.poll_metrics()
            if cancelled():
                return
            if steps or evals or metrics:
                yield Rows(steps, evals, metrics)
            if pid != last_pid or waiting_for_run:
                snap = self.snapshot(pid)
                run = snap.run
                # A trainer takes the lock a moment before it records its run.
                waiting_for_run = bool(snap.live_pid) and (
                    run is None or run.pid != snap.live_pid or run.status != "running")
                last_pid = snap.live_pid
                yield snap
            self._kick.wait(self.poll_seconds)
            self._kick.clear()

    def close(self) -> None:
        self.follower.close()
