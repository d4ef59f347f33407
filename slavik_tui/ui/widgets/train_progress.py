"""The progress line of a training run: where it is, how it does, how long it has left.

`runs.watch.RunProgress` is the plain data the poll loop keeps up to date; `progress_text`
turns it into one styled line (it wraps on narrow terminals), and `TrainProgress` shows it.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from slavik_tui.runs.watch import RunProgress
from slavik_tui.ui.widgets.runs_table import fmt_num

STATUS_STYLE = {
    "running": "bold green",
    "starting": "bold yellow",
    "stopping": "bold yellow",
    "finished": "bold",
    "stopped": "bold yellow",
    "failed": "bold red",
    "gone": "bold red",
}
SEP = "  "


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_rate(v: float) -> str:
    """tokens/s, short and without spaces (the line wraps only between fields)."""
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def _field(*parts: tuple[str, str]) -> Text:
    return Text.assemble(*parts)


def progress_fields(p: RunProgress, now: float | None = None) -> list[Text]:
    """The figures of the line, each one field: run + status, step / target (%), loss, val
    loss, reward, tok/s, ETA, elapsed."""
    status = p.status or "?"
    fields = [_field((f"run {p.run_id} ", "bold"),
                     (f"● {status}" if p.live else status, STATUS_STYLE.get(status, "")))]
    if p.step is not None:
        parts = [(f"step {p.step}" + (f"/{p.target_step}" if p.target_step else ""), "")]
        if p.target_step:
            span = max(1, p.target_step - (p.start_step or 0))
            done = max(0.0, min(1.0, (p.step - (p.start_step or 0)) / span))
            parts.append((f" {done:.0%}", "dim"))
        fields.append(_field(*parts))
    if p.loss is not None:
        fields.append(_field(("loss ", "dim"), (fmt_num(p.loss, ".4f"), "")))
    if p.val_loss is not None:
        fields.append(_field(("val ", "dim"), (fmt_num(p.val_loss, ".4f"), "")))
    if p.reward is not None:
        fields.append(_field(("reward ", "dim"), (fmt_num(p.reward, ".3f"), "")))
    if p.tok_s:
        fields.append(_field((fmt_rate(p.tok_s), ""), (" tok/s", "dim")))
    if p.status in ("running", "stopping"):
        fields.append(_field(("ETA ", "dim"), (fmt_duration(p.eta()), "")))
    elapsed = p.elapsed(now)
    if elapsed is not None:
        fields.append(_field((fmt_duration(elapsed), ""), (" elapsed", "dim")))
    return fields


def progress_text(p: RunProgress, now: float | None = None, width: int | None = None) -> Text:
    """The figures on one line (wrapped between fields, never inside one, to `width`), then
    the reason of a failure or a hint on the next."""
    if p.status == "starting":  # the figures of the previous run would mislead
        text = Text("● starting", style=STATUS_STYLE["starting"])
        if p.hint:
            text.append(SEP + p.hint, style="dim")
        return text
    if p.run_id is None:
        return Text(p.hint or "no runs yet", style="dim")
    lines: list[Text] = []
    line = Text()
    for field_text in progress_fields(p, now):
        if line and width is not None and len(line) + len(SEP) + len(field_text) > width:
            lines.append(line)
            line = Text()
        if line:
            line.append(SEP)
        line.append_text(field_text)
    lines.append(line)
    if p.status in ("failed", "gone") and p.reason:
        lines.append(Text(p.reason, style="red"))
    elif p.hint:
        lines.append(Text(p.hint, style="dim"))
    return Text("\n").join(lines)


class TrainProgress(Static):
    """The progress line above the chart (updated by the Training screen)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.progress = RunProgress()

    def show(self, progress: RunProgress | None = None) -> None:
        if progress is not None:
            self.progress = progress
        width = self.content_size.width or None
        self.update(progress_text(self.progress, width=width))

    def on_resize(self) -> None:
        self.show()

    @property
    def plain(self) -> str:
        return progress_text(self.progress).plain
