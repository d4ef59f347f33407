"""The small table under a comparison chart: one row per compared run with its figures, the
best value of each column in bold, and a swatch in the run's chart colour."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from rich.style import Style
from rich.text import Text

from slavik_tui.ui.widgets.columns import FittedTable
from slavik_tui.ui.widgets.runs_table import fmt_lr, fmt_num, steps_cell

# (wide header, also the key; short header; right-aligned), and which value is best
COLUMNS = [
    ("run", "run", False),
    ("status", "status", False),
    ("steps", "steps", True),
    ("lr", "lr", True),
    ("final loss", "loss", True),
    ("best val loss", "val", True),
    ("best reward", "rew", True),
    ("tok/s", "tok/s", True),
    ("params", "params", True),
]
BEST = {"final loss": "min", "best val loss": "min", "best reward": "max", "tok/s": "max"}
# From the most to the least important: narrow terminals shorten, then lose, the last ones.
KEEP = ("run", "best val loss", "final loss", "best reward", "lr", "steps", "status", "tok/s",
        "params")
SPECS = {"final loss": ".4f", "best val loss": ".4f", "best reward": ".3f", "tok/s": ",.0f"}
SWATCH = "━━ "


@dataclass
class CompareRow:
    """What the table shows of one compared run."""

    label: str  # "model/run"
    color: Any  # (r, g, b) of its series
    run: Any  # RunInfo
    params: int | None


def _rgb(color: Any) -> str | None:
    if isinstance(color, tuple) and len(color) == 3:
        return "#{:02x}{:02x}{:02x}".format(*color)
    return None


def _best(values: list[float | None], kind: str | None) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if kind is None or len(finite) < 2:
        return None
    return min(finite) if kind == "min" else max(finite)


class CompareTable(FittedTable):
    """Figures of compared runs side by side (read-only: the chart has the keys); its columns
    fit the pane (columns.py): short headers, then the least important left out."""

    COLUMNS = COLUMNS
    KEEP = KEEP

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cursor_type = "none"
        self.rows_shown: list[CompareRow] = []

    def show(self, rows: Sequence[CompareRow]) -> None:
        self.rows_shown = list(rows)
        self.fitted = None  # other cells: fit again
        self.clear(columns=True)
        self.apply_layout()

    def _figures(self) -> dict[str, list[float | None]]:
        runs = [r.run for r in self.rows_shown]
        return {
            "final loss": [r.final_loss for r in runs],
            "best val loss": [r.best_val_loss for r in runs],
            "best reward": [r.best_reward for r in runs],
            "tok/s": [r.tok_s for r in runs],
        }

    def _plain(self, row: CompareRow, i: int, figures: dict) -> list[str]:
        run = row.run
        return [SWATCH + row.label, run.status, steps_cell(run),
                fmt_lr((run.config or {}).get("lr")),
                *(fmt_num(values[i], SPECS[name]) for name, values in figures.items()),
                fmt_num(row.params, ",")]

    def texts(self, shorts: frozenset) -> list[list[str]]:
        figures = self._figures()
        return [self._plain(row, i, figures) for i, row in enumerate(self.rows_shown)]

    def refill(self) -> None:
        figures = self._figures()
        best = {name: _best(values, BEST[name]) for name, values in figures.items()}
        for i, row in enumerate(self.rows_shown):
            color = _rgb(row.color)
            cells = []
            for (key, _short, right), text in zip(COLUMNS, self._plain(row, i, figures)):
                if not self.shown(key):
                    continue
                if key == "run":
                    cell = Text(SWATCH, style=Style(color=color) if color else "") + Text(
                        row.label)
                else:
                    value = figures[key][i] if key in figures else None
                    is_best = key in best and best[key] is not None and value == best[key]
                    cell = Text(text, justify="right" if right else "left",
                                style="bold" if is_best else "")
                cells.append(cell)
            self.add_row(*cells, key=row.label)
