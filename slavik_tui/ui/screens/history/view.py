"""The lower half of the History screen: a hint, or one run replayed, or marked runs compared
(overlaid in one chart, or `v` side by side in linked charts) with their figures under them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Static

from slavik_tui.charts.autosave import run_title
from slavik_tui.errors import UserError
from slavik_tui.charts.feed import append_metric_rows, append_rows, fill_chart, fill_metrics
from slavik_tui.runs.watch import RunFollower
from slavik_tui.ui.chart.compare import CompareCharts, copy_view_state
from slavik_tui.ui.chart.widget import PALETTE, MetricsChart, training_series
from slavik_tui.ui.screens.history.loader import Key, LoadedRun, RunLoader, label_of
from slavik_tui.ui.widgets.compare_table import CompareRow, CompareTable

FOLLOW_SECONDS = 0.5  # a replayed running run gets its new rows this often


class RunView(Container):
    """What the chart shows: `kind` "none" (the hint), "replay" or "compare"."""

    @dataclass
    class KindChanged(Message):
        """What the view shows changed (the screen folds the runs list, updates its keys)."""

        view: RunView

    @dataclass
    class Loaded(Message):
        """The arrays of runs asked for by a replay ("replay") or a comparison ("compare")."""

        purpose: str
        token: int
        runs: list[LoadedRun] = field(default_factory=list)
        errors: list[str] = field(default_factory=list)
        seconds: float = 0.0

    def __init__(self, loader: RunLoader, hint: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loader = loader
        self._hint = hint
        self.kind = "none"
        self.side_by_side = False
        self.align_starts = True
        """Compared runs by step since each run's start (W&B's "Step"), or by the model's
        step (False): a second training of a model starts where the first ended."""
        self.replayed: Key | None = None
        self.compared: list[LoadedRun] = []
        self.last_load_seconds = 0.0
        """How long the worker took to read the last replayed / compared runs (bench)."""
        self._token = 0
        self._follower: RunFollower | None = None
        self._follow_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Static(self._hint, id="history-hint", markup=False)
        yield MetricsChart(training_series(), id="history-chart")
        yield CompareCharts(id="history-side")
        yield CompareTable(id="compare-table")

    def on_mount(self) -> None:
        self.chart.display = False
        self.query_one(CompareCharts).display = False
        self.query_one(CompareTable).display = False

    def on_unmount(self) -> None:
        self.stop_following()

    @property
    def chart(self) -> MetricsChart:
        return self.query_one("#history-chart", MetricsChart)

    @property
    def following(self) -> bool:
        return self._follower is not None

    def set_hint(self, text: str) -> None:
        self.query_one("#history-hint", Static).update(text)

    def focus_chart(self) -> None:
        """The chart in view: the overlay, or the first of the side-by-side charts."""
        side = self.query_one(CompareCharts).charts[:1] if (
            self.side_by_side and self.kind == "compare") else []
        (side[0] if side else self.chart).focus()

    # ---- loading runs (thread) ---------------------------------------------------------------
    def replay(self, key: Key) -> None:
        """Replay a run (the one replayed already: just focus the chart)."""
        if self.kind == "replay" and self.replayed == key:
            self.chart.focus()
            return
        self._request("replay", [key])

    def compare(self, keys: list[Key]) -> None:
        self._request("compare", keys)

    def _request(self, purpose: str, keys: list[Key]) -> None:
        self._token += 1
        self._load_runs(purpose, self._token, keys)

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def _load_runs(self, purpose: str, token: int, keys: list[Key]) -> None:
        started = time.perf_counter()
        loaded, errors = [], []
        for key in keys:
            try:
                loaded.append(self.loader.load(key, follow=purpose == "replay"))
            except (UserError, OSError) as exc:
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a history being rewritten
                errors.append(f"cannot read run {label_of(key)}: {exc}")
        self.post_message(self.Loaded(purpose, token, loaded, errors,
                                      time.perf_counter() - started))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        if message.token != self._token:  # the user asked for something else meanwhile
            for loaded in message.runs:
                if loaded.follower is not None:
                    loaded.follower.close()
            return
        for error in message.errors:
            self.notify(error, severity="error", timeout=8)
        self.last_load_seconds = message.seconds
        if message.purpose == "replay" and message.runs:
            self.show_replay(message.runs[0])
        elif message.purpose == "compare":
            if len(message.runs) >= 2:
                self.show_compare(message.runs)
            elif message.runs:
                self.notify("fewer than two of the marked runs could be read; nothing to "
                            "compare", severity="warning")

    # ---- replay -------------------------------------------------------------------------------
    def show_replay(self, loaded: LoadedRun) -> None:
        self.stop_following()
        model = loaded.key[0]
        chart = self.chart
        chart.remove_all()
        for series in training_series():
            series.s0 = self._origin(loaded, aligned=False)
            chart.add_series(series)
        fill_chart(chart, loaded.steps, loaded.evals)
        fill_metrics(chart, loaded.metrics, loaded.steps)
        chart.live = loaded.follower is not None  # an ended run never says "● live"
        if loaded.follower is not None:  # a run being trained: its new rows come as they land
            self._follower = loaded.follower
            append_metric_rows(chart, self._follower.poll_metrics())
            self._follow_timer = self.set_interval(FOLLOW_SECONDS, self.follow_tick)
        chart.title = run_title(model, loaded.run)
        chart.save_dir = self.loader.folder(model).charts_dir
        self.replayed, self.compared, self.kind = loaded.key, [], "replay"
        self.show_kind()
        chart.focus()

    def follow_tick(self) -> None:
        if self._follower is None:
            return
        try:
            steps, evals = self._follower.poll(limit=50_000)
            metrics = self._follower.poll_metrics(limit=50_000)
        except Exception:  # noqa: BLE001 - the file is being replaced; the next tick retries
            return
        if steps or evals:
            append_rows(self.chart, steps, evals)
        if metrics:
            append_metric_rows(self.chart, metrics)

    def replay_ended(self, run: Any | None) -> None:
        """The replayed run is no longer running (`run`: its summary, None when deleted)."""
        self.follow_tick()  # the last rows
        self.stop_following()
        self.chart.live = False
        if run is not None and self.replayed is not None:
            self.chart.title = run_title(self.replayed[0], run)

    def stop_following(self) -> None:
        if self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        if self._follower is not None:
            self._follower.close()
            self._follower = None

    # ---- compare ------------------------------------------------------------------------------
    def show_compare(self, runs: list[LoadedRun]) -> None:
        self.stop_following()
        chart = self.chart
        chart.remove_all()
        for i, loaded in enumerate(runs):
            label = label_of(loaded.key)
            for series in training_series(label, PALETTE[i % len(PALETTE)]):
                series.s0 = self._origin(loaded)
                chart.add_series(series)
            steps, evals = self._aligned(loaded)
            fill_chart(chart, steps, evals, run=label)
            offset = int(loaded.steps["step"][0] - steps["step"][0]) if len(steps["step"]) else 0
            fill_metrics(chart, {name: (st - offset, v) for name, (st, v)
                                 in loaded.metrics.items()}, steps, run=label,
                         color=PALETTE[i % len(PALETTE)])
        chart.live = False  # a comparison is of loaded rows only
        chart.title = self._compare_title(runs)
        chart.save_dir = self.loader.folder(runs[0].key[0]).charts_dir
        self.compared, self.replayed, self.kind = runs, None, "compare"
        self.query_one(CompareTable).show([
            CompareRow(label_of(r.key), PALETTE[i % len(PALETTE)], r.run, self._params(r))
            for i, r in enumerate(runs)
        ])
        self.show_kind()
        if self.side_by_side:
            self._fill_side(like=None)
        else:
            chart.focus()

    def _params(self, loaded: LoadedRun) -> int | None:
        params = (loaded.run.config or {}).get("params")
        if isinstance(params, int):
            return params
        info = getattr(self.app, "info", lambda name: None)(loaded.key[0])
        return getattr(info, "params", None)

    def _aligned(self, loaded: LoadedRun) -> tuple[dict, dict]:
        """The run's arrays with steps counted from its start when `align_starts`."""
        offset = loaded.run.start_step or 0
        if not self.align_starts or not offset:
            return loaded.steps, loaded.evals
        return ({**loaded.steps, "step": loaded.steps["step"] - offset},
                {**loaded.evals, "step": loaded.evals["step"] - offset})

    def _origin(self, loaded: LoadedRun, aligned: bool | None = None) -> float | None:
        """The run's start step on the chart's step axis (shifted by `_aligned` when aligned):
        0 on the "steps since the run's start" axis (`x`), so that axis on aligned runs does
        not subtract a start a second time; None: unknown, the chart takes the first step."""
        start = loaded.run.start_step
        if start is None:
            return None
        return 0.0 if (self.align_starts if aligned is None else aligned) else float(start)

    def _compare_title(self, runs: list[LoadedRun]) -> str:
        # No key hint here: the title is also the saved chart's title and file name (the
        # footer names `a`).
        x = "steps since each run's start" if self.align_starts else "the model's steps"
        return "compare " + " vs ".join(label_of(r.key) for r in runs) + f" · x: {x}"

    def toggle_align(self) -> None:
        self.align_starts = not self.align_starts
        self.show_compare(self.compared)
        if not self.side_by_side:
            self.chart.focus()

    @work(exclusive=True, group="history-side")
    async def _fill_side(self, like: MetricsChart | None) -> None:
        side = self.query_one(CompareCharts)
        await side.show(
            [(label_of(r.key), *self._aligned(r)) for r in self.compared],
            like=like,
            origins=[self._origin(r) for r in self.compared],
            save_dirs=[self.loader.folder(r.key[0]).charts_dir for r in self.compared],
        )
        if side.charts:
            side.charts[0].focus()

    def toggle_side(self) -> None:
        self.side_by_side = not self.side_by_side
        side = self.query_one(CompareCharts)
        if self.side_by_side:
            self.show_kind()
            self._fill_side(like=self.chart)
        else:
            if side.charts:
                copy_view_state(side.charts[0], self.chart)
            self.show_kind()
            self.chart.focus()

    # ---- what is shown ------------------------------------------------------------------------
    def forget(self, key: Key) -> None:
        """A run was deleted: back to the hint if it is shown."""
        if self.replayed == key or any(r.key == key for r in self.compared):
            self.clear()

    def clear(self) -> None:
        """Show the hint (nothing replayed or compared)."""
        self.stop_following()
        self.kind, self.replayed, self.compared = "none", None, []
        self.show_kind()

    def show_kind(self) -> None:
        kind = self.kind
        side = kind == "compare" and self.side_by_side
        self.query_one("#history-hint").display = kind == "none"
        self.chart.display = kind != "none" and not side
        charts = self.query_one(CompareCharts)
        charts.display = side
        if not side and charts.children:  # their copies of the runs' arrays can be big
            charts.remove_children()
        self.query_one(CompareTable).display = kind == "compare"
        self.post_message(self.KindChanged(self))
