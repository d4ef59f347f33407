"""The small table under a comparison chart: one row per compared run with its figures, the
best value of each column in bold, and a swatch in the run's chart colour."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from slavik_tui.ui.widgets.runs_table import fmt_lr, fmt_num, steps_cell

# (header, right-aligned, which value is best: "min" / "max" / None)
COLUMNS = [
    ("run", False, None),
    ("status", False, None),
    ("steps", True, None),
    ("lr", True, None),
    ("final loss", True, "min"),
    ("best val loss", True, "min"),
    ("best reward", True, "max"),
    ("tok/s", True, "max"),
    ("params", True, None),
]


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


class CompareTable(DataTable):
    """Figures of compared runs side by side (read-only: the chart has the keys)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self.rows_shown: list[CompareRow] = []

    def on_mount(self) -> None:
        for header, right, _best_kind in COLUMNS:
            self.add_column(Text(header, justify="right" if right else "left"), key=header)

    def show(self, rows: Sequence[CompareRow]) -> None:
        self.rows_shown = list(rows)
        self.clear()
        figures = {
            "final loss": [r.run.final_loss for r in rows],
            "best val loss": [r.run.best_val_loss for r in rows],
            "best reward": [r.run.best_reward for r in rows],
            "tok/s": [r.run.tok_s for r in rows],
        }
        best_kind = {header: kind for header, _right, kind in COLUMNS}
        best = {name: _best(values, best_kind[name]) for name, values in figures.items()}
        specs = {"final loss": ".4f", "best val loss": ".4f", "best reward": ".3f",
                 "tok/s": ",.0f"}
        for i, row in enumerate(rows):
            run = row.run
            swatch = Text("━━ ", style=Style(color=_rgb(row.color)) if _rgb(row.color) else "")
            cells: list[Text] = [
                swatch + Text(row.label),
                Text(run.status),
                Text(steps_cell(run), justify="right"),
                Text(fmt_lr((run.config or {}).get("lr")), justify="right"),
            ]
            for name, values in figures.items():
                value = values[i]
                is_best = best[name] is not None and value == best[name]
                cells.append(Text(fmt_num(value, specs[name]), justify="right",
                                  style="bold" if is_best else ""))
            cells.append(Text(fmt_num(row.params, ","), justify="right"))
            self.add_row(*cells, key=row.label)
