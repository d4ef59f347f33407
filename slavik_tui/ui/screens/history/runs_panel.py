"""The upper half of the History screen: the model picker and the marks, the runs table, and
a line on the highlighted run (why it ended, how it was set up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Select, Static

from slavik_tui.errors import UserError
from slavik_tui.ui.screens.history.loader import Key, RunLoader, label_of
from slavik_tui.ui.widgets.runs_table import MARK, RunsTable, fmt_lr


def detail_of(run: Any) -> str:
    """'run 2 · pretrain · stopped: told to · lr 3e-03 · batch 8 · on cpu · bf16 · a.txt'."""
    cfg = run.config or {}
    parts = [f"run {run.id}", run.kind, run.status + (f": {run.reason}" if run.reason else "")]
    if "lr" in cfg:
        parts.append(f"lr {fmt_lr(cfg['lr'])}")
    for key, name in (("batch_size", "batch"), ("device", "on"), ("dtype", "")):
        if key in cfg:
            parts.append(f"{name} {cfg[key]}".strip())
    if cfg.get("datasets"):
        parts.append(", ".join(map(str, cfg["datasets"])))
    return " · ".join(parts)


def delete_question(model: str, run: Any) -> str:
    last = run.last_step if run.last_step is not None else "-"
    return (f"Delete run {run.id} of '{model}' ({run.status}, steps {run.start_step or 0}→"
            f"{last}) and all its metric rows from the history?\nThe model's weights and "
            "checkpoint are not touched, nor the charts already saved in charts/.")


class RunsPanel(Vertical):
    """Picker (its `Select.Changed` bubbles to the screen), marks line, `RunsTable`, detail."""

    @dataclass
    class Listed(Message):
        """A fresh `History.runs()` of a model (or the one-line error reading it)."""

        model: str
        runs: list[Any]
        error: str | None = None

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunsPanel.Listed) and message.model == self.model

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_names: list[str] = []
        self.model: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="history-bar"):
            yield Label("model")
            yield Select([], prompt="pick a model", compact=True, id="history-model")
            yield Static("", id="history-marked", markup=False)
        yield RunsTable(id="runs-table")
        yield Static("", id="run-detail", markup=False)

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    @property
    def picker(self) -> Select:
        return self.query_one("#history-model", Select)

    def set_models(self, names: list[str]) -> None:
        if names != self.model_names:
            self.model_names = names
            with self.prevent(Select.Changed):
                self.picker.set_options([(n, n) for n in names])

    def pick(self, name: str | None) -> None:
        """Show `name` in the picker (without a `Select.Changed`)."""
        self.model = name
        if name in self.model_names and self.picker.value != name:
            with self.prevent(Select.Changed):
                self.picker.value = name

    def show_runs(self, runs: list[Any], marks: list[Key]) -> None:
        self.table.show(runs, {rid for model, rid in marks if model == self.model})
        self.show_detail()

    @work(thread=True, exclusive=True, group="history-runs", exit_on_error=False)
    def list_runs(self, loader: RunLoader, model: str) -> None:
        """Read the runs of `model`; a `Listed` goes on to the screen, which shows them."""
        try:
            runs = loader.runs(model)
        except Exception as exc:  # noqa: BLE001 - UserError, or sqlite on a replaced file
            text = str(exc) if isinstance(exc, UserError) else f"cannot read the history: {exc}"
            self.post_message(self.Listed(model, [], text))
            return
        self.post_message(self.Listed(model, runs))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        if message.model == self.model and message.error:
            self.query_one("#run-detail", Static).update(message.error)

    @on(DataTable.RowHighlighted, "#runs-table")
    def show_detail(self) -> None:
        run = self.table.selected_run
        if run is None:
            text = "no runs yet: train this model (F2)" if self.model else ""
        else:
            text = detail_of(run)
        self.query_one("#run-detail", Static).update(text)

    def show_marks(self, marks: list[Key]) -> None:
        widget = self.query_one("#history-marked", Static)
        if not marks:
            widget.update("space marks runs to compare (of any model)")
        else:
            labels = " ".join(f"{MARK}{label_of(k)}" for k in marks)
            # The keys first: a long list of labels ends in "…" at the right edge.
            more = "c compares" if len(marks) >= 2 else "mark one more to compare"
            widget.update(f"{more}, u unmarks: {labels}")
