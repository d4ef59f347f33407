"""The Training screen: pick a model, set up a run, start it, watch it learn, stop it.

The trainer never runs inside the app: Start launches `slavik-tui train NAME … ` as a detached
process (`runs.start_detached`), so the run survives the app, the terminal and the SSH session.
The screen only *watches* the model's `history.sqlite`:

* one thread worker per shown model loads the whole curve once (`RunFollower.load_all`), then
  every POLL_SECONDS asks who holds the model's lock (`lock_holder`, a cheap flock probe) and
  reads only the rows written since (`RunFollower.poll`). It posts messages; the UI thread
  appends them to the chart, which repaints on its own timer (a few times a second at most).
* run summaries (`History.runs()`) are read only when something changes: a trainer appears or
  goes away, or a new run has not shown up in the history yet.

Opening the screen on a model whose trainer is running (or `slavik-tui watch NAME`) is the
same code path: the first poll finds the live run, so the screen re-attaches to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Header, Select, Static
from textual.worker import get_current_worker

from slavik_tui.errors import UserError
from slavik_tui.store.lock import lock_holder
from slavik_tui.store.workspace import resolve_models_dir
from slavik_tui.charts.feed import append_rows, fill_chart
from slavik_tui.runs.watch import RunFollower
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.chart.widget import MetricsChart, training_series
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.model_details import read_datasets
from slavik_tui.ui.widgets.path_input import PathInput
from slavik_tui.ui.widgets.train_form import TrainForm, command_line, train_args
from slavik_tui.ui.widgets.train_progress import ETA_WINDOW, RunProgress, TrainProgress

POLL_SECONDS = 0.5
"""How often the history is read for new rows while the screen is shown."""
WIDE = 100
"""From this many columns the form sits left of the chart; below, it is toggled with f."""


# ---- what the follow worker reports ---------------------------------------------------------
@dataclass
class RunSnapshot:
    """The model's newest run as the worker last read it (plain data, thread-safe to pass)."""

    run: Any | None  # store.history.RunInfo of the newest run, None when there is none
    live_pid: int | None  # the trainer holding the model's lock (None: nobody trains it)
    checkpoint_step: int
    resumable: bool  # Start without --iters continues the newest run's plan


def checkpoint_step(model_dir: Path) -> int:
    import json

    try:
        return int(json.loads((model_dir / "checkpoint.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def is_resumable(run: Any | None, ckpt_step: int, live_pid: int | None = None) -> bool:
    """The trainer resumes an unfinished plan when started without --iters (make_plan):
    the newest run ended before its target (stopped, failed, or its trainer died without
    closing it) and the checkpoint is short of that target."""
    if run is None or live_pid:
        return False
    return (run.status in ("stopped", "failed", "running") and run.target_step is not None
            and ckpt_step < run.target_step)


class TrainingScreen(Screen):
    """Train and watch one model: form (left or toggled), progress line, live chart."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    DEFAULT_CSS = """
    TrainingScreen #train-body { layout: horizontal; height: 1fr; }
    TrainingScreen #train-side {
        width: 46; height: 1fr; padding: 0 1;
        border-right: vkey $foreground 20%;
        scrollbar-size-vertical: 1;
    }
    TrainingScreen #train-main { width: 1fr; height: 1fr; }
    TrainingScreen #train-datasets { color: $text-muted; height: auto; margin: 0 0 1 0; }
    TrainingScreen #train-model { width: 1fr; }
    TrainingScreen.-form-hidden #train-side { display: none; }
    TrainingScreen.-narrow #train-body { layout: vertical; }
    TrainingScreen.-narrow #train-side { width: 1fr; border-right: none; }
    TrainingScreen.-narrow.-form-shown #train-chart { display: none; }
    TrainingScreen.-narrow.-form-shown #train-main { height: auto; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start('new')", "Start"),
        Binding("ctrl+r", "start('resume')", "Resume"),
        Binding("ctrl+t", "stop", "Stop"),
        Binding("f", "toggle_form", "Form"),
        Binding("ctrl+n", "focus_model", "Pick model", show=False),
        Binding("escape", "focus_chart", "Back to chart", show=False),
    ]
    HELP_WIDGETS = (MetricsChart, PathInput)

    # ---- messages (posted by the workers) -----------------------------------------------
    @dataclass
    class Curve(Message):
        """The model's whole curve so far (`load_all`)."""

        model: str
        steps: dict
        evals: dict

    @dataclass
    class Rows(Message):
        """Rows written since the last poll."""

        model: str
        steps: list
        evals: list

    @dataclass
    class State(Message):
        model: str
        snapshot: RunSnapshot

    @dataclass
    class Started(Message):
        model: str
        run_id: int
        pid: int
        log_path: Path
        had_data: bool

    @dataclass
    class StartFailed(Message):
        model: str
        error: str
        data: list = field(default_factory=list)

    @dataclass
    class Problem(Message):
        """The history could not be read (a one-line reason)."""

        model: str
        error: str

    @dataclass
    class StopDone(Message):
        model: str
        pid: int | None
        error: str | None = None

    # ---- set-up -----------------------------------------------------------------------------
    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = "slavik-tui"
        self.model = model
        self.progress = RunProgress()
        self.snapshot: RunSnapshot | None = None
        self.starting = False
        self.stopping = False
        self._form_open: bool | None = None  # None: automatic (open when wide)
        self._was_wide: bool | None = None
        self._announced: set[int] = set()  # runs whose end was already told
        self._kick = threading.Event()  # wakes the follow worker at once
        self._problem: str | None = None  # shown instead of the usual hint
        self._options: list[str] | None = None
        self._has_curve = False
        self._curve_known = False

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="train-body"):
            side = VerticalScroll(id="train-side")
            side.can_focus = False  # Tab goes field to field, not to the scroll box
            with side:
                yield FormField("model", Select([], id="train-model", compact=True,
                                                prompt="no model", allow_blank=True),
                                layout="stacked", id="trf-model")
                yield Static("", id="train-datasets", markup=False)
                yield TrainForm(id="train-form")
            with Vertical(id="train-main"):
                yield TrainProgress(id="train-progress")
                yield MetricsChart.for_run(id="train-chart")
        yield AppFooter()

    @property
    def chart(self) -> MetricsChart:
        return self.query_one("#train-chart", MetricsChart)

    @property
    def form(self) -> TrainForm:
        return self.query_one("#train-form", TrainForm)

    @property
    def models_root(self) -> Path:
        return Path(self.app.models_root)

    @property
    def model_dir(self) -> Path | None:
        return self.models_root / self.model if self.model else None

    def on_mount(self) -> None:
        self.sub_title = "Training"
        self.set_interval(1.0, self._tick)
        self._apply_layout()
        self.chart.focus()
        if self.model is None:
            self.model = getattr(self.app, "selected_model", None)
        if self.model is not None:
            self._show_model(self.model)
        self.watch(self.app, "models", self._models_changed)  # None: takes the first model

    def on_resize(self) -> None:
        wide = self.app.size.width >= WIDE
        if wide != self._was_wide:  # a choice made for one width does not carry over
            self._was_wide, self._form_open = wide, None
        self._apply_layout()

    # ---- the model ----------------------------------------------------------------------
    def _models_changed(self, models: list[Any]) -> None:
        names = [m.name for m in models]
        select = self.query_one("#train-model", Select)
        if names != self._options:
            self._options = names
            with self.prevent(Select.Changed):
                select.set_options([(n, n) for n in names])
                if self.model in names:
                    select.value = self.model
        if self.model is None:
            self._show_model(names[0] if names else None)
        self._update_datasets()

    @on(Select.Changed, "#train-model")
    def _model_picked(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL or event.value == self.model:
            return
        self._show_model(str(event.value))

    def _show_model(self, name: str | None) -> None:
        """Show `name`: reset the chart and the run state, start following its history."""
        self.model = name
        self._problem = None
        self.progress = RunProgress(model=name)
        self.snapshot = None
        self.starting = self.stopping = False
        self._has_curve = self._curve_known = False
        chart = self.chart
        chart.remove_all()
        for series in training_series():
            chart.add_series(series)
        if name:
            chart.title = name
            chart.save_dir = self.models_root / name / "charts"
            self.sub_title = f"Training · {name}"
            if self._options is not None and name in self._options:
                with self.prevent(Select.Changed):
                    self.query_one("#train-model", Select).value = name
            if not (self.models_root / name).is_dir():
                self._problem = (f"no model '{name}' in {self.models_root}; "
                                 "pick one above or create one on the Models screen (F1)")
            self._follow(name, self.models_root / name)
        else:
            chart.title = ""
            chart.save_dir = None
            self.sub_title = "Training"
            self._problem = "no model yet: create one on the Models screen (F1, then n)"
            self.workers.cancel_group(self, "follow")
        self._update_datasets()
        self._refresh_controls()

    def _update_datasets(self) -> None:
        widget = self.query_one("#train-datasets", Static)
        if not self.model_dir:
            widget.update("")
            return
        entries = read_datasets(self.model_dir)
        if not entries:
            widget.update("datasets: none")
            return
        lines = ["datasets:"]
        for d in entries:
            tokens = d.get("tokens")
            count = f"{tokens:,} tokens".replace(",", " ") if isinstance(tokens, int) else ""
            lines.append(f"  {Path(str(d.get('path', '?'))).name}  {count}")
        widget.update("\n".join(lines))

    # ---- following the history (thread) --------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self, name: str, model_dir: Path) -> None:
        worker = get_current_worker()
        follower = RunFollower(model_dir / "history.sqlite")
        try:
            steps, evals = follower.load_all()
            self.post_message(self.Curve(name, steps, evals))
            last_pid: object = object()  # differs from any pid: read the state first time
            waiting_for_run = False
            while not worker.is_cancelled:
                pid = lock_holder(model_dir)
                rows = follower.poll()
                if worker.is_cancelled:
                    break
                if rows[0] or rows[1]:
                    self.post_message(self.Rows(name, *rows))
                if pid != last_pid or waiting_for_run:
                    runs = follower.history.runs()
                    run = runs[0] if runs else None
                    if run is not None and run.status == "running" and not pid:
                        pid = lock_holder(model_dir)  # it may have started since the probe
                    # A trainer takes the lock a moment before it records its run.
                    waiting_for_run = bool(pid) and (
                        run is None or run.pid != pid or run.status != "running")
                    step = checkpoint_step(model_dir)
                    self.post_message(self.State(
                        name, RunSnapshot(run, pid, step, is_resumable(run, step, pid))))
                    last_pid = pid
                self._kick.wait(POLL_SECONDS)
                self._kick.clear()
        except UserError as exc:
            self.post_message(self.Problem(name, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a broken file must not end the app
            self.post_message(self.Problem(name, f"cannot read {follower.path}: {exc}"))
        finally:
            follower.close()

    @on(Problem)
    def _on_problem(self, message: Problem) -> None:
        if message.model != self.model:
            return
        self._problem = message.error
        self._show_progress()
        self.notify(message.error, severity="error", timeout=12)

    @on(Curve)
    def _on_curve(self, message: Curve) -> None:
        if message.model != self.model:
            return
        fill_chart(self.chart, message.steps, message.evals)
        self._has_curve = len(message.steps["step"]) > 0
        self._curve_known = True
        p = self.progress
        if len(message.steps["step"]):
            s = message.steps
            run_id = int(s["run_id"][int(np.argmax(s["id"]))])  # the newest row's run
            idx = np.flatnonzero(s["run_id"] == run_id)[-ETA_WINDOW:]
            for st, t, loss, tok_s in zip(s["step"][idx].tolist(), s["t"][idx].tolist(),
                                          s["loss"][idx].tolist(), s["tok_s"][idx].tolist()):
                p.add_step(run_id, st, t, loss, tok_s)
        if len(message.evals["step"]):
            e = message.evals
            last = int(np.argmax(e["id"]))
            p.val_loss, p.reward = float(e["val_loss"][last]), float(e["reward"][last])
        self._show_progress()
        self._apply_layout()

    @on(Rows)
    def _on_rows(self, message: Rows) -> None:
        if message.model != self.model:
            return
        append_rows(self.chart, message.steps, message.evals)
        p = self.progress
        for row in message.steps:
            _id, run_id, step, t, loss, _lr, _g, tok_s = row
            p.add_step(run_id, step, t, loss, tok_s)
        if message.evals:
            row = message.evals[-1]
            p.val_loss, p.reward = row[4], row[6]
        self._has_curve = True
        self._show_progress()

    @on(State)
    def _on_state(self, message: State) -> None:
        if message.model != self.model:
            return
        before = self.snapshot
        snap = self.snapshot = message.snapshot
        run, p = snap.run, self.progress
        if run is not None:
            p.new_run(run.id)
            p.reason, p.pid = run.reason, run.pid
            p.start_step, p.target_step = run.start_step, run.target_step
            p.started_at, p.ended_at = run.started_at, run.ended_at
            cfg = run.config or {}
            try:
                p.tokens_per_step = (int(cfg["batch_size"]) * int(cfg.get("grad_accum", 1))
                                     * int(cfg["model"]["context"]))
            except (KeyError, TypeError, ValueError):
                p.tokens_per_step = None
            p.status = run.status
            if run.status == "running" and not snap.live_pid:
                p.status = "gone"
                p.reason = (f"the trainer (pid {run.pid}) is gone without closing its run "
                            "(killed or crashed); ctrl+r resumes from the last checkpoint")
            self.form.set_placeholders(cfg, snap.resumable)
        else:
            self.form.set_placeholders({}, False)
        if snap.live_pid:
            if self.starting and run is not None and run.pid == snap.live_pid:
                self.starting = False
            if run is None or run.pid != snap.live_pid or run.status != "running":
                p.status = "starting"  # lock taken, run not recorded yet
            elif self.stopping:
                p.status = "stopping"
            if before is not None and not before.live_pid and not self.starting:
                self.notify(f"a trainer (pid {snap.live_pid}) started on '{self.model}'; "
                            "following it", timeout=5)
            elif before is None and run is not None and run.status == "running":
                self.notify(f"run {run.id} of '{self.model}' is training in the background "
                            f"(pid {run.pid}); following it — ctrl+t stops it", timeout=6)
        else:
            self.stopping = False
            # the run we watched ended (or the trainer we followed went away)
            if (run is not None and run.status != "running" and before is not None
                    and (before.live_pid or (before.run is not None and before.run.id == run.id
                                             and before.run.status == "running"))):
                self._announce_end(run, snap.resumable)
        self._show_progress()
        self._refresh_controls()
        self._apply_layout()

    def _announce_end(self, run: Any, resumable: bool) -> None:
        if run.id in self._announced:
            return
        self._announced.add(run.id)
        step = run.last_step if run.last_step is not None else "?"
        if run.status == "finished":
            self.notify(f"run {run.id} of '{self.model}' finished at step {step}", timeout=8)
        elif run.status == "stopped":
            tail = "; ctrl+r resumes it" if resumable else ""
            self.notify(f"run {run.id} of '{self.model}' stopped at step {step}, checkpoint "
                        f"saved{tail}", timeout=8)
        else:
            self.notify(f"run {run.id} of '{self.model}' failed: {run.reason or 'no reason'}",
                        severity="error", timeout=12)

    # ---- display ------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.progress.live:
            self._show_progress()

    def _show_progress(self) -> None:
        p = self.progress
        if self.starting and not (self.snapshot and self.snapshot.live_pid):
            p.status = "starting"
        p.hint = self._hint()
        self.query_one("#train-progress", TrainProgress).show(p)

    def _hint(self) -> str:
        """The second line of the progress: what is going on, or what a key would do."""
        if self._problem:
            return self._problem
        p, narrow = self.progress, self.app.size.width < WIDE
        if p.status == "starting":
            return "starting the trainer (loading torch and the data)…"
        if p.status == "stopping":
            return "finishing the step and saving a checkpoint…"
        if self.live_pid:
            return "ctrl+t stops it (it goes on if you quit)" if narrow else ""
        if self.snapshot is None:
            return "reading the history…"
        run = self.snapshot.run
        if run is None:
            return "no runs yet: ctrl+r starts one" + (" (f: settings)" if narrow else "")
        if self.resumable:
            ckpt = self.snapshot.checkpoint_step
            if self._resume_mode():
                return f"ctrl+r resumes run {run.id} from step {ckpt} to {run.target_step}"
            iters = self.form.settings.iters
            return (f"ctrl+r starts {iters} new steps; clear iters to resume run {run.id} "
                    f"(step {ckpt} → {run.target_step}) instead")
        return "ctrl+r starts a new run" + (" (f: settings)" if narrow else "")

    @property
    def live_pid(self) -> int | None:
        return self.snapshot.live_pid if self.snapshot else None

    @property
    def resumable(self) -> bool:
        return bool(self.snapshot and self.snapshot.resumable)

    def _resume_mode(self) -> bool:
        """Start would resume: the newest run is unfinished and no --iters is given."""
        try:
            iters = self.form.settings.iters
        except Exception:  # noqa: BLE001 - not mounted yet
            iters = None
        return self.resumable and iters is None

    def _refresh_controls(self) -> None:
        """Buttons, footer keys and the command line follow the state."""
        busy = bool(self.live_pid) or self.starting
        resume = self._resume_mode()
        label = "▶ Resume" if resume else "▶ Start"
        if self.starting:
            label = "starting…"
        self.form.set_buttons(label, can_start=bool(self.model) and not busy,
                              can_stop=bool(self.live_pid) and not self.stopping)
        self._update_command()
        self.refresh_bindings()

    def _update_command(self) -> None:
        if not self.model:
            self.form.set_command("")
            return
        line = command_line(self.model, self.form.settings, self._models_dir_flag())
        self.form.set_command("$ " + line)

    def _models_dir_flag(self) -> str | None:
        """--models-dir only when the default (env / ./models) would find another folder."""
        try:
            default = resolve_models_dir(None)
        except UserError:
            default = None
        root = self.models_root.resolve()
        if default == root:
            return None
        home = str(Path.home())
        text = str(root)
        return "~" + text[len(home):] if text.startswith(home + "/") else text

    @on(TrainForm.Changed)
    def _form_changed(self, event: TrainForm.Changed) -> None:
        event.stop()
        self._refresh_controls()
        self._show_progress()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            if self.live_pid or self.starting:
                return False  # Stop is the key then
            if not self.model:
                return None if parameters == ("new",) else False
            resume = self._resume_mode()
            return resume if parameters == ("resume",) else not resume
        if action == "stop":
            return bool(self.live_pid) and not self.stopping
        return True

    def _apply_layout(self) -> None:
        wide = self.app.size.width >= WIDE
        if self._form_open is None:
            # Narrow: the chart gets the room, unless there is nothing to chart yet.
            shown = wide or (self._curve_known and not self._has_curve
                             and not self.live_pid and not self.starting)
        else:
            shown = self._form_open
        changed = (shown != self.has_class("-form-shown")
                   or wide != self.has_class("-wide"))  # breakpoint classes come later
        self.set_class(shown, "-form-shown")
        self.set_class(not shown, "-form-hidden")
        focused = self.focused
        if (focused is not None and not shown and focused is not self.chart
                and any(node.id == "train-side" for node in focused.ancestors)):
            self.chart.focus()
        if shown and not wide and (focused is self.chart or focused is None):
            self.query_one("#train-model", Select).focus()  # the chart is hidden then
        elif focused is self.chart and changed:
            # A new layout may hide the chart for a frame, and a hidden widget gives its
            # focus away (to the first field): keep the chart's keys working.
            self.call_after_refresh(self._keep_chart_focus)

    def _keep_chart_focus(self) -> None:
        if self.focused is not self.chart and self.chart.display:
            self.chart.focus()

    # ---- actions ----------------------------------------------------------------------------
    def action_toggle_form(self) -> None:
        shown = self.has_class("-form-shown")
        self._form_open = not shown
        self._apply_layout()
        if self._form_open:
            if self.app.size.width < WIDE or self.focused is None:
                self.query_one("#train-model", Select).focus()
        else:
            self.chart.focus()

    def action_focus_chart(self) -> None:
        if self.app.size.width < WIDE and self.has_class("-form-shown"):
            self._form_open = False
            self._apply_layout()
        self.chart.focus()

    def action_focus_model(self) -> None:
        if not self.has_class("-form-shown"):
            self._form_open = True
            self._apply_layout()
        self.query_one("#train-model", Select).focus()

    @on(Button.Pressed, "#tf-start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_start("resume" if self._resume_mode() else "new")

    @on(Button.Pressed, "#tf-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()

    def action_start(self, mode: str = "new") -> None:
        name = self.model
        if not name:
            self.notify("No model to train: create one on the Models screen (F1, then n)",
                        severity="warning")
            return
        if self.live_pid or self.starting:
            self.notify(f"'{name}' is already being trained; ctrl+t stops it",
                        severity="warning")
            return
        if not (self.models_root / name).is_dir():
            self.notify(f"no model '{name}' in {self.models_root}; pick another one",
                        severity="error")
            return
        settings, errors = self.form.check()
        if errors:
            if not self.has_class("-form-shown"):
                self._form_open = True
                self._apply_layout()
            first = self.form.first_invalid()
            if first is not None:
                first.focus()
            self.notify("Fix the fields marked in red: " + next(iter(errors.values())),
                        severity="error", timeout=8)
            return
        self.starting = True
        self._show_progress()
        self._refresh_controls()
        self._start_trainer(self.models_root, name, train_args(settings), settings.data)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _start_trainer(self, models_root: Path, name: str, args: list[str],
                       data: list[str]) -> None:
        from slavik_tui import runs

        try:
            run = runs.start_detached(models_root, name, args)
        except UserError as exc:
            self.post_message(self.StartFailed(name, str(exc), data))
        except OSError as exc:
            self.post_message(self.StartFailed(name, f"could not start the trainer: {exc}"))
        else:
            self.post_message(self.Started(name, run.run_id, run.pid, run.log_path, bool(data)))

    @on(Started)
    def _on_started(self, message: Started) -> None:
        if message.model != self.model:
            return
        self.starting = False
        self.notify(f"run {message.run_id} of '{message.model}' is training in the background "
                    f"(pid {message.pid}); it goes on if you quit or the connection drops — "
                    f"ctrl+t stops it", timeout=8)
        if message.had_data:
            self.form.set_value("data", "")
            self._update_datasets()
        if self.app.size.width < WIDE and self._form_open:
            self._form_open = None
        self._kick.set()
        self._show_progress()
        self._refresh_controls()
        self._apply_layout()
        if self.has_class("-form-hidden") or self.app.size.width < WIDE:
            self.chart.focus()

    @on(StartFailed)
    def _on_start_failed(self, message: StartFailed) -> None:
        if message.model != self.model:
            return
        self.starting = False
        if any(path in message.error for path in message.data):
            self.form.set_error("data", message.error)
        self.notify(message.error, title="could not start training", severity="error",
                    timeout=12)
        if self.progress.status == "starting":
            self.progress.status = self.snapshot.run.status if (
                self.snapshot and self.snapshot.run) else None
        self._show_progress()
        self._refresh_controls()

    def action_stop(self) -> None:
        if not self.live_pid:
            self.notify(f"no training is running for '{self.model}'", severity="warning")
            return
        if self.stopping:
            return
        self.stopping = True
        self.progress.status = "stopping"
        self._show_progress()
        self._refresh_controls()
        self._stop_trainer(self.model, self.models_root / self.model)

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
    def _on_stop_done(self, message: StopDone) -> None:
        if message.model != self.model:
            return
        if message.error:  # on success the follow worker sees the run end and says so
            self.stopping = False
            self.notify(message.error, severity="error", timeout=10)
        self._kick.set()
        self._refresh_controls()

    # ---- for tests and the app ------------------------------------------------------------------
    def series_lengths(self) -> dict[str, int]:
        return {s.key: len(s) for s in self.chart.series}


__all__ = ["RunSnapshot", "TrainingScreen", "checkpoint_step", "is_resumable"]
