"""The History screen: every run of a model, replayed in the chart, compared, exported.

* A model picker (p; any model of the folder) over the table of its runs (`RunsTable`):
  start time, duration, steps, status, learning rate, final train / val loss, best reward,
  tokens/s; the line under it says why the highlighted run ended and how it was set up.
* Enter replays the highlighted run in a `MetricsChart` (every chart key works there); a run
  still being trained keeps growing in it (polled by rowid, `feed.RunFollower`).
* space marks runs — of this model or of any other picked meanwhile — and c compares them:
  one chart with every run in its own colour (legend `model/run`), or `v` side by side (one
  linked chart per run). x is the step since each run's start (like W&B's "Step"; `a` switches
  to the model's own step: a second training of a model starts where the first ended) or, with
  the chart's `x`, the wall time since each run's first row. Under it a `CompareTable` of their
  figures, the best of each column in bold.
* e writes CSV: on the runs table the highlighted run, to models/NAME/charts/run-<id>.csv (what
  `slavik-tui runs NAME --csv` writes; the trainer's autosave writes the same file); on the
  chart the replayed run, or the comparison to models/<first model>/charts/compare-<runs>.csv
  (long format: model, run, step, metric, value). The notification gives the path.
* d deletes a run from the history after a confirmation; the checkpoint is not touched.
* Below 32 rows the runs list folds away while a chart shows (escape brings it back); f does
  the same by hand at any size.

Reading runs happens in thread workers (`History.steps_arrays` reads packed blocks: a
1,000,000-step run in ~0.1–0.2 s); only filling the chart runs on the UI thread (~30 ms).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, Select, Static

from slavik_tui.charts.autosave import run_title
from slavik_tui.errors import UserError
from slavik_tui.store.history import History, RunInfo, export_compare_csv
from slavik_tui.charts.feed import append_rows, fill_chart
from slavik_tui.runs.watch import RunFollower
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.chart.widget import PALETTE, MetricsChart, training_series
from slavik_tui.ui.chart.compare import CompareCharts, copy_view_state
from slavik_tui.ui.widgets.compare_table import CompareRow, CompareTable
from slavik_tui.ui.widgets.runs_table import MARK, RunsTable, fmt_lr

RUNS_POLL_SECONDS = 2.0  # the runs list is read again this often (a running run moves on)
FOLLOW_SECONDS = 0.5  # a replayed running run gets its new rows this often
SHORT_ROWS = 32  # below this terminal height the runs list folds away while a chart shows
CACHE_RUNS = 4  # ended runs kept loaded (a 1e6-step run is ~64 MB of arrays)

Key = tuple[str, int]
"""(model name, run id): a run anywhere in the models folder."""


def label_of(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass
class LoadedRun:
    key: Key
    run: RunInfo
    steps: dict
    evals: dict
    follower: RunFollower | None = None
    """Set for a replayed run still being trained: it hands out the rows written next."""


@dataclass
class RunsListed(Message):
    """A fresh `History.runs()` of a model (or the one-line error reading it)."""

    model: str
    runs: list[RunInfo]
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsListed) and message.model == self.model


@dataclass
class RunsLoaded(Message):
    """The arrays of runs asked for by a replay ("replay") or a comparison ("compare")."""

    purpose: str
    token: int
    runs: list[LoadedRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class HistoryScreen(Screen):
    """Runs of a model (any model can be picked), replay, comparison, CSV export, delete."""

    HELP_WIDGETS = (RunsTable, MetricsChart)
    """Listed on the help screen even before they are mounted."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    DEFAULT_CSS = """
    #history-bar { height: 1; padding: 0 1; background: $boost; }
    #history-bar Label { padding: 0 1 0 0; color: $text-muted; }
    #history-model { width: 28; }
    #history-marked { width: 1fr; padding: 0 0 0 2; color: $text-muted; }
    #history-top { height: auto; max-height: 45%; }
    #runs-table { height: auto; max-height: 12; }
    HistoryScreen.-narrow #runs-table { max-height: 7; }
    #run-detail { height: 1; padding: 0 1; color: $text-muted; }
    #history-view { height: 1fr; border-top: hkey $foreground 20%; }
    #history-hint { padding: 1 2; color: $text-muted; }
    #history-chart, #history-side { height: 1fr; }
    #compare-table { height: auto; max-height: 7; border-top: hkey $foreground 20%; }
    """

    BINDINGS = [
        Binding("v", "toggle_side", "Side by side"),
        Binding("a", "toggle_align", "Align starts"),
        Binding("e", "export_view", "Export CSV"),
        Binding("escape", "back", "Runs list"),
        Binding("p", "pick_model", "Pick model", show=False),
        Binding("f", "toggle_full", "Full chart"),
    ]

    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.title = "slavik-tui"
        self.marks: list[Key] = []
        """Runs marked for comparison, in the order they were marked (kept across models)."""
        self.view_kind: str = "none"
        """What the chart shows: "none", "replay" or "compare"."""
        self.side_by_side = False
        self.align_starts = True
        """Compared runs by step since each run's start (W&B's "Step"), or by the model's
        step (False): a second training of a model starts where the first ended."""
        self.replayed: Key | None = None
        self.compared: list[LoadedRun] = []
        self.runs: list[RunInfo] = []
        self.last_load_seconds = 0.0
        """How long the worker took to read the last replayed / compared runs (bench)."""
        self._token = 0
        self._model_names: list[str] = []
        self._readers: dict[str, History] = {}
        self._readers_lock = threading.Lock()
        self._cache: OrderedDict[Key, LoadedRun] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._follower: RunFollower | None = None
        self._follow_timer: Any = None

    # ---- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="history-top"):
            with Horizontal(id="history-bar"):
                yield Label("model")
                yield Select([], prompt="pick a model", compact=True, id="history-model")
                yield Static("", id="history-marked", markup=False)
            yield RunsTable(id="runs-table")
            yield Static("", id="run-detail", markup=False)
        with Container(id="history-view"):
            yield Static(self._hint(), id="history-hint", markup=False)
            yield MetricsChart(training_series(), id="history-chart")
            yield CompareCharts(id="history-side")
            yield CompareTable(id="compare-table")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#history-chart").display = False
        self.query_one(CompareCharts).display = False
        self.query_one(CompareTable).display = False
        table = self.query_one(RunsTable)
        table.set_narrow(self.app.size.width < 100)
        self.watch(self.app, "models", self._models_changed)
        self.set_interval(RUNS_POLL_SECONDS, self._poll_tick)
        self._show_marks()
        table.focus()

    def on_resize(self) -> None:
        self.query_one(RunsTable).set_narrow(self.app.size.width < 100)

    def on_unmount(self) -> None:
        self._stop_following()
        with self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()

    def _hint(self) -> str:
        if not self.model:
            return "No model picked: choose one above (p), or create one on the Models screen."
        return ("enter replays the highlighted run · space marks runs (of any model) and c "
                "compares them · e exports CSV · d deletes a run")

    # ---- models and runs ----------------------------------------------------------------------
    @property
    def models_root(self) -> Path:
        return Path(self.app.models_root)  # type: ignore[attr-defined]

    def model_dir(self, model: str) -> Path:
        return self.models_root / model

    def _models_changed(self, models: list[Any]) -> None:
        names = [m.name for m in models]
        select: Select[str] = self.query_one("#history-model", Select)
        if self.model is None or self.model not in names:
            fallback = getattr(self.app, "selected_model", None)
            self.model = self.model if self.model in names else (
                fallback if fallback in names else (names[0] if names else self.model))
        if names != self._model_names:
            self._model_names = names
            with self.prevent(Select.Changed):
                select.set_options([(n, n) for n in names])
        if self.model in names and select.value != self.model:
            with self.prevent(Select.Changed):
                select.value = self.model
        self.sub_title = f"History · {self.model}" if self.model else "History"
        self.query_one("#history-hint", Static).update(self._hint())
        if not self.runs:
            self._poll_runs()

    def select_model(self, name: str) -> None:
        """Show the runs of `name` (marks of other models stay), as picking it above does."""
        if name != self.model:
            self._show_model(name)
            if name in self._model_names:
                with self.prevent(Select.Changed):
                    self.query_one("#history-model", Select).value = name

    @on(Select.Changed, "#history-model")
    def _model_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.model:
            return
        self._show_model(str(event.value))

    def _show_model(self, name: str) -> None:
        self.model = name
        self.sub_title = f"History · {self.model}"
        self.query_one("#history-hint", Static).update(self._hint())
        self.runs = []
        self.query_one(RunsTable).show([], self._marked_ids())
        self._show_detail()
        self._poll_runs()
        self.query_one(RunsTable).focus()

    def _reader(self, model: str) -> History:
        """The read-only History of a model, one per model, shared by the workers (its own
        mutex serialises them)."""
        with self._readers_lock:
            reader = self._readers.get(model)
            if reader is None:
                reader = History(self.model_dir(model) / "history.sqlite", readonly=True)
                self._readers[model] = reader
            return reader

    def _poll_runs(self) -> None:
        if self.model:
            self._list_runs(self.model)

    def _poll_tick(self) -> None:
        if self.is_current:  # a screen of another mode waits until it is shown again
            self._poll_runs()

    def on_screen_resume(self) -> None:
        self._poll_runs()

    @work(thread=True, exclusive=True, group="history-runs", exit_on_error=False)
    def _list_runs(self, model: str) -> None:
        try:
            runs = self._reader(model).runs()
        except Exception as exc:  # noqa: BLE001 - UserError, or sqlite on a replaced file
            self._drop_reader(model)  # open it afresh next time
            text = str(exc) if isinstance(exc, UserError) else f"cannot read the history: {exc}"
            self.post_message(RunsListed(model, [], text))
            return
        self.post_message(RunsListed(model, runs))

    def _drop_reader(self, model: str) -> None:
        with self._readers_lock:
            reader = self._readers.pop(model, None)
        if reader is not None:
            reader.close()

    def on_runs_listed(self, message: RunsListed) -> None:
        if message.model != self.model:
            return
        if message.error:
            self.query_one("#run-detail", Static).update(message.error)
            return
        self.runs = message.runs
        self.query_one(RunsTable).show(self.runs, self._marked_ids())
        self._show_detail()
        if self.replayed and self.replayed[0] == self.model and self._follower is not None:
            run = next((r for r in self.runs if r.id == self.replayed[1]), None)
            if run is None or run.status != "running":
                self._follow_tick()  # the last rows
                self._stop_following()
                if run is not None:
                    self.query_one("#history-chart", MetricsChart).title = run_title(
                        self.model, run)

    # ---- the highlighted run --------------------------------------------------------------
    @property
    def highlighted(self) -> RunInfo | None:
        return self.query_one(RunsTable).selected_run

    @on(DataTable.RowHighlighted, "#runs-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        run = self.highlighted
        detail = self.query_one("#run-detail", Static)
        if run is None:
            detail.update("no runs yet: train this model (F2)" if self.model else "")
            return
        cfg = run.config or {}
        parts = [f"run {run.id}", run.kind, run.status + (f": {run.reason}" if run.reason else "")]
        if "lr" in cfg:
            parts.append(f"lr {fmt_lr(cfg['lr'])}")
        for key, name in (("batch_size", "batch"), ("device", "on"), ("dtype", "")):
            if key in cfg:
                parts.append(f"{name} {cfg[key]}".strip())
        if cfg.get("datasets"):
            parts.append(", ".join(map(str, cfg["datasets"])))
        detail.update(" · ".join(parts))

    # ---- marks --------------------------------------------------------------------------------
    def _marked_ids(self) -> set[int]:
        return {rid for model, rid in self.marks if model == self.model}

    def _show_marks(self) -> None:
        widget = self.query_one("#history-marked", Static)
        if not self.marks:
            widget.update("space marks runs to compare (of any model)")
        else:
            labels = " ".join(f"{MARK}{label_of(k)}" for k in self.marks)
            more = "c compares" if len(self.marks) >= 2 else "mark one more to compare"
            widget.update(f"marked: {labels} — {more}, u unmarks all")

    def toggle_mark(self) -> None:
        run = self.highlighted
        if run is None or not self.model:
            return
        key = (self.model, run.id)
        if key in self.marks:
            self.marks.remove(key)
        else:
            self.marks.append(key)
        table = self.query_one(RunsTable)
        table.show(self.runs, self._marked_ids())
        if table.cursor_row < table.row_count - 1:  # like a file manager: mark, move on
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        self._show_marks()

    def unmark_all(self) -> None:
        self.marks.clear()
        self.query_one(RunsTable).show(self.runs, set())
        self._show_marks()

    # ---- loading runs ---------------------------------------------------------------------------
    def _cached(self, key: Key) -> LoadedRun | None:
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _load(self, key: Key, follow: bool = False) -> LoadedRun:
        """A run's arrays (every row it wrote, superseded ones too: what that run did). With
        `follow`, a run still being trained comes with a `RunFollower` positioned after them."""
        hit = self._cached(key)
        if hit is not None:
            return hit
        reader = self._reader(key[0])
        run = reader.run(key[1])
        if follow and run.status == "running":
            follower = RunFollower(self.model_dir(key[0]) / "history.sqlite", key[1])
            steps, evals = follower.load_all()
            return LoadedRun(key, run, steps, evals, follower)
        steps = reader.steps_arrays(key[1], include_superseded=True)
        evals = reader.evals_arrays(key[1], include_superseded=True)
        loaded = LoadedRun(key, run, steps, evals)
        if run.status != "running":  # an ended run never changes
            with self._cache_lock:
                self._cache[key] = loaded
                while len(self._cache) > CACHE_RUNS:
                    self._cache.popitem(last=False)
        return loaded

    def _forget(self, key: Key) -> None:
        with self._cache_lock:
            self._cache.pop(key, None)

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def _load_runs(self, purpose: str, token: int, keys: list[Key]) -> None:
        started = time.perf_counter()
        loaded, errors = [], []
        for key in keys:
            try:
                loaded.append(self._load(key, follow=purpose == "replay"))
            except (UserError, OSError) as exc:
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a history being rewritten
                errors.append(f"cannot read run {label_of(key)}: {exc}")
        self.post_message(RunsLoaded(purpose, token, loaded, errors,
                                     time.perf_counter() - started))

    def _request(self, purpose: str, keys: list[Key]) -> None:
        self._token += 1
        self._load_runs(purpose, self._token, keys)

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        if message.token != self._token:  # the user asked for something else meanwhile
            for loaded in message.runs:
                if loaded.follower is not None:
                    loaded.follower.close()
            return
        for error in message.errors:
            self.notify(error, severity="error", timeout=8)
        self.last_load_seconds = message.seconds
        if message.purpose == "replay" and message.runs:
            self._show_replay(message.runs[0])
        elif message.purpose == "compare":
            if len(message.runs) >= 2:
                self._show_compare(message.runs)
            elif message.runs:
                self.notify("fewer than two of the marked runs could be read; nothing to "
                            "compare", severity="warning")

    # ---- replay -------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.replay_highlighted()

    def replay_highlighted(self) -> None:
        run = self.highlighted
        if run is None or not self.model:
            return
        key = (self.model, run.id)
        if self.view_kind == "replay" and self.replayed == key:
            self.query_one("#history-chart", MetricsChart).focus()
            return
        self._request("replay", [key])

    def _show_replay(self, loaded: LoadedRun) -> None:
        self._stop_following()
        model = loaded.key[0]
        chart = self.query_one("#history-chart", MetricsChart)
        chart.remove_all()
        for series in training_series():
            chart.add_series(series)
        fill_chart(chart, loaded.steps, loaded.evals)
        if loaded.follower is not None:  # a run being trained: its new rows come as they land
            self._follower = loaded.follower
            self._follow_timer = self.set_interval(FOLLOW_SECONDS, self._follow_tick)
        chart.title = run_title(model, loaded.run)
        chart.save_dir = self.model_dir(model) / "charts"
        self.replayed, self.compared, self.view_kind = loaded.key, [], "replay"
        self._show_view()
        chart.focus()

    def _follow_tick(self) -> None:
        if self._follower is None:
            return
        try:
            steps, evals = self._follower.poll(limit=50_000)
        except Exception:  # noqa: BLE001 - the file is being replaced; the next tick retries
            return
        if steps or evals:
            append_rows(self.query_one("#history-chart", MetricsChart), steps, evals)

    def _stop_following(self) -> None:
        if self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        if self._follower is not None:
            self._follower.close()
            self._follower = None

    # ---- compare ------------------------------------------------------------------------------
    def compare_marked(self) -> None:
        if len(self.marks) < 2:
            self.notify("mark two or more runs with space (runs of any model: pick another "
                        "model above and mark there too), then press c", severity="warning")
            return
        self._request("compare", list(self.marks))

    def _show_compare(self, runs: list[LoadedRun]) -> None:
        self._stop_following()
        chart = self.query_one("#history-chart", MetricsChart)
        chart.remove_all()
        for i, loaded in enumerate(runs):
            label = label_of(loaded.key)
            for series in training_series(label, PALETTE[i % len(PALETTE)]):
                chart.add_series(series)
            fill_chart(chart, *self._aligned(loaded), run=label)
        chart.title = self._compare_title(runs)
        chart.save_dir = self.model_dir(runs[0].key[0]) / "charts"
        self.compared, self.replayed, self.view_kind = runs, None, "compare"
        self.query_one(CompareTable).show([
            CompareRow(label_of(r.key), PALETTE[i % len(PALETTE)], r.run, self._params(r))
            for i, r in enumerate(runs)
        ])
        self._show_view()
        if self.side_by_side:
            self._fill_side(like=None)
        else:
            chart.focus()

    def _aligned(self, loaded: LoadedRun) -> tuple[dict, dict]:
        """The run's arrays with steps counted from its start when `align_starts`."""
        offset = loaded.run.start_step or 0
        if not self.align_starts or not offset:
            return loaded.steps, loaded.evals
        return ({**loaded.steps, "step": loaded.steps["step"] - offset},
                {**loaded.evals, "step": loaded.evals["step"] - offset})

    def _compare_title(self, runs: list[LoadedRun]) -> str:
        x = "steps since each run's start" if self.align_starts else "the model's steps"
        return "compare " + " vs ".join(label_of(r.key) for r in runs) + f" · x: {x} (a)"

    def action_toggle_align(self) -> None:
        if self.view_kind != "compare":
            return
        self.align_starts = not self.align_starts
        focused_side = self.side_by_side
        self._show_compare(self.compared)
        if not focused_side:
            self.query_one("#history-chart", MetricsChart).focus()

    def _params(self, loaded: LoadedRun) -> int | None:
        params = (loaded.run.config or {}).get("params")
        if isinstance(params, int):
            return params
        info = getattr(self.app, "info", lambda name: None)(loaded.key[0])
        return getattr(info, "params", None)

    @work(exclusive=True, group="history-side")
    async def _fill_side(self, like: MetricsChart | None) -> None:
        side = self.query_one(CompareCharts)
        await side.show(
            [(label_of(r.key), *self._aligned(r)) for r in self.compared],
            like=like,
            save_dirs=[self.model_dir(r.key[0]) / "charts" for r in self.compared],
        )
        if side.charts:
            side.charts[0].focus()

    def action_toggle_side(self) -> None:
        if self.view_kind != "compare":
            self.notify("v switches a comparison between one chart and side by side: mark "
                        "runs with space, then c", severity="information")
            return
        self.side_by_side = not self.side_by_side
        side = self.query_one(CompareCharts)
        chart = self.query_one("#history-chart", MetricsChart)
        if self.side_by_side:
            self._show_view()
            self._fill_side(like=chart)
        else:
            if side.charts:
                copy_view_state(side.charts[0], chart)
            self._show_view()
            chart.focus()

    def _show_view(self) -> None:
        kind = self.view_kind
        side = kind == "compare" and self.side_by_side
        self.query_one("#history-hint").display = kind == "none"
        self.query_one("#history-chart").display = kind != "none" and not side
        charts = self.query_one(CompareCharts)
        charts.display = side
        if not side and charts.children:  # their copies of the runs' arrays can be big
            charts.remove_children()
        self.query_one(CompareTable).display = kind == "compare"
        if self.app.size.height < SHORT_ROWS:  # give the chart the rows; escape unfolds
            self.query_one("#history-top").display = kind == "none"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_side", "toggle_align"):
            return self.view_kind == "compare"
        if action == "export_view":
            return self.view_kind != "none"
        return True

    # ---- export -------------------------------------------------------------------------------
    def export_highlighted(self) -> None:
        run = self.highlighted
        if run is None or not self.model:
            self.notify("no run to export", severity="warning")
            return
        self._export_run((self.model, run.id))

    def action_export_view(self) -> None:
        if self.view_kind == "compare" and self.compared:
            self._export_compare([r.key for r in self.compared])
        elif self.view_kind == "replay" and self.replayed:
            self._export_run(self.replayed)

    def run_csv_path(self, key: Key) -> Path:
        return self.model_dir(key[0]) / "charts" / f"run-{key[1]}.csv"

    def compare_csv_path(self, keys: list[Key]) -> Path:
        same = len({m for m, _ in keys}) == 1
        parts = [str(rid) if same else f"{m}-{rid}" for m, rid in keys]
        return self.model_dir(keys[0][0]) / "charts" / f"compare-{'_'.join(parts)}.csv"

    @work(thread=True, group="history-export", exit_on_error=False)
    def _export_run(self, key: Key) -> None:
        path = self.run_csv_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._reader(key[0]).export_csv(key[1], path)
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self._exported, path, f"run {label_of(key)}")

    @work(thread=True, group="history-export", exit_on_error=False)
    def _export_compare(self, keys: list[Key]) -> None:
        path = self.compare_csv_path(keys)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            export_compare_csv([(m, self._reader(m), rid) for m, rid in keys], path)
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self._exported, path,
                                  "comparison " + " vs ".join(label_of(k) for k in keys))

    def _exported(self, path: Path, what: str) -> None:
        self.last_export = path
        self.notify(f"{what} written to {path}", title="CSV exported", timeout=10)

    # ---- delete -------------------------------------------------------------------------------
    def delete_highlighted(self) -> None:
        from slavik_tui.ui.screens.confirm import ConfirmScreen

        run = self.highlighted
        if run is None or not self.model:
            return
        if run.status == "running":
            self.notify(f"run {run.id} is still running; stop it first (F2, or "
                        f"`slavik-tui stop {self.model}`)", severity="error", timeout=8)
            return
        key = (self.model, run.id)
        question = (f"Delete run {run.id} of '{self.model}' ({run.status}, steps "
                    f"{run.start_step or 0}→{run.last_step if run.last_step is not None else '-'}"
                    ") and all its metric rows from the history?\nThe model's weights and "
                    "checkpoint are not touched, nor the charts already saved in charts/.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete_run(key)

        self.app.push_screen(ConfirmScreen(f"Delete run {label_of(key)}?", question), answered)

    @work(thread=True, group="history-delete", exit_on_error=False)
    def _delete_run(self, key: Key) -> None:
        try:
            with History(self.model_dir(key[0]) / "history.sqlite") as writer:
                writer.delete_run(key[1])
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        except Exception as exc:  # noqa: BLE001 - sqlite busy beyond the timeout, ...
            self.app.call_from_thread(self.notify, f"could not delete run {label_of(key)}: "
                                      f"{exc}", severity="error", timeout=8)
            return
        self._forget(key)
        self.app.call_from_thread(self._deleted, key)

    def _deleted(self, key: Key) -> None:
        if key in self.marks:
            self.marks.remove(key)
            self._show_marks()
        if self.replayed == key or any(r.key == key for r in self.compared):
            self._stop_following()
            self.view_kind, self.replayed, self.compared = "none", None, []
            self._show_view()
        if key[0] == self.model:
            self.runs = [r for r in self.runs if r.id != key[1]]
            self.query_one(RunsTable).show(self.runs, self._marked_ids())
            self._show_detail()
        self.notify(f"deleted run {label_of(key)} from the history")
        self._poll_runs()

    # ---- navigation ---------------------------------------------------------------------------
    def action_back(self) -> None:
        self.query_one("#history-top").display = True
        self.query_one(RunsTable).focus()

    def action_pick_model(self) -> None:
        self.query_one("#history-top").display = True
        select = self.query_one("#history-model", Select)
        select.focus()
        select.action_show_overlay()

    def action_toggle_full(self) -> None:
        top = self.query_one("#history-top")
        top.display = not top.display
        if not top.display and self.focused is not None and top in self.focused.ancestors:
            target = (self.query_one(CompareCharts).charts[:1] if self.side_by_side
                      and self.view_kind == "compare" else [])
            (target[0] if target else self.query_one("#history-chart")).focus()
