"""The pieces of an SVG chart that know nothing of charts: XML-safe text, colours, and which
points of a long line to draw (`decimate`). Used by `charts.svg`. Standard library + numpy.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

import numpy as np

INK = "#222222"
"""Text and the fallback colour."""

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: object) -> str:
    """`text` as XML character data: escaped, without characters XML 1.0 cannot hold."""
    return escape(_BAD_XML.sub("", str(text)))


def xml_attr(text: object) -> str:
    """`text` as a quoted XML attribute value."""
    return quoteattr(_BAD_XML.sub("", str(text)))


def css_color(color: object, fallback: str = INK) -> str:
    """A series colour (RGB tuple, colour name, 256-colour index) as an SVG colour."""
    if isinstance(color, (tuple, list)) and len(color) == 3:
        r, g, b = (max(0, min(255, int(c))) for c in color)
        return f"#{r:02x}{g:02x}{b:02x}"
    if isinstance(color, str) and re.fullmatch(r"[a-z]+", color):
        return color
    if isinstance(color, int) and not isinstance(color, bool):  # an index: the run palette
        from slavik_tui.charts.theme import PALETTE
        return css_color(PALETTE[color % len(PALETTE)])
    return fallback


def decimate(x: np.ndarray, y: np.ndarray, lo: float, hi: float, columns: int) -> np.ndarray:
    """Indices of the points of (x, y) to draw in `columns` pixel columns of [lo, hi]: every
    point when there are few, else the first, lowest, highest and last of each column (in x
    order), so no spike or step is lost. NaN values are kept (they break the line)."""
    n = x.size
    if n <= 4 * max(columns, 1):
        return np.arange(n)
    col = np.clip(((x - lo) / max(hi - lo, 1e-300) * columns).astype(np.int64), -1, columns)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    sizes = np.diff(np.r_[starts, n])
    gap = ~np.isfinite(y)
    keep = [starts, starts + sizes - 1, np.flatnonzero(gap & np.r_[True, ~gap[:-1]])]
    for fill, reduce in ((np.inf, np.minimum), (-np.inf, np.maximum)):
        filled = np.where(gap, fill, y)
        hit = np.flatnonzero((filled == np.repeat(reduce.reduceat(filled, starts), sizes)) & ~gap)
        group = np.searchsorted(starts, hit, side="right")
        keep.append(hit[np.r_[True, group[1:] != group[:-1]]] if hit.size else hit)
    return np.unique(np.concatenate(keep))


def segments(px: np.ndarray, py: np.ndarray) -> list[np.ndarray]:
    """Index runs of finite points (NaN breaks a line)."""
    idx = np.flatnonzero(np.isfinite(py))
    cuts = np.flatnonzero(np.diff(idx) > 1) + 1
    return [seg for seg in np.split(idx, cuts) if seg.size]


def points_attr(px: np.ndarray, py: np.ndarray, steps: bool = False) -> str:
    """The `points` of a polyline through (px, py); with `steps` as a staircase."""
    if steps and px.size > 1:  # hold each value until the next point: horizontal, then up/down
        px, py = np.repeat(px, 2)[1:], np.repeat(py, 2)[:-1]
    return " ".join(f"{a:.2f},{b:.2f}" for a, b in zip(px.tolist(), py.tolist()))
