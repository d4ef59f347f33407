"""What a watcher of a run has seen, as plain data (no torch, no UI, no files read here):

* `Curve` / `Rows` / `RunSnapshot`: what the poll loop (`runs.watch.RunWatcher`) reports —
  the whole curve once, the rows since the last poll, the newest run and the lock's holder;
* `RunProgress`: the newest run as far as it is known (step, last values, the ETA's inputs);
* `LiveRun`: all of it together, and the `Notice`s a user should get when a trainer starts
  or a run ends.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ETA_WINDOW = 200  # recent steps the ETA is measured over
TOK_S_WINDOW = 25  # steps whose median tokens/s is shown


# ---- what the poll loop reports -----------------------------------------------------------
@dataclass
class Curve:
    """The model's whole curve so far (`RunFollower.load_all` arrays)."""

    steps: dict
    evals: dict
    metrics: list = field(default_factory=list)
    """Its named-metrics rows so far (`RunFollower.poll_metrics`)."""


@dataclass
class Rows:
    """Rows written since the last poll (`RunFollower.poll` tuples)."""

    steps: list
    evals: list
    metrics: list = field(default_factory=list)
    """Named-metrics rows written since the last poll (`RunFollower.poll_metrics`)."""


@dataclass
class RunSnapshot:
    """The model's newest run as the poll loop last read it (plain data, thread-safe)."""

    run: Any | None  # store.history.RunInfo of the newest run, None when there is none
    live_pid: int | None  # the trainer holding the model's lock (None: nobody trains it)
    checkpoint_step: int
    resumable: bool  # Start without --iters continues the newest run's plan


def is_resumable(run: Any | None, ckpt_step: int, live_pid: int | None = None) -> bool:
    """The trainer resumes an unfinished plan when started without --iters (make_plan):
    the newest run ended before its target (stopped, failed, or its trainer died without
    closing it) and the checkpoint is short of that target."""
    if run is None or live_pid:
        return False
    return (run.status in ("stopped", "failed", "running") and run.target_step is not None
            and ckpt_step < run.target_step)


# ---- what a watcher has seen ---------------------------------------------------------------
@dataclass
class RunProgress:
    """The newest run of a model as far as it is known; None = not known (yet)."""

    model: str | None = None
    run_id: int | None = None
    status: str | None = None  # running | finished | stopped | failed | starting | stopping | gone
    reason: str | None = None
    pid: int | None = None
    start_step: int | None = None
    target_step: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    tokens_per_step: int | None = None
    step: int | None = None
    loss: float | None = None
    val_loss: float | None = None
    reward: float | None = None
    tok_s: float | None = None
    recent: deque = field(default_factory=lambda: deque(maxlen=ETA_WINDOW))
    """(step, unix time) of the run's latest steps, for the ETA."""
    recent_tok_s: deque = field(default_factory=lambda: deque(maxlen=TOK_S_WINDOW))
    """tokens/s of the latest steps: the line shows their median (one step is noisy)."""
    hint: str = ""
    """Shown when there is no run to speak of."""

    def add_step(self, run_id: int, step: int, t: float, loss: float | None,
                 tok_s: float | None) -> None:
        """One steps row of the model's curve (a new run id starts a fresh window)."""
        self.new_run(run_id)
        self.step, self.loss = step, loss
        self.recent.append((step, t))
        if tok_s is not None and not math.isnan(tok_s):
            self.recent_tok_s.append(tok_s)
            self.tok_s = float(np.median(self.recent_tok_s))

    def add_curve(self, steps: dict, evals: dict) -> None:
        """A `load_all` curve: the newest run's last steps and the last eval."""
        if len(steps["step"]):
            run_id = int(steps["run_id"][int(np.argmax(steps["id"]))])  # the newest row's run
            idx = np.flatnonzero(steps["run_id"] == run_id)[-ETA_WINDOW:]
            for st, t, loss, tok_s in zip(steps["step"][idx].tolist(), steps["t"][idx].tolist(),
                                          steps["loss"][idx].tolist(),
                                          steps["tok_s"][idx].tolist()):
                self.add_step(run_id, st, t, loss, tok_s)
        if len(evals["step"]):
            last = int(np.argmax(evals["id"]))
            self.val_loss, self.reward = float(evals["val_loss"][last]), float(evals["reward"][last])

    def add_rows(self, steps: list[tuple], evals: list[tuple]) -> None:
        """`RunFollower.poll` rows."""
        for _id, run_id, step, t, loss, _lr, _grad_norm, tok_s in steps:
            self.add_step(run_id, step, t, loss, tok_s)
        if evals:
            row = evals[-1]
            self.val_loss, self.reward = row[4], row[6]

    def new_run(self, run_id: int) -> None:
        if run_id != self.run_id:
            self.run_id = run_id
            self.recent.clear()
            self.recent_tok_s.clear()

    def set_run(self, run: Any, live_pid: int | None) -> None:
        """The newest run's summary (`RunInfo`); a 'running' run nobody holds the lock of is
        'gone' (its trainer was killed or crashed)."""
        self.new_run(run.id)
        self.reason, self.pid = run.reason, run.pid
        self.start_step, self.target_step = run.start_step, run.target_step
        self.started_at, self.ended_at = run.started_at, run.ended_at
        cfg = run.config or {}
        try:
            self.tokens_per_step = (int(cfg["batch_size"]) * int(cfg.get("grad_accum", 1))
                                    * int(cfg["model"]["context"]))
        except (KeyError, TypeError, ValueError):
            self.tokens_per_step = None
        self.status = run.status
        if run.status == "running" and not live_pid:
            self.status = "gone"
            self.reason = (f"the trainer (pid {run.pid}) is gone without closing its run "
                           "(killed or crashed); ctrl+r resumes from the last checkpoint")

    @property
    def live(self) -> bool:
        return self.status in ("running", "starting", "stopping")

    def seconds_per_step(self) -> float | None:
        """Wall time per step over the recent window (evals and checkpoints included), else
        from tokens/s."""
        if len(self.recent) >= 2:
            (s0, t0), (s1, t1) = self.recent[0], self.recent[-1]
            if s1 > s0 and t1 >= t0:
                return (t1 - t0) / (s1 - s0)
        if self.tok_s and self.tokens_per_step:
            return self.tokens_per_step / self.tok_s
        return None

    def eta(self) -> float | None:
        if self.target_step is None or self.step is None:
            return None
        per_step = self.seconds_per_step()
        if per_step is None:
            return None
        return max(0, self.target_step - self.step) * per_step

    def elapsed(self, now: float | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)


@dataclass
class Notice:
    """Something a watcher of the run should be told (a notification in the app)."""

    text: str
    severity: str = "information"
    timeout: float = 8


class LiveRun:
    """What the poll loop of one model has reported so far, and what the user asked of it
    (`starting`, `stopping`): the progress shown, the snapshot the keys depend on."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.progress = RunProgress(model=model)
        self.snapshot: RunSnapshot | None = None
        self.starting = False
        self.stopping = False
        self.has_curve = False
        self.curve_known = False
        """The first `Curve` has arrived (until then nothing is known about the model)."""
        self._announced: set[int] = set()  # runs whose end was already told

    @property
    def live_pid(self) -> int | None:
        return self.snapshot.live_pid if self.snapshot else None

    @property
    def resumable(self) -> bool:
        return bool(self.snapshot and self.snapshot.resumable)

    @property
    def busy(self) -> bool:
        """A trainer runs, or is being started: Start is off, Stop is the key."""
        return bool(self.live_pid) or self.starting

    def curve(self, curve: Curve) -> None:
        self.progress.add_curve(curve.steps, curve.evals)
        self.has_curve = len(curve.steps["step"]) > 0
        self.curve_known = True

    def rows(self, rows: Rows) -> None:
        self.progress.add_rows(rows.steps, rows.evals)
        self.has_curve = True

    def update(self, snap: RunSnapshot) -> list[Notice]:
        """A new snapshot; returns what to tell the user about the change."""
        before, self.snapshot = self.snapshot, snap
        run, p = snap.run, self.progress
        if run is not None:
            p.set_run(run, snap.live_pid)
        notices: list[Notice] = []
        if snap.live_pid:
            if self.starting and run is not None and run.pid == snap.live_pid:
                self.starting = False
            if run is None or run.pid != snap.live_pid or run.status != "running":
                p.status = "starting"  # lock taken, run not recorded yet
            elif self.stopping:
                p.status = "stopping"
            if before is not None and not before.live_pid and not self.starting:
                notices.append(Notice(f"a trainer (pid {snap.live_pid}) started on "
                                      f"'{self.model}'; following it", timeout=5))
            elif before is None and run is not None and run.status == "running":
                notices.append(Notice(
                    f"run {run.id} of '{self.model}' is training in the background "
                    f"(pid {run.pid}); following it — ctrl+t stops it", timeout=6))
        else:
            self.stopping = False
            # the run we watched ended (or the trainer we followed went away)
            if (run is not None and run.status != "running" and before is not None
                    and (before.live_pid or (before.run is not None and before.run.id == run.id
                                             and before.run.status == "running"))):
                notices += self._end_notice(run, snap.resumable)
        return notices

    def _end_notice(self, run: Any, resumable: bool) -> list[Notice]:
        if run.id in self._announced:
            return []
        self._announced.add(run.id)
        step = run.last_step if run.last_step is not None else "?"
        if run.status == "finished":
            return [Notice(f"run {run.id} of '{self.model}' finished at step {step}")]
        if run.status == "stopped":
            tail = "; ctrl+r resumes it" if resumable else ""
            return [Notice(f"run {run.id} of '{self.model}' stopped at step {step}, checkpoint "
                           f"saved{tail}")]
        return [Notice(f"run {run.id} of '{self.model}' failed: {run.reason or 'no reason'}",
                       severity="error", timeout=12)]

    def start_failed(self) -> None:
        """Starting a trainer failed: the progress shows the newest run again."""
        self.starting = False
        if self.progress.status == "starting":
            self.progress.status = self.snapshot.run.status if (
                self.snapshot and self.snapshot.run) else None
