"""Rasterising [min, max] spans into braille, quadrant blocks and characters."""

from __future__ import annotations

import numpy as np

from slavik_tui.charts.raster import rasterize, value_to_row


def test_rasterize_braille_line_and_points():
    span = np.full(8, 0.5)
    rows, cols, chars = rasterize(span, span, 0.0, 1.0, 2, kind="braille")
    # 4 cells wide, one row: y=0.5 is sub-row 4 of 8 -> bottom dots of the top cell row.
    assert cols.tolist() == [0, 1, 2, 3] and set(rows.tolist()) == {1}
    assert set(chars) == {"⣀"}
    # A vertical stroke fills every dot of its sub-column.
    lo = np.array([0.0, np.nan])
    hi = np.array([1.0, np.nan])
    rows, cols, chars = rasterize(lo, hi, 0.0, 1.0, 1, kind="braille")
    assert chars == ["⡇"]
    # Points mark only min and max.
    rows, cols, chars = rasterize(lo[:1], hi[:1], 0.0, 1.0, 3, kind="char", points=True, char="•")
    assert rows.tolist() == [0, 2] and chars == ["•", "•"]


def test_rasterize_hd_and_dashes():
    lo = np.array([0.0, 0.0, 0.9, 0.9])
    rows, cols, chars = rasterize(lo, lo, 0.0, 1.0, 1, kind="hd")
    assert chars == ["▄", "▀"]
    span = np.zeros(16)
    rows, cols, chars = rasterize(span, span, 0.0, 1.0, 1, kind="braille", dash=4)
    assert cols.tolist() == [0, 1, 4, 5]  # 2 cells on, 2 cells off


# -- ticks -------------------------------------------------------------------------------------


def test_value_to_row_clips_and_marks_nan():
    rows = value_to_row(np.array([-1.0, 0.0, 0.49, 0.5, 1.0, 5.0, np.nan]), 0.0, 1.0, 4)
    assert rows.tolist() == [-1, 0, 1, 2, 3, 3, -1]
    assert value_to_row(np.array([2.0]), 2.0, 2.0, 4).tolist() == [0]  # flat axis: no division
