"""A run's report as Markdown (issue 13 item 10): what was trained, on what, how far it got.

`gather(model_dir, run_id)` reads one run from the history (the latest without `run_id`):
its summary, settings, the hardware its settings recorded, tokens seen, wall time, final and
best val loss, bits/byte and reward. `markdown(report, samples, chart_name)` writes it up, the
chart linked as an SVG beside the file. `write_report` does both and writes the files where
`spec.folder.check_output` allows (never in the models folder, never over a link or a device,
over a file only with `force`).

Imports neither torch nor the charts (the layers contract: `runs` sits beside `charts`, above
the engine but without torch), so the two parts that need them come in as callables: `chart`
(`charts.svg.run_chart_svg`) and `sampler` (`engine.samples.report_samples`; the history keeps
no eval samples, so the report samples the model's current weights and says so). The CLI
(`slavik-tui report`) and the History screen pass the same two; from a screen, in a thread
worker (sampling loads torch and the weights, about a second), into the model's charts/::

    md, svg = write_model_report(model_dir, run_id, chart=charts.svg.run_chart_svg,
                                 sampler=engine.samples.report_samples)

or anywhere outside the models folder: `write_report(model_dir, out, models_root, run_id,
chart=…, sampler=…)` with `out = free_report_path(folder, model, run_id)`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import quote

from slavik_tui.atomic import atomic_write_text
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import HISTORY, ModelFolder, check_output
from slavik_tui.store.history import History, RunInfo
from slavik_tui.store.history.schema import np

HARDWARE_KEYS = (
    ("device", "device"), ("dtype", "dtype"), ("threads", "threads"),
    ("processes", "world_size"), ("CPU", "cpu"), ("CPU flags", "cpu_flags"),
    ("GPU", "gpu"), ("torch", "torch"),
)
"""(row name, config key) of the hardware table; a key the run did not record says so."""
NOT_RECORDED = "not recorded"


class SampleSet(Protocol):
    """What `engine.samples.report_samples` returns."""

    texts: list[tuple[str, str]]
    step: int
    how: str


@dataclass
class RunReport:
    """One run's facts, as the report states them (None: the history has no such value)."""

    model: str
    run: RunInfo
    tokens_per_step: int | None
    tokens_seen: int | None
    wall_s: float | None
    final: dict[str, float | None] = field(default_factory=dict)
    """Last value of each eval metric (val_loss, val_bpb, reward, size_mb)."""
    best: dict[str, tuple[float, int] | None] = field(default_factory=dict)
    """(value, step) of the lowest val_loss / val_bpb and the highest reward."""
    steps: dict[str, Any] = field(default_factory=dict, repr=False)
    evals: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        return f"{self.model} · run {self.run.id}"


def latest_run_id(history: History, model: str) -> int:
    runs = history.runs()
    if not runs:
        raise UserError(f"'{model}' has no runs yet; train it first with "
                        f"`slavik-tui train {model}`")
    return max(r.id for r in runs)


def _final_and_best(evals: dict[str, Any]) -> tuple[dict, dict]:
    final: dict[str, float | None] = {}
    best: dict[str, tuple[float, int] | None] = {}
    for name in ("val_loss", "val_bpb", "reward", "size_mb"):
        values = evals[name]
        ok = np.flatnonzero(~np.isnan(values))
        final[name] = float(values[ok[-1]]) if ok.size else None
        if name == "size_mb":
            continue
        if not ok.size:
            best[name] = None
            continue
        i = ok[np.argmax(values[ok])] if name == "reward" else ok[np.argmin(values[ok])]
        best[name] = (float(values[i]), int(evals["step"][i]))
    return final, best


def gather(model_dir: str | os.PathLike, run_id: int | None = None) -> RunReport:
    """The report of run `run_id` of the model in `model_dir` (its latest run when None).
    UserError for a model without runs or an unknown run."""
    model_dir = Path(model_dir)
    with History(model_dir / HISTORY, readonly=True) as history:
        if run_id is None:
            run_id = latest_run_id(history, model_dir.name)
        run = history.run(run_id)
        steps = history.steps_arrays(run.id, include_superseded=True)
        evals = history.evals_arrays(run.id, include_superseded=True)
    cfg = run.config or {}
    per_step = None
    try:
        per_step = int(cfg["batch_size"]) * int(cfg["grad_accum"]) * int(cfg["model"]["context"])
    except (KeyError, TypeError, ValueError):
        pass
    done = (run.last_step - (run.start_step or 0)) if run.last_step is not None else 0
    end = run.ended_at if run.ended_at is not None else (
        float(steps["t"][-1]) if len(steps["t"]) else None)
    wall = end - run.started_at if end is not None else None
    final, best = _final_and_best(evals)
    return RunReport(model_dir.name, run, per_step, per_step * done if per_step else None,
                     wall, final, best, steps, evals)


# -- Markdown ------------------------------------------------------------------------------


def cell(value: object) -> str:
    """`value` as one Markdown table cell: no line breaks, `|` escaped."""
    text = str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text.strip() or " "


def table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def fenced(text: str) -> list[str]:
    """`text` in a code block whose fence no run of backticks inside can close; control
    characters (a young model writes them) shown as escapes such as \\x1b."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    ticks, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        ticks = max(ticks, run)
    fence = "`" * max(3, ticks + 1)
    return [fence + "text", text, fence]


def num(value: float | None, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def duration(seconds: float | None) -> str:
    """'1h 02m 03s', '4m 05s', '12.3 s'."""
    if seconds is None:
        return NOT_RECORDED
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return (f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s")


def _when(ts: float | None) -> str:
    if ts is None:
        return "still running"
    return _dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _flat(config: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, bool)) \
                or value is None else str(value)
            rows.append((f"{prefix}{key}", text))
    return rows


def take_samples(sampler: Callable[[Path], SampleSet] | None,
                 model_dir: str | os.PathLike) -> SampleSet | str | None:
    """`sampler(model_dir)`, or why it could not sample (a model without weights…): a report
    is still worth having without its samples."""
    if sampler is None:
        return None
    try:
        return sampler(Path(model_dir))
    except UserError as exc:
        return str(exc)


def markdown(report: RunReport, samples: SampleSet | str | None = None,
             chart_name: str | None = None) -> str:
    """The report as Markdown. `samples`: what `take_samples` gave (a str: why there are
    none). `chart_name`: the SVG's file name beside the report (linked); None leaves the
    chart out and says how to get it."""
    run, final, best = report.run, report.final, report.best
    cfg = run.config or {}
    last = run.last_step if run.last_step is not None else run.start_step
    out = [f"# Run report: {report.title}", ""]
    out += table(("", ""), [
        ("model", report.model),
        ("run", f"{run.id} ({run.kind}, {run.status})"),
        ("why it ended", run.reason or ("finished its steps" if run.status == "finished"
                                        else "—")),
        ("started", _when(run.started_at)),
        ("ended", _when(run.ended_at)),
        ("steps", f"{run.start_step or 0} → {last} (target {run.target_step})"),
        ("wall time", duration(report.wall_s)),
        ("tokens seen", NOT_RECORDED if report.tokens_seen is None else
         f"{report.tokens_seen:,} ({report.tokens_per_step:,} per step)"),
        ("tokens/s (median)", num(run.tok_s, ",.0f")),
        ("parameters", f"{cfg['params']:,}" if isinstance(cfg.get("params"), int)
         else NOT_RECORDED),
    ])
    out += ["", "## Results", ""]

    def best_of(name: str, spec: str = ".4f") -> str:
        b = best.get(name)
        return "—" if b is None else f"{num(b[0], spec)} (step {b[1]})"

    out += table(("metric", "final", "best"), [
        ("train loss", num(run.final_loss), "—"),
        ("val loss (nats/token)", num(final.get("val_loss")), best_of("val_loss")),
        ("val bits/byte", num(final.get("val_bpb")), best_of("val_bpb")),
        ("reward", num(final.get("reward")), best_of("reward")),
        ("checkpoint size (MB)", num(final.get("size_mb"), ".2f"), "—"),
    ])
    if cfg.get("reward"):
        out += ["", f"Reward spec: `{cell(cfg['reward'])}`."]
    out += ["", "## Chart", ""]
    if chart_name:
        out.append(f"![loss, reward and size of {cell(report.title)}]({quote(chart_name)})")
    else:
        out.append("Not written: `slavik-tui report NAME --out FILE.md` writes the chart "
                   "beside the report as FILE.svg.")
    out += ["", "## Samples", ""]
    if isinstance(samples, str):
        out.append(f"No samples: the history keeps none, and the model could not write any "
                   f"now ({samples}).")
    elif samples is None or not samples.texts:
        out.append("No samples: the history keeps none, and none were generated.")
    else:
        out.append(f"The history keeps no eval samples: generated for this report by the "
                   f"model's current weights (checkpoint step {samples.step}): {samples.how}.")
        for i, (prompt, text) in enumerate(samples.texts, 1):
            out += ["", f"**Sample {i}.** Prompt:", *fenced(prompt or "(none: a new document)"),
                    "Continuation:", *fenced(text)]
    out += ["", "## Hardware", ""]
    out += table(("", ""), [(name, cfg.get(key, NOT_RECORDED)) for name, key in HARDWARE_KEYS])
    out += ["", "## Settings", ""]
    out += table(("setting", "value"), _flat(cfg)) if cfg else ["None recorded."]
    return "\n".join(out) + "\n"


# -- files ---------------------------------------------------------------------------------


def report_name(model: str, run_id: int) -> str:
    """A file name for a run's report: 'tiny-run-3.md'."""
    return f"{model}-run-{int(run_id)}.md"


def free_report_path(folder: str | os.PathLike, model: str, run_id: int) -> Path:
    """`folder`/tiny-run-3.md, or tiny-run-3-2.md, -3.md, … : the first whose .md and .svg
    are both free (what the History screen writes without asking)."""
    stem = Path(report_name(model, run_id)).stem
    n, name = 1, stem
    while any(os.path.lexists(Path(folder) / f"{name}{ext}") for ext in (".md", ".svg")):
        n += 1
        name = f"{stem}-{n}"
    return Path(folder) / f"{name}.md"


def write_report(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    models_root: str | os.PathLike,
    run_id: int | None = None,
    force: bool = False,
    chart: Callable[[dict, dict, str], str] | None = None,
    sampler: Callable[[Path], SampleSet] | None = None,
) -> tuple[Path, Path | None]:
    """Write the report of a run to `out` (Markdown) and its chart beside it (`out` with the
    suffix .svg) when `chart` is given; returns (markdown path, svg path or None).

    Both targets are checked before anything is made (UserError: inside `models_root`, a link
    or device, an existing file without `force`). `sampler(model_dir)` makes the samples;
    `chart(steps, evals, title)` the SVG (see the module docstring)."""
    out = check_output(out, models_root, force, example="report.md")
    svg = out.with_suffix(".svg") if chart is not None else None
    if svg is not None and svg == out:
        raise UserError(f"{out} is the chart's own name; give the report a .md name")
    if svg is not None:
        check_output(svg, models_root, force, example="report.svg")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist; create it "
                        "or pick another path")
    return _write(gather(model_dir, run_id), Path(model_dir), out, svg, chart, sampler)


def write_model_report(
    model_dir: str | os.PathLike,
    run_id: int | None = None,
    chart: Callable[[dict, dict, str], str] | None = None,
    sampler: Callable[[Path], SampleSet] | None = None,
) -> tuple[Path, Path | None]:
    """The History screen's report: charts/run-<id>-report.md (+ .svg) in the model's own
    folder, beside the run's autosaved chart and CSV; written again, they are replaced. A
    charts/ that is a link is refused (`ModelFolder.inner_dir`)."""
    model_dir = Path(model_dir)
    report = gather(model_dir, run_id)
    folder = ModelFolder(model_dir).inner_dir(model_dir / "charts")
    out = folder / f"run-{report.run.id}-report.md"
    svg = out.with_suffix(".svg") if chart is not None else None
    return _write(report, model_dir, out, svg, chart, sampler)


def _write(report: RunReport, model_dir: Path, out: Path, svg: Path | None,
           chart: Callable[[dict, dict, str], str] | None,
           sampler: Callable[[Path], SampleSet] | None) -> tuple[Path, Path | None]:
    samples = take_samples(sampler, model_dir)
    if svg is not None and chart is not None:
        atomic_write_text(svg, chart(report.steps, report.evals, report.title))
    atomic_write_text(out, markdown(report, samples, svg.name if svg is not None else None))
    return out, svg
