"""Tables whose columns fit the terminal: full headers where there is room, short headers
where there is not, and then the least important columns left out — never a column cut off
at the right edge (a DataTable wider than its pane scrolls sideways and hides the last ones).

`fit_columns` is the rule (pure: widths in terminal cells); `FittedTable` is a DataTable that
applies it whenever its width or its cells change, and whose End / Home go to the last / first
row (a DataTable's own End scrolls sideways, which a row table never needs once it fits).
"""

from __future__ import annotations

from typing import Callable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

# (wide header, also the key; short header, "" for a column without one; right-aligned)
Column = tuple[str, str, bool]
Layout = tuple[tuple[str, ...], frozenset]  # (keys shown, in table order; keys shortened)


def needed_width(columns: Sequence[Column], rows: Sequence[Sequence[str]], keys: Sequence[str],
                 shorts: frozenset, padding: int = 1) -> int:
    """Cells the columns `keys` take with these rows (each column: its widest cell or header,
    plus the table's padding either side); the columns in `shorts` have short headers."""
    total = 0
    for i, column in enumerate(columns):
        if column[0] not in keys:
            continue
        width = max([cell_len(header_of(column, shorts)), *(cell_len(row[i]) for row in rows)])
        total += width + 2 * padding
    return total


def header_of(column: Column, shorts: frozenset) -> str:
    wide, short, _right = column
    return short if wide in shorts or not short else wide


def fit_columns(columns: Sequence[Column], rows_for: Callable[[frozenset], Sequence[Sequence[str]]],
                width: int, keep: Sequence[str], padding: int = 1) -> Layout:
    """Which columns to show in `width` cells, and which with short headers (and the shorter
    cells `rows_for(shorts)` gives them): every column in full if they fit; else the headers
    shorten one at a time from the least important (the end of `keep`, most important
    first); then those columns are left out, the least important first, until the rest fit.
    The first column of `keep` always stays."""
    shown = [c[0] for c in columns]
    shorts: frozenset = frozenset()

    def fits() -> bool:
        return needed_width(columns, rows_for(shorts), shown, shorts, padding) <= width

    if fits():
        return tuple(shown), shorts
    for key in reversed(keep):
        shorts = shorts | {key}
        if fits():
            return tuple(shown), shorts
    for victim in reversed(keep):
        if fits() or len(shown) == 1:
            break
        if victim in shown and victim != keep[0]:
            shown.remove(victim)
    return tuple(shown), shorts


class FittedTable(DataTable):
    """A row-cursor DataTable whose columns fit its width (see `fit_columns`). Subclasses set
    COLUMNS and KEEP and give `texts(short)`: every row's plain cells, all columns."""

    COLUMNS: Sequence[Column] = ()
    KEEP: Sequence[str] = ()
    BINDINGS = [
        Binding("end", "last_row", "Last row", show=False),
        Binding("home", "first_row", "First row", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.fitted: Layout | None = None
        """The columns shown and whether with short headers (None before the first fit)."""

    # ---- what subclasses give --------------------------------------------------------------
    def texts(self, shorts: frozenset) -> list[list[str]]:
        """Every row's plain cells, all columns, with the columns in `shorts` shortened."""
        raise NotImplementedError

    def refill(self) -> None:
        """Add every row again (after the columns changed)."""
        raise NotImplementedError

    # ---- fitting -------------------------------------------------------------------------------
    @property
    def shorts(self) -> frozenset:
        """The columns shown with short headers (and cells, where a column has short ones)."""
        return self.fitted[1] if self.fitted else frozenset()

    def shown(self, key: str) -> bool:
        return self.fitted is None or key in self.fitted[0]

    def available_width(self) -> int:
        width = self.size.width
        if self.row_count + 1 > self.size.height:  # rows below: a vertical scrollbar
            width -= self.styles.scrollbar_size_vertical
        return width

    def apply_layout(self) -> bool:
        """Fit the columns to the width now; True when they changed (rows need a refill)."""
        width = self.available_width()
        if width <= 0 and self.fitted is not None:
            return False  # not laid out yet: keep what there is
        layout = fit_columns(self.COLUMNS, self.texts, width if width > 0 else 10**6,
                             self.KEEP, padding=self.cell_padding)
        if layout == self.fitted:
            return False
        self.fitted = layout
        keys, shorts = layout
        cursor = self.cursor_row
        self.clear(columns=True)
        for column in self.COLUMNS:
            if column[0] in keys:
                self.add_column(Text(header_of(column, shorts),
                                     justify="right" if column[2] else "left"), key=column[0])
        self.refill()
        if 0 <= cursor < self.row_count:
            self.move_cursor(row=cursor, animate=False)
        return True

    def on_resize(self) -> None:
        self.apply_layout()

    # ---- keys ------------------------------------------------------------------------------
    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)
