"""Rasterising per-column [min, max] spans into glyphs: braille (2×4 dots a cell), quadrant
blocks (2×2) or one character a cell. Pure numpy; `frame` writes the glyphs into its canvas.
"""

from __future__ import annotations

import numpy as np

# Sub-cell resolution (columns, rows) of each marker kind.
MARKER_RES: dict[str, tuple[int, int]] = {"braille": (2, 4), "hd": (2, 2), "char": (1, 1)}

# Bit of each sub-cell; rows listed bottom-up. Braille dots 1-2-3-7 are the left column
# (top to bottom), 4-5-6-8 the right one; bit k is dot k+1 for k < 6, dot 7/8 are bits 6/7.
_BRAILLE_BITS = np.array([[64, 128], [4, 32], [2, 16], [1, 8]], dtype=np.int64)
# Quadrants: TL=1, TR=2, BL=4, BR=8.
_HD_BITS = np.array([[4, 8], [1, 2]], dtype=np.int64)
_HD_GLYPHS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"


def value_to_row(v: np.ndarray, y_lo: float, y_hi: float, nrows: int) -> np.ndarray:
    """Sub-row index (0 = bottom) of each value; NaN -> -1."""
    if not y_hi > y_lo:
        y_hi = y_lo + 1.0
    with np.errstate(invalid="ignore"):
        r = np.floor((v - y_lo) / (y_hi - y_lo) * nrows)
    r = np.clip(np.nan_to_num(r, nan=-1.0), -1, nrows - 1)
    r[np.isnan(v)] = -1
    return r.astype(np.int64)


def _rows(v: np.ndarray, y_lo: float, y_hi: float, nrows: int) -> np.ndarray:
    """Sub-row of each value as a float, unclipped (NaN stays NaN)."""
    if not y_hi > y_lo:
        y_hi = y_lo + 1.0
    with np.errstate(invalid="ignore"):
        return np.floor((v - y_lo) / (y_hi - y_lo) * nrows)


def rasterize(
    span_lo: np.ndarray,
    span_hi: np.ndarray,
    y_lo: float,
    y_hi: float,
    cell_rows: int,
    *,
    kind: str = "braille",
    char: str = "•",
    points: bool = False,
    dash: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Glyphs of one series: (cell rows (0 = bottom), cell columns, characters), non-empty only.

    `span_lo`/`span_hi` have one entry per sub-column (cell columns × the kind's x resolution).
    A line fills each sub-column from its min to its max row; `points` marks only the min and
    max rows; `dash` > 0 blanks every other run of `dash` sub-columns (a dashed look).
    """
    sx, sy = MARKER_RES[kind]
    ncols = span_lo.size // sx
    nsub = cell_rows * sy
    if ncols <= 0 or cell_rows <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), []
    r_lo = _rows(span_lo[: ncols * sx], y_lo, y_hi, nsub)
    r_hi = _rows(span_hi[: ncols * sx], y_lo, y_hi, nsub)
    # A span reaching past the axis (outliers ignored when scaling) is clipped to its edge;
    # one wholly outside, or with nothing (NaN), is empty.
    empty = np.isnan(r_lo) | np.isnan(r_hi) | (r_hi < 0) | (r_lo > nsub - 1)
    if dash > 0:
        empty |= (np.arange(r_lo.size) // dash) % 2 == 1
    r_lo = np.where(empty, nsub, np.clip(np.nan_to_num(r_lo), 0, nsub - 1)).astype(np.int64)
    r_hi = np.where(empty, -1, np.clip(np.nan_to_num(r_hi), 0, nsub - 1)).astype(np.int64)
    rows = np.arange(nsub)[:, None]
    if points:
        grid = (rows == r_lo[None, :]) | (rows == r_hi[None, :])
    else:
        grid = (rows >= r_lo[None, :]) & (rows <= r_hi[None, :])
    cells = grid.reshape(cell_rows, sy, ncols, sx)
    if kind == "char":
        code = cells[:, 0, :, 0].astype(np.int64)
    else:
        bits = _BRAILLE_BITS if kind == "braille" else _HD_BITS
        code = np.einsum("aibj,ij->ab", cells.astype(np.int64), bits)
    rr, cc = np.nonzero(code)
    codes = code[rr, cc]
    if kind == "braille":
        chars = [chr(0x2800 + int(c)) for c in codes]
    elif kind == "hd":
        chars = [_HD_GLYPHS[int(c)] for c in codes]
    else:
        chars = [char] * int(codes.size)
    return rr, cc, chars
