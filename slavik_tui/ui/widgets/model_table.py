"""The table of models on the Models screen: one row per model folder, keyed by name."""

from __future__ import annotations

from typing import Any, Sequence

from rich.text import Text
from slavik_tui.store.stages import stages_label
from slavik_tui.ui.widgets.columns import FittedTable
from slavik_tui.ui.widgets.runs_table import fmt_num

# (wide header, narrow header, right-aligned)
COLUMNS = [
    ("name", "name", False),
    ("size MB", "MB", True),
    ("trained", "✓", False),
    ("stages", "stage", False),  # pre+sft+rl: the run kinds that trained it
    ("params", "params", True),
    ("d_model", "d", True),
    ("layers", "L", True),
    ("heads", "H", True),
    ("vocab", "vocab", True),
    ("context", "ctx", True),
    ("datasets", "data", True),
    ("steps", "steps", True),
    ("last loss", "loss", True),
]
# The columns from the most to the least important: narrow terminals lose the last ones first.
KEEP = ("name", "size MB", "last loss", "steps", "params", "trained", "stages", "datasets",
        "d_model", "layers", "heads", "context", "vocab")


def human_count(n: int | None) -> str:
    """2_555_904 → 2.56M: three significant digits, short enough for a table cell (the
    details pane has the exact count)."""
    if n is None:
        return "-"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(n)


def row_of(info: Any) -> tuple[str, ...]:
    """The cells of one model (plain strings, so rows compare cheaply)."""
    return (
        info.name,
        fmt_num(info.checkpoint_mb, ".2f" if (info.checkpoint_mb or 0) < 10 else ".1f"),
        "✓" if info.trained else "",
        stages_label(getattr(info, "stages", ())),
        human_count(info.params),
        fmt_num(info.d_model),
        fmt_num(info.n_layers),
        fmt_num(info.n_heads),
        fmt_num(info.vocab_size),
        fmt_num(info.context),
        fmt_num(info.datasets),
        fmt_num(info.steps, ","),
        fmt_num(info.last_loss, ".4f"),
    )


class ModelTable(FittedTable):
    """Models, one row each; the cursor stays on the same model across refreshes. Columns
    shorten their headers, then leave out the least important, to fit the width."""

    COLUMNS = COLUMNS
    KEEP = KEEP

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rows: list[tuple[str, ...]] = []
        self._running: set[str] = set()

    @property
    def selected_name(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= len(self._rows):
            return None
        return self._rows[self.cursor_row][0]

    def texts(self, shorts: frozenset) -> list[list[str]]:
        return [[cell.plain for cell in self._cells(row, self._running, every=True)]
                for row in self._rows]

    def refill(self) -> None:
        for row in self._rows:
            self.add_row(*self._cells(row, self._running), key=row[0])

    def show(self, models: Sequence[Any], select: str | None = None) -> None:
        rows = [row_of(m) for m in models]
        running = {m.name for m in models if getattr(m, "running_pid", None)}
        if rows == self._rows and running == self._running and select is None:
            return
        self._fill(rows, running, select or self.selected_name)

    def _cells(self, row: tuple[str, ...], running: set[str], every: bool = False
               ) -> list[Text]:
        cells: list[Text] = []
        for (wide, _short, right), value in zip(COLUMNS, row):
            if not (every or self.shown(wide)):
                continue
            if wide == "name" and value in running:
                cells.append(Text.assemble(value, (" ▶", "bold green")))
            else:
                cells.append(Text(value, justify="right" if right else "left"))
        return cells

    def _fill(self, rows: list[tuple[str, ...]], running: set[str], select: str | None) -> None:
        old_rows, old_running = self._rows, self._running
        self._rows, self._running = rows, running
        names = [r[0] for r in rows]
        if self.apply_layout():
            pass  # new columns: every row was added again
        elif self.row_count == len(rows) and names == [r[0] for r in old_rows]:
            # The same models (a trainer moved on): update the changed cells in place, so
            # the cursor and the scroll position stay where the user left them.
            for old, new in zip(old_rows, rows):
                was, now = old[0] in old_running, new[0] in running
                if old == new and was == now:
                    continue
                for (wide, _s, _r), before, after, cell in zip(
                        COLUMNS, old, new, self._cells(new, running, every=True)):
                    if not self.shown(wide):
                        continue
                    if before != after or (wide == "name" and was != now):
                        self.update_cell(new[0], wide, cell, update_width=True)
        else:
            self.clear()
            self.refill()
        if select in names and names.index(select) != self.cursor_row:
            self.move_cursor(row=names.index(select), animate=False)
