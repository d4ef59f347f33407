"""The Training screen: pick a model, set up a run, start it, watch it learn, stop it.

The form (left of the chart from WIDE columns, toggled with f below) sets up a run; the
`RunPanel` beside it watches the model's history (`runs.watch`), shows the progress line and
the live chart, and starts or stops the detached trainer. The screen keeps the two in step:
the keys, the buttons, the command line and the hint follow what the panel knows of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Header, Select

from slavik_tui.runs.watch import LiveRun
from slavik_tui.ui.chart.widget import MetricsChart
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.path_input import PathInput
from slavik_tui.ui.widgets.run_panel import RunPanel
from slavik_tui.ui.widgets.train_form import FIELD_KEYS, TrainForm, train_args
from slavik_tui.ui.widgets.stage_picker import error_field, stage_command
from slavik_tui.ui.widgets.train_side import TrainSide

WIDE = 100
"""From this many columns the form sits left of the chart; below, it is toggled with f."""


class TrainingScreen(Screen):
    """Train and watch one model: form (left or toggled), progress line, live chart."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    BINDINGS = [
        Binding("ctrl+r", "start('new')", "Start"),
        Binding("ctrl+r", "start('resume')", "Resume"),
        Binding("ctrl+t", "stop", "Stop"),
        Binding("ctrl+t", "stop_now", "Stop now"),
        Binding("f", "toggle_form", "Form"),
        Binding("ctrl+n", "focus_model", "Pick model", show=False),
        Binding("escape", "focus_chart", "Back to chart", show=False),
    ]
    HELP_WIDGETS = (MetricsChart, PathInput)

    # ---- set-up -----------------------------------------------------------------------------
    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = "slavik-tui"
        self.model = model
        self._form_open: bool | None = None  # None: automatic (open when wide)
        self._was_wide: bool | None = None
        self._seen: tuple | None = None  # (snapshot, curve known, starting, stopping) shown
        self._form_run: int | str | None = None  # the run the form shows: "start" its own

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="train-body"):
            yield TrainSide(id="train-side")
            yield RunPanel(id="train-main")
        yield AppFooter()

    @property
    def panel(self) -> RunPanel:
        return self.query_one(RunPanel)

    @property
    def live(self) -> LiveRun:
        """What the panel knows of the shown model's run (progress, snapshot, starting…)."""
        return self.panel.live

    @property
    def chart(self) -> MetricsChart:
        return self.panel.chart

    @property
    def side(self) -> TrainSide:
        return self.query_one(TrainSide)

    @property
    def form(self) -> TrainForm:
        return self.side.form

    @property
    def models_root(self) -> Path:
        return Path(self.app.models_root)

    @property
    def model_dir(self) -> Path | None:
        return self.models_root / self.model if self.model else None

    def on_mount(self) -> None:
        self.sub_title = "Training"
        self.panel.ctrl_r = self.ctrl_r_does
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
        self.side.set_models(names, self.model)
        if self.model is None:
            self._show_model(names[0] if names else None)
        self.form.set_context(self._model_context())
        self.side.show_datasets(self.model_dir)

    @on(Select.Changed, "#train-model")
    def _model_picked(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL or event.value == self.model:
            return
        self._show_model(str(event.value))

    def _show_model(self, name: str | None) -> None:
        """Show `name`: reset the chart and the run state, start following its history."""
        self.model, self._form_run = name, None
        self.form.new_model(self._model_context())  # pretraining, or its newest run's stage
        problem = None
        if name:
            self.sub_title = f"Training · {name}"
            self.side.pick(name)
            if not (self.models_root / name).is_dir():
                problem = (f"no model '{name}' in {self.models_root}; "
                           "pick one above or create one on the Models screen (F1)")
        else:
            self.sub_title = "Training"
            problem = "no model yet: create one on the Models screen (F1, then n)"
        self.panel.show_model(name, self.models_root / name if name else None, problem)
        self.side.show_datasets(self.model_dir)
        planned = getattr(self.app, "planned_iters", {}).pop(name, None)
        if planned:  # the new-model form's size wizard chose the steps
            self.form.set_value("iters", str(planned))
        self._refresh()

    def _model_context(self) -> int | None:
        """The shown model's context (tokens), once the app has read the models."""
        info = self.app.info(self.model)
        return info.context if info is not None else None

    # ---- what the panel knows ------------------------------------------------------------
    @on(RunPanel.Changed)
    def _run_changed(self, event: RunPanel.Changed) -> None:
        event.stop()
        live = self.live
        seen, self._seen = self._seen, (live.snapshot, live.curve_known, live.starting,
                                        live.stopping)
        if seen is not None and seen[0] is self._seen[0] and seen[1:] == self._seen[1:]:
            self.panel.show_progress(self._hint())  # new rows: only the figures moved
            return
        snap = live.snapshot
        if snap is not None and (seen is None or seen[0] is not snap):
            self.form.set_placeholders((snap.run.config or {}) if snap.run else {},
                                       snap.resumable, running=bool(snap.live_pid))
            run = snap.run
            if (run is not None and snap.live_pid and run.pid == snap.live_pid
                    and run.status == "running" and self._form_run != run.id):
                if self._form_run != "start":  # re-attached: the form shows the run's own
                    self.form.show_run(run.config or {})
                self._form_run = run.id
        self._refresh()
        self._apply_layout()

    @on(RunPanel.Started)
    def _on_started(self, message: RunPanel.Started) -> None:
        if message.had_data:  # the trainer added them: they are datasets of the model now
            self.form.set_value("data", "")
            self.side.show_datasets(self.model_dir)
        if self.app.size.width < WIDE and self._form_open:
            self._form_open = None
        self._refresh()
        self._apply_layout()
        if self.has_class("-form-hidden") or self.app.size.width < WIDE:
            self.chart.focus()

    @on(RunPanel.StartFailed)
    def _on_start_failed(self, message: RunPanel.StartFailed) -> None:
        self._form_run = None
        key = message.field or error_field(message.error)  # the trainer checks the reward
        if key is None and any(path in message.error for path in message.data):
            key = "data"  # a dataset the trainer could not read, named by its path
        if key in FIELD_KEYS:
            self.form.set_error(key, message.error)
        self._refresh()

    # ---- display ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """The progress line, buttons, footer keys and the command line follow the state."""
        self.panel.show_progress(self._hint())
        live = self.live
        label = "starting…" if live.starting else (
            "▶ Resume" if self._resume_mode() else "▶ Start")
        self.form.set_buttons(label, can_start=bool(self.model) and not live.busy,
                              can_stop=bool(live.live_pid),
                              stop_label="■ Stop now" if live.stopping else "■ Stop")
        self.side.show_command(self.model, self.models_root)
        self.refresh_bindings()

    def _hint(self) -> str:
        """The second line of the progress: what is going on, or what a key would do."""
        if self.panel.problem:
            return self.panel.problem
        live, narrow = self.live, self.app.size.width < WIDE
        status = "starting" if live.starting and not live.live_pid else live.progress.status
        if status == "starting":
            return "starting the trainer (loading torch and the data)…"
        if status == "stopping":
            return self.panel.stop_phase()
        if live.live_pid:
            return "ctrl+t stops it (it goes on if you quit)" if narrow else ""
        if live.snapshot is None:
            return "reading the history…"
        run = live.snapshot.run
        if run is None:
            return "no runs yet: ctrl+r starts one" + (" (f: settings)" if narrow else "")
        if self._resumable():
            return self.ctrl_r_does(run, live.snapshot.checkpoint_step, True)
        return "ctrl+r starts a new run" + (" (f: settings)" if narrow else "")

    def ctrl_r_does(self, run: Any, ckpt: int, resumable: bool) -> str:
        """What ctrl+r does after `run` ended at checkpoint `ckpt`: the progress line's words,
        and the end-of-run toast's (the panel asks), so both say the same."""
        try:
            kind, iters = self.form.stage.kind, self.form.settings.iters
        except Exception:  # noqa: BLE001 - not mounted yet
            kind, iters = "pretrain", None
        if not (resumable and run.kind == kind):
            return "ctrl+r starts a new run"
        if iters is None:
            return f"ctrl+r resumes run {run.id} from step {ckpt} to {run.target_step}"
        return (f"ctrl+r starts {iters} new steps; clear iters to resume run {run.id} "
                f"(step {ckpt} → {run.target_step}) instead")

    def _resumable(self) -> bool:
        """The newest run is unfinished and of the form's stage (only `rl` resumes an RL
        run, only `train` a pretraining one)."""
        snap = self.live.snapshot
        try:
            kind = self.form.stage.kind
        except Exception:  # noqa: BLE001 - not mounted yet
            kind = "pretrain"
        return self.live.resumable and snap is not None and snap.run is not None and (
            snap.run.kind == kind)

    def _resume_mode(self) -> bool:
        """Start would resume: the newest run is unfinished, of the form's stage, and no
        --iters is given."""
        try:
            iters = self.form.settings.iters
        except Exception:  # noqa: BLE001 - not mounted yet
            iters = None
        return self._resumable() and iters is None

    @on(TrainForm.Changed)
    def _form_changed(self, event: TrainForm.Changed) -> None:
        event.stop()
        self._refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        live = self.live
        if action == "start":
            if live.busy:
                return False  # Stop is the key then
            if not self.model:
                return None if parameters == ("new",) else False
            resume = self._resume_mode()
            return resume if parameters == ("resume",) else not resume
        if action == "stop":
            return bool(live.live_pid) and not live.stopping
        if action == "stop_now":
            return bool(live.live_pid) and live.stopping
        return True

    def _apply_layout(self) -> None:
        wide = self.app.size.width >= WIDE
        if self._form_open is None:
            # Narrow: the chart gets the room, unless there is nothing to chart yet.
            live = self.live
            shown = wide or (live.curve_known and not live.has_curve and not live.busy)
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
            self.side.picker.focus()  # the chart is hidden then
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
                self.side.picker.focus()
        else:
            self.chart.focus()

    def action_focus_chart(self) -> None:
        if self.app.size.width < WIDE and self.has_class("-form-shown"):
            self._form_open = False
            self._apply_layout()
        self.chart.focus()
        self.call_after_refresh(self._keep_chart_focus)

    def action_focus_model(self) -> None:
        if not self.has_class("-form-shown"):
            self._form_open = True
            self._apply_layout()
        self.side.picker.focus()

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
        if self.live.busy:
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
        self._form_run = "start"  # the run about to start is the form's
        self.panel.start(self.models_root, train_args(settings), settings.data,
                         command=stage_command(settings))
        # The keys typed next are for the run (g, h, ctrl+t), not for the field ctrl+r was
        # pressed in: the chart takes the focus (on a narrow terminal it replaces the form).
        if self.app.size.width < WIDE:
            self._form_open = None
            self._apply_layout()
        self.chart.focus()
        self.call_after_refresh(self._keep_chart_focus)

    def action_stop(self) -> None:
        if not self.live.live_pid:
            self.notify(f"no training is running for '{self.model}'", severity="warning")
            return
        if self.live.stopping:
            self.action_stop_now()
            return
        self.panel.stop(self.models_root / self.model)

    def action_stop_now(self) -> None:  # the second ctrl+t: kill it, after a confirmation
        if self.model_dir is not None:
            self.panel.ask_stop_now(self.model_dir)


__all__ = ["TrainingScreen"]
