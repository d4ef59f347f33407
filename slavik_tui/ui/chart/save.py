"""Saving a chart (ctrl+s): the view on screen as a vector SVG made from the data
(`charts.svg.chart_svg`: the x-range, smoothing, log y, x axis and hidden series of the view)
and the visible series' raw rows in that x-range as CSV, beside each other under a name made
from the title (`file_stem`: its words, cut where a part or a word ends) and the time.

`prepare_save` snapshots everything on the UI thread (the SVG is drawn, the rows are copied);
`SaveJob.write` can then run in a worker thread. `saved_note` is the notification that follows.
A model's charts/ folder is never written through a link out of it (`ModelFolder.inner_dir`).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from slavik_tui.atomic import atomic_write_text, replacing
from slavik_tui.charts.frame import Frame
from slavik_tui.charts.series import Series, time_origin
from slavik_tui.charts.svg import chart_svg
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.ui.chart.view import ChartView

NOTE_WIDTH = 38
"""Text columns of a notification at 80 columns (Textual's toast: half the screen, padded)."""


def _short_dir(folder: Path) -> str:
    """`folder` for people: relative to the cwd when inside it, else with ~ for home."""
    folder = Path(folder)
    try:
        rel = folder.resolve().relative_to(Path.cwd().resolve())
        return "." if not rel.parts else str(rel)
    except (OSError, ValueError):
        pass
    home = Path.home()
    try:
        return str(Path("~") / folder.relative_to(home))
    except ValueError:
        return str(folder)


def _clip_middle(text: str, width: int, keep_tail: int = 0) -> str:
    """`text` cut to `width` with an ellipsis in the middle, keeping its last `keep_tail`."""
    if len(text) <= width:
        return text
    tail = min(max(keep_tail, 0), width - 2)
    head = width - 1 - tail
    return text[:head] + "…" + (text[-tail:] if tail else "")


def saved_note(svg: Path, csv_path: Path, width: int = NOTE_WIDTH) -> str:
    """The 'Chart saved' notification: the file name(s) on one line, the folder once.

    'tiny-20250301-121212.svg + .csv' / 'in ~/models/tiny/charts'. Each line fits `width`
    (long names keep their start and their time stamp), so at 80×24 the note covers a corner
    of the chart, not half of it. The full paths are in the `Saved` message.
    """
    if svg.parent == csv_path.parent and svg.stem == csv_path.stem:
        extra = f" + {csv_path.suffix}"
        names = _clip_middle(svg.stem, width - len(svg.suffix) - len(extra), 16) + svg.suffix
        names += extra
    else:
        names = f"{_clip_middle(svg.name, width, 20)}\n{_clip_middle(csv_path.name, width, 20)}"
    folder = _short_dir(svg.parent) if svg.parent == csv_path.parent else ""
    where = "\nin " + _clip_middle(folder, width - 3, width // 2) if folder else ""
    return names + where


STEM_MAX = 60
"""Characters of a saved chart's name taken from its title (the time stamp follows)."""


def _words(text: str) -> list[str]:
    """The words of `text` for a file name, each a slug of one blank-separated token: letters
    of any alphabet, digits, inner dots, "-" for the rest ("alpha/2" → "alpha-2", "0→200" →
    "0-200", "run's" → "runs"); tokens of no letters or digits are left out."""
    text = re.sub(r"['’]", "", text)
    words = ("-".join(w.strip(".") for w in re.split(r"[^\w.]+", token) if w.strip("."))
             for token in text.split())
    return [w for w in words if w]


def file_stem(title: str, limit: int = STEM_MAX) -> str:
    """A file name from a chart's title: its words joined by "-", at most `limit` long.

    The title's parts (" · " between them) are kept whole while they fit, so a long title
    loses its last parts, not half a word ("compare alpha/2 vs beta/1 · x: steps since each
    run's start" → "compare-alpha-2-vs-beta-1-x-steps-since-each-runs-start", or
    "compare-alpha-2-vs-beta-1" when that is too long); a first part longer than `limit`
    keeps its words that fit (never a dangling "vs"), a single longer word is cut at a "-"
    where it has one. "chart" for a title of no words.
    """
    kept: list[str] = []
    for words in filter(None, (_words(part) for part in title.split(" · "))):
        if len("-".join(kept + words)) <= limit:
            kept += words
            continue
        if not kept:  # the first part alone is too long: its words that fit
            for word in words:
                if len("-".join(kept + [word])) > limit:
                    break
                kept.append(word)
            while len(kept) > 1 and kept[-1] == "vs":
                kept.pop()
            if not kept:
                cut = words[0][:limit + 1]
                kept = [cut[:cut.rindex("-")] if "-" in cut[1:] else cut[:limit]]
        break
    return "-".join(kept) or "chart"


def free_stem(folder: Path, title: str, when: datetime) -> str:
    """`file_stem(title)` and the time, with -2, -3 … until neither .svg nor .csv exists."""
    base = f"{file_stem(title)}-{when:%Y%m%d-%H%M%S}"
    stem, n = base, 1
    while (folder / f"{stem}.svg").exists() or (folder / f"{stem}.csv").exists():
        n += 1
        stem = f"{base}-{n}"
    return stem


_LIVE_WORDS = ("● live", "‖ paused", "■ ended")


def view_note(view: ChartView) -> str:
    """What the view does to the data, for the saved chart's subtitle: the mode line without
    the live/paused/ended state ("EMA 0.9 · x: step")."""
    return " · ".join(p for p in view.status_text().split(" · ") if p not in _LIVE_WORDS)


def view_svg(view: ChartView, title: str, x_range: tuple[float, float] | None = None) -> str:
    """The chart `view` shows (over `x_range`, default the view's own) as a vector SVG."""
    return chart_svg(
        [s for s in view.series.values() if view.in_chart(s)],  # the extras shown, if any
        x_range=x_range if x_range is not None else view.x_range,
        x_mode=view.x_mode,
        hidden=view.hidden,
        smoothing=view.smoothing_spec,
        smoothing_label=view_note(view),
        log_y=view.log_y,
        robust_y=view.robust_y,
        title=title,
    )


def prepare_save(
    directory: str | os.PathLike[str] | None, frame: Frame | None, title: str, view: ChartView
) -> "SaveJob":
    """What to write for `view` into `directory` (default: the cwd): file names that are free
    now, the SVG of the view (over `frame`'s x-range when given: exactly what is on screen),
    the visible series' rows in that x-range. Creates the folder."""
    folder = Path(directory) if directory is not None else Path.cwd()
    if directory is not None:  # a model's charts/: never written through a link out of it
        ModelFolder(folder.parent).inner_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lo, hi = frame.x_range if frame is not None else view.x_range
    svg = view_svg(view, title, (lo, hi))
    every = list(view.series.values())
    columns: list[tuple[Series, np.ndarray, np.ndarray, np.ndarray, float]] = []
    for s in every:
        if s.metric in view.hidden or not len(s) or not view.in_chart(s):
            continue
        x, off = view.x_values(s)
        i0 = int(np.searchsorted(x, lo + off, side="left"))
        i1 = int(np.searchsorted(x, hi + off, side="right"))
        rows = (s.x_step[i0:i1].copy(), s.x_time[i0:i1].copy(), s.y[i0:i1].copy())
        columns.append((s, *rows, time_origin(s, every)))
    stem = free_stem(folder, title, datetime.now())
    return SaveJob(folder / f"{stem}.svg", folder / f"{stem}.csv", svg, columns)


def _num(v: float) -> str:
    """CSV number: integers without '.0', everything else in full precision."""
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


@dataclass
class SaveJob:
    """What ctrl+s writes, snapshotted on the UI thread so a worker thread can write it."""

    svg_path: Path
    csv_path: Path
    svg: str
    columns: list[tuple[Series, np.ndarray, np.ndarray, np.ndarray, float]]

    def write(self) -> tuple[Path, Path]:
        atomic_write_text(self.svg_path, self.svg)
        with replacing(self.csv_path, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["series", "label", "metric", "step", "time", "elapsed_s", "value"])
            for s, steps, times, values, t0 in self.columns:
                for step, t, v in zip(steps.tolist(), times.tolist(), values.tolist()):
                    numbers = (_num(step), _num(t), _num(t - t0), _num(v))
                    out.writerow([s.key, s.label, s.metric, *numbers])
        return self.svg_path, self.csv_path
