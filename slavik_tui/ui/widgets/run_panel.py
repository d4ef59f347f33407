"""The run of the model on the Training screen: its progress line and live chart, the worker
that watches its history, and the workers that start and stop its trainer.

The trainer never runs inside the app: Start launches `slavik-tui train NAME …` as a detached
process (`runs.start_detached`), so the run survives the app, the terminal and the SSH
session. The panel only *watches* the model's history with `runs.watch.RunWatcher` in a thread
worker: the whole curve once, then every POLL_SECONDS the rows written since and, when the
lock's holder changes, a snapshot of the newest run. The worker posts messages; the UI thread
appends them to the chart, which repaints on its own timer (a few times a second at most).
Opening the screen on a model whose trainer is running (or `slavik-tui watch NAME`) is the same
code path: the first poll finds the live run, so the panel re-attaches to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.worker import get_current_worker

from slavik_tui.charts.feed import append_rows, fill_chart
from slavik_tui.errors import UserError
from slavik_tui.runs import watch
from slavik_tui.ui.chart.widget import MetricsChart, training_series
from slavik_tui.ui.widgets import stopping
from slavik_tui.ui.widgets.train_progress import TrainProgress


RESUME_TAIL = "; ctrl+r resumes it"
"""How `runs.live` ends the notice of a resumable stopped run (the panel says it its way)."""


class RunPanel(Vertical):
    """Progress line over the live chart of one model; posts `Changed` whenever what it knows
    of the run changed (the screen's keys and hints follow it)."""

    # ---- messages: from its workers (nested, posted to the panel, bubbling on) -----------
    @dataclass
    class Curve(Message):
        """The model's whole curve so far."""

        model: str
        curve: watch.Curve

    @dataclass
    class Rows(Message):
        """Rows written since the last poll."""

        model: str
        rows: watch.Rows

    @dataclass
    class State(Message):
        """The newest run and the lock's holder, read after the holder changed."""

        model: str
        snapshot: watch.RunSnapshot

    @dataclass
    class Problem(Message):
        """The history could not be read (a one-line reason)."""

        model: str
        error: str

    @dataclass
    class Started(Message):
        """A detached trainer was started for the model."""

        model: str
        run_id: int
        pid: int
        log_path: Path
        had_data: bool

    @dataclass
    class StartFailed(Message):
        """The trainer could not be started (a one-line reason; `field` as UserError's)."""

        model: str
        error: str
        data: list = field(default_factory=list)  # the dataset paths Start was given
        field: str | None = None

    @dataclass
    class StopDone(Message):
        """`runs.stop` returned (the trainer is gone) or failed with `error`."""

        model: str
        pid: int | None
        error: str | None = None
        killed: tuple[int | None, int] | None = None  # stop now: (run id, checkpoint step)

    @dataclass
    class Changed(Message):
        """What the panel knows of the run changed (to the screen; the newest is enough)."""

        panel: RunPanel

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunPanel.Changed)

    # ---- set-up -----------------------------------------------------------------------------
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.live = watch.LiveRun()
        self.problem: str | None = None
        """Shown instead of the usual hint (an unreadable history, a missing model)."""
        self._watcher: watch.RunWatcher | None = None
        self._stop_step: int | None = None  # the step shown when stop was asked
        self._stop_dir: Path | None = None
        self._stop_phase: str | None = None
        self._killed: set[int] = set()  # runs whose kill (stop now) was told already
        self._kill_question: tuple[Any, int] | None = None  # (the open dialog, its pid)
        self.ctrl_r: Callable[[Any, int, bool], str] | None = None
        """What ctrl+r would do after `run` ended at checkpoint `step` (`resumable` as the
        snapshot says): the screen's words (they depend on the form), so the toast of a
        stopped run says the same as the progress line."""

    def compose(self) -> ComposeResult:
        yield TrainProgress(id="train-progress")
        yield MetricsChart.for_run(id="train-chart")

    @property
    def chart(self) -> MetricsChart:
        return self.query_one("#train-chart", MetricsChart)

    @property
    def model(self) -> str | None:
        return self.live.model

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def show_model(self, name: str | None, model_dir: Path | None,
                   problem: str | None = None) -> None:
        """Forget the run shown, reset the chart and follow `name` (None: nothing)."""
        self.live = watch.LiveRun(name)
        self.problem = problem
        chart = self.chart
        chart.remove_all()
        for series in training_series():
            series.s0 = 0.0  # every run of the model: steps since its start count from 0
            chart.add_series(series)
        chart.title = name or ""
        chart.live = False  # until a running trainer is found
        chart.save_dir = model_dir / "charts" if model_dir else None
        if self._watcher is not None:
            self._watcher.kick()  # the old worker wakes up to see it is cancelled
        if name and model_dir:
            self._watcher = watch.RunWatcher(model_dir)
            self._follow(name, self._watcher)
        else:
            self._watcher = None
            self.workers.cancel_group(self, "follow")

    def kick(self) -> None:
        """Poll now (after a start or a stop), not at the next tick."""
        if self._watcher is not None:
            self._watcher.kick()

    def show_progress(self, hint: str) -> None:
        p = self.live.progress
        if self.live.starting and not self.live.live_pid:
            p.status = "starting"
        p.hint = hint
        self.query_one(TrainProgress).show(p)

    def _tick(self) -> None:
        if self.live.progress.live:
            self.query_one(TrainProgress).show()
        if self.live.stopping and self._stop_dir is not None:
            phase = self.stop_phase()  # the save shows in no row: look at the checkpoint
            if phase != self._stop_phase:
                self._stop_phase = phase
                self._changed()

    def _changed(self) -> None:
        # "● live" on the chart only while rows may still arrive (a trainer runs or starts)
        self.chart.live = self.live.busy
        self._close_kill_question()
        self.post_message(self.Changed(self))

    # ---- following the history (thread) --------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self, name: str, watcher: watch.RunWatcher) -> None:
        worker = get_current_worker()
        wrap = {watch.Curve: self.Curve, watch.Rows: self.Rows, watch.RunSnapshot: self.State}
        try:
            for event in watcher.events(lambda: worker.is_cancelled):
                self.post_message(wrap[type(event)](name, event))
        except UserError as exc:
            self.post_message(self.Problem(name, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a broken file must not end the app
            self.post_message(self.Problem(name, f"cannot read {watcher.follower.path}: {exc}"))
        finally:
            watcher.close()

    @on(Curve)
    def _on_curve(self, message: RunPanel.Curve) -> None:
        if message.model != self.model:
            return
        fill_chart(self.chart, message.curve.steps, message.curve.evals)
        self.live.curve(message.curve)
        self._changed()

    @on(Rows)
    def _on_rows(self, message: RunPanel.Rows) -> None:
        if message.model != self.model:
            return
        append_rows(self.chart, message.rows.steps, message.rows.evals)
        self.live.rows(message.rows)
        self._changed()

    @on(State)
    def _on_state(self, message: RunPanel.State) -> None:
        if message.model != self.model:
            return
        snap = message.snapshot
        for notice in self.live.update(snap):
            text = self._told(notice.text, snap)
            if text:
                self.notify(text, severity=notice.severity, timeout=notice.timeout)
        self._changed()

    def _told(self, text: str, snap: watch.RunSnapshot) -> str | None:
        """A notice with the screen's words for ctrl+r when the run stopped (None: told
        already, by the kill's own notice)."""
        run = snap.run
        if self.ctrl_r is None or snap.live_pid or run is None or run.status != "stopped":
            return text
        if run.id in self._killed:
            return None
        text = text.removesuffix(RESUME_TAIL)
        return f"{text}; {self.ctrl_r(run, snap.checkpoint_step, snap.resumable)}"

    @on(Problem)
    def _on_problem(self, message: RunPanel.Problem) -> None:
        if message.model != self.model:
            return
        self.problem = message.error
        self.notify(message.error, severity="error", timeout=12)
        self._changed()

    # ---- start and stop the trainer (threads) ----------------------------------------------
    def start(self, models_root: Path, args: list[str], data: list[str],
              command: str = "train") -> None:
        """Launch a detached trainer of the model shown: `command` (train, rl) with its
        flags `args`."""
        self.live.starting = True
        self._changed()
        self._start_trainer(models_root, self.model, args, data, command)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _start_trainer(self, models_root: Path, name: str, args: list[str],
                       data: list[str], command: str = "train") -> None:
        from slavik_tui import runs

        try:
            run = runs.start_detached(models_root, name, args, command=command)
        except UserError as exc:
            self.post_message(self.StartFailed(name, str(exc), data, exc.field))
        except OSError as exc:
            self.post_message(self.StartFailed(name, f"could not start the trainer: {exc}"))
        else:
            self.post_message(self.Started(name, run.run_id, run.pid, run.log_path, bool(data)))

    @on(Started)
    def _on_started(self, message: RunPanel.Started) -> None:
        if message.model != self.model:
            message.stop()
            return
        self.live.starting = False
        self.notify(f"run {message.run_id} of '{message.model}' is training in the background "
                    f"(pid {message.pid}); it goes on if you quit or the connection drops — "
                    f"ctrl+t stops it", timeout=8)
        self.kick()

    @on(StartFailed)
    def _on_start_failed(self, message: RunPanel.StartFailed) -> None:
        if message.model != self.model:
            message.stop()
            return
        self.live.start_failed()
        self.notify(message.error, title="could not start training", severity="error",
                    timeout=12)

    def stop(self, model_dir: Path) -> None:
        """Ask the trainer to stop (it finishes the step and saves a checkpoint)."""
        if self.live.stopping:
            return
        self.live.stopping = True
        self.live.progress.status = "stopping"
        self._stop_step, self._stop_dir = self.live.progress.step, model_dir
        self._stop_phase = None
        self._changed()
        self._stop_trainer(self.model, model_dir)

    def stop_phase(self) -> str:
        """What the graceful stop waits for now (the step, the save, the last eval)."""
        saved = stopping.saved_step(self._stop_dir) if self._stop_dir else 0
        return stopping.stop_phase(self._stop_step, self.live.progress.step, saved)

    def stop_now(self, model_dir: Path) -> None:
        """Kill the trainer (SIGKILL): the steps since the last checkpoint are lost."""
        self.live.stopping = True
        self.live.progress.status = "stopping"
        self._changed()
        self._kill_trainer(self.model, model_dir)

    def ask_stop_now(self, model_dir: Path) -> None:
        """The second ctrl+t: kill the trainer after a confirmation (the question closes,
        with a note, when the trainer exits by itself meanwhile)."""
        from slavik_tui.ui.screens.confirm import ConfirmScreen

        pid = self.live.live_pid
        if not pid or self._kill_question is not None:
            return
        question = stopping.kill_question(pid, self.live.progress.step,
                                          stopping.saved_step(model_dir))
        dialog = ConfirmScreen("Stop now?", question, yes="Stop now")

        def answered(yes: bool | None) -> None:
            self._kill_question = None
            if yes and self.live.live_pid == pid:
                self.stop_now(model_dir)

        self._kill_question = (dialog, pid)
        self.app.push_screen(dialog, answered)

    def _close_kill_question(self) -> None:
        """The trainer the open stop-now question is about has gone: nothing to kill."""
        if self._kill_question is None or self.live.live_pid == self._kill_question[1]:
            return
        dialog, pid = self._kill_question
        self._kill_question = None
        if self.app.screen is dialog:
            dialog.dismiss(False)
        self.notify(f"the trainer of '{self.model}' (pid {pid}) exited by itself: "
                    "nothing to stop now", timeout=8)

    @work(thread=True, exclusive=True, group="kill", exit_on_error=False)
    def _kill_trainer(self, name: str, model_dir: Path) -> None:
        try:
            pid, run_id, saved = stopping.kill_trainer(model_dir)
        except UserError as exc:
            self.post_message(self.StopDone(name, None, str(exc)))
        else:
            self.post_message(self.StopDone(name, pid, killed=(run_id, saved)))

    @work(thread=True, exclusive=True, group="stop", exit_on_error=False)
    def _stop_trainer(self, name: str, model_dir: Path) -> None:
        from slavik_tui import runs

        try:
            pid = runs.stop(model_dir, timeout=300, wait=True)
        except UserError as exc:
            self.post_message(self.StopDone(name, None, str(exc)))
        else:
            self.post_message(self.StopDone(name, pid))

    @on(StopDone)
    def _on_stop_done(self, message: RunPanel.StopDone) -> None:
        if message.model != self.model:
            return
        if message.error:  # on success the follow worker sees the run end and says so
            self.live.stopping = False
            self.notify(message.error, severity="error", timeout=10)
        elif message.killed is not None:
            self._tell_killed(message.pid, *message.killed)
        self.kick()
        self._changed()

    def _tell_killed(self, pid: int | None, run_id: int | None, saved: int) -> None:
        """Stop now's notice (the run's own "stopped" notice is left out: it would say a
        checkpoint was saved), with what ctrl+r does now: the run stopped at `saved`."""
        text = (f"killed the trainer of '{self.model}' (pid {pid}); run {run_id} is recorded "
                f"as stopped at its last checkpoint, step {saved}")
        snap = self.live.snapshot
        run = snap.run if snap is not None else None
        if run_id is not None and run is not None and run.id == run_id:
            self._killed.add(run_id)
            if self.ctrl_r is not None:
                text += f"; {self.ctrl_r(run, saved, watch.is_resumable(run, saved))}"
        self.notify(text, timeout=10)

    def series_lengths(self) -> dict[str, int]:
        return {s.key: len(s) for s in self.chart.series}
