"""The History screen: a `RunsPanel` (model picker, runs table) over a `RunView` (replay,
comparison); the screen keeps the marks (across models), lists the runs of the picked model,
and carries out the table's keys: export CSV, delete. Reading and writing happens in thread
workers (`RunLoader`) that post messages; the screen, on the UI thread, shows what they found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Select

from slavik_tui.errors import UserError
from slavik_tui.store.history import RunInfo
from slavik_tui.ui.chart.widget import MetricsChart
from slavik_tui.ui.screens.history.loader import Key, RunLoader, label_of
from slavik_tui.ui.screens.history.runs_panel import RunsPanel, delete_question
from slavik_tui.ui.screens.history.view import RunView
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.runs_table import RunsTable

RUNS_POLL_SECONDS = 2.0  # the runs list is read again this often (a running run moves on)
SHORT_ROWS = 32  # below this terminal height the runs list folds away while a chart shows


class HistoryScreen(Screen):
    """Runs of a model (any model can be picked), replay, comparison, CSV export, delete."""

    HELP_WIDGETS = (RunsTable, MetricsChart)
    """Listed on the help screen even before they are mounted."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("v", "toggle_side", "Side by side"),
        Binding("a", "toggle_align", "Align starts"),
        Binding("e", "export_view", "Export CSV"),
        Binding("r", "report", "Report"),
        Binding("escape", "back", "Runs list"),
        Binding("p", "pick_model", "Pick model", show=False),
        Binding("f", "toggle_full", "Full chart"),
    ]

    @dataclass
    class JobDone(Message):
        """An export or a delete ended: `note` to tell, else `error` (one line)."""

        note: str | None = None
        error: str | None = None
        exported: Path | None = None
        report: Path | None = None
        deleted: Key | None = None

    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.title = "slavik-tui"
        self.marks: list[Key] = []
        """Runs marked for comparison, in the order they were marked (kept across models)."""
        self.runs: list[RunInfo] = []
        self.last_export: Path | None = None
        self.last_report: Path | None = None
        self.loader: RunLoader | None = None  # made in compose (it needs the app's folder)

    # ---- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.loader = RunLoader(self.app.models_root)  # type: ignore[attr-defined]
        yield Header(icon="◆")
        yield RunsPanel(id="history-top")
        yield RunView(self.loader, self._hint(), id="history-view")
        yield AppFooter()

    @property
    def panel(self) -> RunsPanel:
        return self.query_one(RunsPanel)

    @property
    def view(self) -> RunView:
        return self.query_one(RunView)

    @property
    def view_kind(self) -> str:
        """What the chart shows: "none", "replay" or "compare"."""
        return self.view.kind

    def on_mount(self) -> None:
        self.panel.model = self.model
        self.watch(self.app, "models", self._models_changed)
        self.set_interval(RUNS_POLL_SECONDS, self._poll_tick)
        self.panel.show_marks(self.marks)
        self.panel.table.focus()

    def on_unmount(self) -> None:
        if self.loader is not None:
            self.loader.close()

    def _hint(self) -> str:
        if not self.model:
            return "No model picked: choose one above (p), or create one on the Models screen."
        return ("enter replays the highlighted run · space marks runs (of any model) and c "
                "compares them · e exports CSV · d deletes a run")

    # ---- models and runs ----------------------------------------------------------------------
    def _models_changed(self, models: list[Any]) -> None:
        names = [m.name for m in models]
        if self.model is None or self.model not in names:
            fallback = getattr(self.app, "selected_model", None)
            self.model = self.model if self.model in names else (
                fallback if fallback in names else (names[0] if names else self.model))
        self.panel.set_models(names)
        self.panel.pick(self.model)
        self.sub_title = f"History · {self.model}" if self.model else "History"
        self.view.set_hint(self._hint())
        if not self.runs:
            self._poll_runs()

    def select_model(self, name: str) -> None:
        """Show the runs of `name` (marks of other models stay), as picking it above does."""
        if name != self.model:
            self._show_model(name)

    @on(Select.Changed, "#history-model")
    def _model_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.model:
            return
        self._show_model(str(event.value))

    def _show_model(self, name: str) -> None:
        self.model = name
        self.panel.pick(name)
        self.sub_title = f"History · {self.model}"
        self.view.set_hint(self._hint())
        self.runs = []
        self.panel.show_runs([], self.marks)
        self._poll_runs()
        self.panel.table.focus()

    def _poll_runs(self) -> None:
        if self.model:
            self.panel.list_runs(self.loader, self.model)

    def _poll_tick(self) -> None:
        if self.is_current:  # a screen of another mode waits until it is shown again
            self._poll_runs()

    def on_screen_resume(self) -> None:
        self._poll_runs()

    @on(RunsPanel.Listed)
    def _runs_listed(self, message: RunsPanel.Listed) -> None:
        if message.model != self.model or message.error:
            return
        self.runs = message.runs
        self.panel.show_runs(self.runs, self.marks)
        view = self.view
        if view.replayed and view.replayed[0] == self.model and view.following:
            run = next((r for r in self.runs if r.id == view.replayed[1]), None)
            if run is None or run.status != "running":
                view.replay_ended(run)

    @property
    def highlighted(self) -> RunInfo | None:
        return self.panel.table.selected_run

    # ---- the table's keys -----------------------------------------------------------------
    @on(RunsTable.Mark)
    def _toggle_mark(self) -> None:
        run = self.highlighted
        if run is None or not self.model:
            return
        key = (self.model, run.id)
        if key in self.marks:
            self.marks.remove(key)
        else:
            self.marks.append(key)
        table = self.panel.table
        self.panel.show_runs(self.runs, self.marks)
        if table.cursor_row < table.row_count - 1:  # like a file manager: mark, move on
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        self.panel.show_marks(self.marks)

    @on(RunsTable.UnmarkAll)
    def _unmark_all(self) -> None:
        self.marks.clear()
        self.panel.show_runs(self.runs, self.marks)
        self.panel.show_marks(self.marks)

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run = self.highlighted
        if run is not None and self.model:
            self.view.replay((self.model, run.id))

    @on(RunsTable.Compare)
    def _compare_marked(self) -> None:
        if len(self.marks) < 2:
            self.notify("mark two or more runs with space (runs of any model: pick another "
                        "model above and mark there too), then press c", severity="warning")
            return
        self.view.compare(list(self.marks))

    @on(RunsTable.Export)
    def _export_highlighted(self) -> None:
        run = self.highlighted
        if run is None or not self.model:
            self.notify("no run to export", severity="warning")
            return
        self._export([(self.model, run.id)])

    @on(RunsTable.Delete)
    def _delete_highlighted(self) -> None:
        from slavik_tui.ui.screens.confirm import ConfirmScreen

        run = self.highlighted
        if run is None or not self.model:
            return
        if run.status == "running":
            self.notify(f"run {run.id} is still running; stop it first (F2, or "
                        f"`slavik-tui stop {self.model}`)", severity="error", timeout=8)
            return
        key = (self.model, run.id)
        question = delete_question(self.model, run)

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(key)

        self.app.push_screen(ConfirmScreen(f"Delete run {label_of(key)}?", question), answered)

    # ---- jobs (thread) ------------------------------------------------------------------------
    @work(thread=True, group="history-export", exit_on_error=False)
    def _export(self, keys: list[Key]) -> None:
        """One run: models/NAME/charts/run-<id>.csv; several: compare-<runs>.csv."""
        try:
            if len(keys) == 1:
                path, what = self.loader.export_run(keys[0]), f"run {label_of(keys[0])}"
            else:
                path = self.loader.export_compare(keys)
                what = "comparison " + " vs ".join(label_of(k) for k in keys)
        except (UserError, OSError) as exc:
            self.post_message(self.JobDone(error=str(exc)))
            return
        self.post_message(self.JobDone(f"{what} written to {path}", exported=path))

    @work(thread=True, group="history-report", exclusive=True, exit_on_error=False)
    def _report(self, keys: list[Key]) -> None:
        """models/NAME/charts/run-<id>-report.md + .svg (`slavik-tui report`'s content) of
        each run in `keys`; the three samples load torch and the weights, so this runs in a
        thread."""
        from slavik_tui.charts.svg import run_chart_svg
        from slavik_tui.engine.samples import report_samples
        from slavik_tui.runs.report import write_model_report

        notes, md = [], None
        for key in keys:
            try:
                md, svg = write_model_report(self.loader.folder(key[0]).path, key[1],
                                             chart=run_chart_svg, sampler=report_samples)
            except (UserError, OSError) as exc:
                self.post_message(self.JobDone(error=f"{label_of(key)}: {exc}" if len(keys) > 1
                                               else str(exc)))
                continue
            also = f" and {svg.name}" if svg is not None else ""
            notes.append(f"report of run {label_of(key)} written to {md}{also}")
        if notes:
            self.post_message(self.JobDone("\n".join(notes), report=md))

    @work(thread=True, group="history-delete", exit_on_error=False)
    def _delete(self, key: Key) -> None:
        try:
            self.loader.delete(key)
        except (UserError, OSError) as exc:
            self.post_message(self.JobDone(error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - sqlite busy beyond the timeout, ...
            self.post_message(self.JobDone(error=f"could not delete run {label_of(key)}: {exc}"))
        else:
            self.post_message(self.JobDone(f"deleted run {label_of(key)} from the history",
                                           deleted=key))

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        if message.error:
            self.notify(message.error, severity="error", timeout=8)
            return
        if message.report is not None:
            self.last_report = message.report
            self.notify(message.note, title="Report written", timeout=10)
            return
        if message.exported is not None:
            self.last_export = message.exported
            self.notify(message.note, title="CSV exported", timeout=10)
            return
        key = message.deleted
        if key in self.marks:
            self.marks.remove(key)
            self.panel.show_marks(self.marks)
        self.view.forget(key)
        if key[0] == self.model:
            self.runs = [r for r in self.runs if r.id != key[1]]
            self.panel.show_runs(self.runs, self.marks)
        self.notify(message.note)
        self._poll_runs()

    # ---- the view's keys ----------------------------------------------------------------------
    @on(RunView.KindChanged)
    def _kind_changed(self) -> None:
        if self.app.size.height < SHORT_ROWS:  # give the chart the rows; escape unfolds
            self.panel.display = self.view.kind == "none"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_side", "toggle_align"):
            return self.view_kind == "compare"
        if action == "export_view":
            return self.view_kind != "none"
        return True

    def action_toggle_align(self) -> None:
        if self.view_kind == "compare":
            self.view.toggle_align()

    def action_toggle_side(self) -> None:
        if self.view_kind != "compare":
            self.notify("v switches a comparison between one chart and side by side: mark "
                        "runs with space, then c", severity="information")
            return
        self.view.toggle_side()

    def action_export_view(self) -> None:
        view = self.view
        if view.kind == "compare" and view.compared:
            self._export([r.key for r in view.compared])
        elif view.kind == "replay" and view.replayed:
            self._export([view.replayed])

    def action_report(self) -> None:
        """A Markdown report of the replayed run, of each compared run, else of the run under
        the table's cursor."""
        view = self.view
        if view.kind == "replay" and view.replayed:
            keys = [view.replayed]
        elif view.kind == "compare" and view.compared:
            keys = [r.key for r in view.compared]  # not the hidden table's cursor
        else:
            run = self.panel.table.selected_run
            if run is None:
                self.notify("no run to report on: pick a run first", severity="warning")
                return
            keys = [(self.model, run.id)]
        runs = ", ".join(label_of(k) for k in keys)
        self.notify(f"writing the report of run{'s' if len(keys) > 1 else ''} {runs}…",
                    timeout=4)
        self._report(keys)

    def action_back(self) -> None:
        self.panel.display = True
        self.panel.table.focus()

    def action_pick_model(self) -> None:
        self.panel.display = True
        self.panel.picker.focus()
        self.panel.picker.action_show_overlay()

    def action_toggle_full(self) -> None:
        panel = self.panel
        panel.display = not panel.display
        if not panel.display and self.focused is not None and panel in self.focused.ancestors:
            self.view.focus_chart()
