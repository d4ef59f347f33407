"""Watching a run: read what a trainer appends to a model's history, a poll at a time.

Used by the app's Training and History screens and by `slavik-tui watch` alike. No torch, no UI.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from slavik_tui.store.history import History

__all__ = ["RunFollower"]


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
