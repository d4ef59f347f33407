"""The table of a model's runs on the History screen: one row per run, newest first, keyed by
run id, with a mark column for runs picked for comparison."""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.message import Message

from slavik_tui.ui.widgets.columns import FittedTable

# (wide header, narrow header, right-aligned)
COLUMNS = [
    ("mark", "", False),  # ● on runs marked for comparison
    ("run", "run", True),
    ("kind", "kind", False),  # pretrain / sft / grpo: the stage the run trained
    ("started", "started", False),
    ("time", "time", True),
    ("steps", "steps", True),
    ("status", "status", False),
    ("lr", "lr", True),
    ("loss", "loss", True),
    ("val loss", "val", True),
    ("best reward", "rew", True),
    ("tok/s", "tok/s", True),
]
# From the most to the least important: narrow terminals lose the last ones first.
KEEP = ("run", "mark", "status", "loss", "val loss", "steps", "kind", "tok/s", "time",
        "best reward", "started", "lr")
MARK = "●"
STATUS_STYLE = {"running": "bold green", "finished": "", "stopped": "yellow", "failed": "red"}


def fmt_num(value: Any, spec: str = "") -> str:
    """A figure for a cell: '-' when there is none, 'nan' when the value itself was NaN."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return format(value, spec)


def fmt_duration(seconds: float | None) -> str:
    """42s, 3m 05s, 1h 02m, 2d 03h."""
    if seconds is None or math.isnan(seconds):
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def fmt_lr(value: Any) -> str:
    try:
        return f"{float(value):.0e}" if float(value) else "0"
    except (TypeError, ValueError):
        return "-"


def steps_cell(run: Any) -> str:
    """'0→200': the run's first and last step (a resumed run starts at its checkpoint)."""
    start = run.start_step or 0
    last = run.last_step if run.last_step is not None else start
    return f"{start}→{last}"


def duration_of(run: Any, now: float | None = None) -> float:
    end = run.ended_at if run.ended_at is not None else (now or time.time())
    return end - run.started_at


def row_of(run: Any, narrow: bool = False, now: float | None = None) -> tuple[str, ...]:
    """Cells of one run except the mark (plain strings, so rows compare cheaply)."""
    started = _dt.datetime.fromtimestamp(run.started_at)
    return (
        str(run.id),
        run.kind,
        started.strftime("%m-%d %H:%M" if narrow else "%Y-%m-%d %H:%M"),
        fmt_duration(duration_of(run, now)),
        steps_cell(run),
        run.status,
        fmt_lr((run.config or {}).get("lr")),
        fmt_num(run.final_loss, ".4f"),
        fmt_num(run.final_val_loss, ".4f"),
        fmt_num(run.best_reward, ".3f"),
        fmt_num(run.tok_s, ",.0f"),
    )


class RunsTable(FittedTable):
    """Runs of one model; the cursor stays on the same run across refreshes. `marked` holds
    the ids to show as marked (the screen owns the marks, across models)."""

    COLUMNS = COLUMNS
    KEEP = KEEP
    BINDINGS = [
        Binding("enter", "select_cursor", "Replay"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("e", "export_run", "Export CSV"),
        Binding("d,delete", "delete_run", "Delete"),
        Binding("u", "unmark_all", "Unmark all", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[Any] = []
        self.marked: set[int] = set()
        self._rows: list[tuple[str, ...]] = []
        self._shown_marks: set[int] = set()

    # The screen does the work: these keys post messages to it, so the keys live here (and
    # show in the footer only while the table has the focus) and the logic in one place.
    @dataclass
    class Mark(Message):
        """space: mark (or unmark) the highlighted run for comparison."""

    @dataclass
    class Compare(Message):
        """c: compare the marked runs."""

    @dataclass
    class Export(Message):
        """e: write the highlighted run as CSV."""

    @dataclass
    class Delete(Message):
        """d: delete the highlighted run from the history (after a confirmation)."""

    @dataclass
    class UnmarkAll(Message):
        """u: no run marked any more."""

    def action_mark(self) -> None:
        self.post_message(self.Mark())

    def action_compare(self) -> None:
        self.post_message(self.Compare())

    def action_export_run(self) -> None:
        self.post_message(self.Export())

    def action_delete_run(self) -> None:
        self.post_message(self.Delete())

    def action_unmark_all(self) -> None:
        self.post_message(self.UnmarkAll())

    @property
    def selected_run(self) -> Any | None:
        """The RunInfo under the cursor."""
        if not self.runs or not 0 <= self.cursor_row < len(self.runs):
            return None
        return self.runs[self.cursor_row]

    @property
    def short_dates(self) -> bool:
        return "started" in self.shorts

    def texts(self, shorts: frozenset) -> list[list[str]]:
        now = time.time()
        return [[MARK, *row_of(run, "started" in shorts, now)] for run in self.runs]

    def refill(self) -> None:
        self._rows = [row_of(r, self.short_dates) for r in self.runs]
        for run, row in zip(self.runs, self._rows):
            self.add_row(*self._cells(run, row), key=str(run.id))

    def show(self, runs: Sequence[Any], marked: set[int], select: int | None = None) -> None:
        """Show `runs` (newest first); keeps the cursor on the same run unless `select`."""
        now = time.time()
        rows = [row_of(r, self.short_dates, now) for r in runs]
        if rows == self._rows and marked == self._shown_marks and select is None:
            return
        keep = select if select is not None else (
            self.selected_run.id if self.selected_run else None)
        self.runs, self.marked = list(runs), set(marked)
        self._rows, self._shown_marks = rows, set(marked)
        ids = [r.id for r in self.runs]
        cursor = self.cursor_row
        if self.apply_layout():
            pass  # new columns: every row was added again
        elif [key.value for key in self.rows] == [str(i) for i in ids]:
            # The same runs: change the cells that changed (a running run's time and figures)
            # in place, so the table neither flickers nor moves its scroll position.
            for run, row in zip(self.runs, rows):
                for (wide, _s, _r), cell in zip(COLUMNS, self._cells(run, row, every=True)):
                    if self.shown(wide):
                        self.update_cell(str(run.id), wide, cell)
            return self._select(select, ids)
        else:
            self.clear()
            self.refill()
        if keep in ids:
            self.move_cursor(row=ids.index(keep), animate=False)
        elif ids:
            self.move_cursor(row=min(max(cursor, 0), len(ids) - 1), animate=False)
        self._select(select, ids)

    def _select(self, select: int | None, ids: list[int]) -> None:
        if select is not None and select in ids:
            self.move_cursor(row=ids.index(select), animate=False)

    def _cells(self, run: Any, row: tuple[str, ...], every: bool = False) -> list[Text]:
        cells = []
        if every or self.shown("mark"):
            cells.append(Text(MARK if run.id in self.marked else " ", style="bold cyan"))
        for (wide, _short, right), value in zip(COLUMNS[1:], row):
            if not (every or self.shown(wide)):
                continue
            style = STATUS_STYLE.get(value, "") if wide == "status" else ""
            cells.append(Text(value, style=style, justify="right" if right else "left"))
        return cells
