"""The frame around the data, drawn by plotext: axes, our round-number ticks, axis labels, title.

The data are *not* handed to plotext: it rasterises lines point by point in Python, so even
the reduced min/max zigzag of 3 series costs 35–70 ms a frame (bench/chart_speed.py). plotext
builds its character matrix with empty signals (which switch each side's axis on); `Canvas`
then lets `frame` write its own glyphs into the data area and reads the matrix back as styled
runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotext._matrix as plotext_matrix
import plotext._utility as plotext_utility
from plotext._figure import _figure_class as PlotextFigure

from slavik_tui.charts.legend import Run
from slavik_tui.charts.theme import cell_style

Ticks = tuple[list[float], list[str]]
"""(positions, labels) of an axis' ticks."""


@dataclass(frozen=True)
class YAxis:
    """One y axis: its range, ticks and label (None: the axis is shown without a label)."""

    range: tuple[float, float]
    ticks: Ticks
    label: str | None = None


class _Matrix(plotext_matrix.matrix_class):
    """plotext's character matrix with a faster `set_matrices` (same result).

    The original decides the background of every cell with a per-cell lambda (~3 ms at
    120×35); here each row is built from three slices.
    """

    def set_matrices(self) -> None:
        cols, space, none = self.cols, plotext_utility.space, plotext_utility.no_color
        c0 = min(max(self.Cols_canvas.start, 0), cols)
        c1 = min(max(self.Cols_canvas.stop, c0), cols)
        axes, canvas = self.axes_color, self.canvas_color
        inside = [axes] * c0 + [canvas] * (c1 - c0) + [axes] * (cols - c1)
        self.marker = [[space] * cols for _ in self.Rows]
        self.fullground = [[none] * cols for _ in self.Rows]
        self.background = [
            list(inside) if row in self.Rows_canvas else [axes] * cols for row in self.Rows
        ]
        self.style = [[none] * cols for _ in self.Rows]


class Canvas:
    """plotext's matrix of a frame, and the data area inside it.

    `cols` = [c0, c1) columns and `rows` = [r0, r1) rows of the data area, rows counted from
    the bottom as plotext does.
    """

    def __init__(self, matrix: _Matrix) -> None:
        self._matrix = matrix
        self.cols = (matrix.Cols_canvas.start, matrix.Cols_canvas.stop)
        self.rows = (matrix.Rows_canvas.start, matrix.Rows_canvas.stop)

    @property
    def width(self) -> int:
        return self.cols[1] - self.cols[0]

    @property
    def height(self) -> int:
        return self.rows[1] - self.rows[0]

    def char_at(self, row: int, col: int) -> str:
        """The glyph at data-area cell (row 0 = bottom)."""
        return self._matrix.marker[row + self.rows[0]][col + self.cols[0]]

    def put(self, rows: np.ndarray, cols: np.ndarray, chars: Sequence[str], color: object) -> None:
        """Write glyphs at data-area cells (row 0 = bottom) in `color` (a plotext colour)."""
        marker, fullground = self._matrix.marker, self._matrix.fullground
        r0, c0 = self.rows[0], self.cols[0]
        for r, c, ch in zip((rows + r0).tolist(), (cols + c0).tolist(), chars):
            marker[r][c] = ch
            fullground[r][c] = color

    def runs(self) -> list[list[Run]]:
        """The matrix as lines of styled runs, top line first.

        Same look as `Text.from_ansi(matrix.set_canvas())` at a fraction of the cost: runs of
        equal colours are cut directly instead of being encoded to escape codes and parsed
        back.
        """
        matrix = self._matrix
        markers, fgs = matrix.marker, matrix.fullground
        bgs, styles = matrix.background, matrix.style
        lines: list[list[Run]] = []
        for row in range(matrix.rows - 1, -1, -1):
            chars = markers[row]
            runs: list[Run] = []
            start, prev = 0, None
            for col, key in enumerate(zip(fgs[row], styles[row], bgs[row])):
                if key != prev:
                    if prev is not None:
                        runs.append(("".join(chars[start:col]), cell_style(prev)))
                    start, prev = col, key
            if prev is not None:
                runs.append(("".join(chars[start:]), cell_style(prev)))
            lines.append(runs)
        return lines


def draw_axes(
    width: int,
    height: int,
    *,
    theme: str,
    title: str,
    x_label: str,
    x_range: tuple[float, float],
    x_ticks: Ticks,
    y_axes: dict[str, YAxis],
) -> Canvas:
    """The frame of `width` × `height` cells in plotext theme `theme`, with an empty data area.

    `y_axes` maps "left" / "right" to the axes to show.
    """
    plt = PlotextFigure()
    plt.plotsize(width, height)
    plt._set_size(width, height)  # noqa: SLF001 - plotsize alone does not always resize
    plt.theme(theme)
    if title:
        plt.title(title[: max(width - 4, 0)])
    plt.xlabel(x_label)
    plt.xlim(*x_range)
    plt.xticks(*x_ticks)
    for side, axis in y_axes.items():
        plt.ylim(*axis.range, yside=side)
        plt.yticks(*axis.ticks, yside=side)
        plt.plot([], [], yside=side)  # an empty signal switches the side's axis and ticks on
        if axis.label is not None:
            plt.ylabel(axis.label, yside=side)
    plt.monitor.matrix = _Matrix()
    plt._set_sizes()  # noqa: SLF001 - build() minus the final to-text step, so that `frame`
    plt._build_matrix()  # noqa: SLF001 - can write its glyphs into the matrix first
    return Canvas(plt.monitor.matrix)
