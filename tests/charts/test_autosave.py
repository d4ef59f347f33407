"""Autosave: when a run ends its chart (SVG) and rows (CSV) land in models/NAME/charts/."""

from __future__ import annotations

import csv
import html
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slavik_tui.charts.autosave import autosave_run, chart_paths, main
from slavik_tui.store.history import CSV_COLUMNS, History

T0 = 1_740_000_000.0


def fabricate(model_dir: Path) -> list[int]:
    """Three runs: finished, stopped (resumed-over tail, superseded), failed with a NaN."""
    model_dir.mkdir(parents=True)
    ids = []
    with History(model_dir / "history.sqlite") as h:
        for k, (status, n) in enumerate([("finished", 60), ("stopped", 35), ("failed", 12)]):
            rid = h.start_run("pretrain", {"lr": 1e-3 * (k + 1)}, 0, n, pid=1)
            for i in range(1, n + 1):
                loss = float("nan") if status == "failed" and i == n else 5.0 - i / 30
                h.log_step(rid, i, T0 + 100 * k + i, loss, 1e-3, 0.5, 2000.0 + i)
                if i % 10 == 0:
                    h.log_eval(rid, i, T0 + 100 * k + i, 4.8 - i / 40, 1.9, i / 100, 0.1)
            h.end_run(rid, status, None if status == "finished" else status)
            ids.append(rid)
        h.supersede_after(20, ids[2])  # run 2 past step 20 is superseded by run 3
    return ids


def stored_rows(history: History, run_id: int) -> list[list[str]]:
    """The run's rows as the CSV must hold them, from the arrays (NaN -> empty)."""
    def cell(v: float) -> str:
        return "" if v != v else repr(float(v))

    s = history.steps_arrays(run_id, include_superseded=True)
    e = history.evals_arrays(run_id, include_superseded=True)
    rows = []
    for i in range(len(s["step"])):
        rows.append((int(s["step"][i]), 1, ["step", str(int(s["step"][i])), cell(s["t"][i]),
                     *(cell(s[m][i]) for m in ("loss", "lr", "grad_norm", "tok_s")),
                     "", "", "", ""]))
    for i in range(len(e["step"])):
        rows.append((int(e["step"][i]), 0, ["eval", str(int(e["step"][i])), cell(e["t"][i]),
                     "", "", "", "",
                     *(cell(e[m][i]) for m in ("val_loss", "val_bpb", "reward", "size_mb"))]))
    return [r for _step, _kind, r in sorted(rows, key=lambda r: (r[0], r[1]))]


def assert_vector_chart(text: str) -> None:
    """`text` (an SVG, unescaped) is the vector chart ctrl+s writes: lines drawn from the
    data, both axes named with their units, the legend; not rich's export of terminal cells
    (the picture the autosave wrote before: loss as dots over the axis' numbers, "ME")."""
    assert text.count("<polyline") >= 2  # loss and the size staircase at least
    assert ">step</text>" in text  # the x axis
    assert "loss (nats/token)" in text and "size (MB)" in text  # both y axes, with units
    for entry in ("loss  ", "val loss  ", "size MB  "):  # the legend, with last values
        assert f">{entry}" in text, entry
    assert "terminal-" not in text and "rich-" not in text
    assert text.count("<title>") == 1


def test_autosave_writes_the_chart_and_every_row_of_each_run(tmp_path):
    model_dir = tmp_path / "models" / "tiny"
    ids = fabricate(model_dir)
    with History(model_dir / "history.sqlite", readonly=True) as history:
        for rid in ids:
            svg, csv_path = autosave_run(model_dir, rid)
            assert (svg, csv_path) == chart_paths(model_dir, rid)
            assert svg == model_dir / "charts" / f"run-{rid}.svg"
            text = svg.read_text(encoding="utf-8")
            assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
            text = html.unescape(text).replace("\xa0", " ")
            status = history.run(rid).status
            assert f"tiny · run {rid} · {status}" in text  # the title
            assert_vector_chart(text)
            with open(csv_path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            assert rows[0] == list(CSV_COLUMNS)
            assert rows[1:] == stored_rows(history, rid)
    assert len(rows) == 1 + 12 + 1  # the failed run: 12 steps (one NaN), 1 eval


def test_command_line_never_raises(tmp_path, capsys):
    model_dir = tmp_path / "m"
    ids = fabricate(model_dir)
    assert main([str(model_dir), str(ids[0])]) == 0
    assert capsys.readouterr().out.split() == [str(p) for p in chart_paths(model_dir, ids[0])]
    for argv, says in [([str(model_dir), "99"], "no run 99"),
                       ([str(tmp_path / "nope"), "1"], "no history.sqlite"),
                       ([str(model_dir), "x"], "RUN_ID must be a number"),
                       ([], "usage")]:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("slavik-tui charts: error: ") and says in err, err
    # as the trainer runs it: a process of its own
    out = subprocess.run([sys.executable, "-m", "slavik_tui.charts", str(model_dir), "2"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (model_dir / "charts" / "run-2.svg").is_file()


def test_importing_it_loads_no_ui_library():
    probe = ("import slavik_tui.charts, sys; "
             "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True)
    assert not set(out.stdout.split()) & {"textual", "rich", "plotext", "textual_plotext",
                                          "torch"}


def test_a_stopped_detached_run_autosaves_its_chart(tmp_path, monkeypatch, corpus_file):
    """The trainer's end-of-run hook: stop a real detached run, the files appear."""
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.engine.create import create_model
    from slavik_tui.runs import start_detached, stop
    from slavik_tui.store.workspace import Workspace

    monkeypatch.delenv("SLAVIK_NO_AUTOSAVE", raising=False)
    root = tmp_path / "models"
    root.mkdir()
    create_model(Workspace(root), "tiny", [str(corpus_file)],
                 ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2),
                 report=lambda line: None)
    model_dir = root / "tiny"
    run = start_detached(root, "tiny", ["--iters", "100000", "--batch-size", "2",
                                        "--eval-every", "20", "--dtype", "fp32"])
    deadline = time.monotonic() + 60
    with History(model_dir / "history.sqlite", readonly=True) as history:
        while len(history.steps_arrays(run.run_id)["step"]) < 5:
            assert time.monotonic() < deadline, run.log_path.read_text()
            time.sleep(0.2)
    stop(model_dir)
    svg, csv_path = chart_paths(model_dir, run.run_id)
    deadline = time.monotonic() + 30
    while not (svg.exists() and csv_path.exists()):
        if time.monotonic() > deadline:
            pytest.fail(f"no {svg.name} / {csv_path.name} 30 s after the stop; "
                        f"charts/: {os.listdir(svg.parent) if svg.parent.exists() else None}")
        time.sleep(0.2)
    with History(model_dir / "history.sqlite", readonly=True) as history:
        assert history.run(run.run_id).status == "stopped"
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        # the fixed columns as stored; the eval's reward series (rewards/NAME) come after
        width = len(CSV_COLUMNS)
        assert [r[:width] for r in rows[1:] if r[0] != "metric"] == stored_rows(
            history, run.run_id)
        assert rows[0][width:] == history.metric_names(run.run_id) != []
    text = html.unescape(svg.read_text(encoding="utf-8")).replace("\xa0", " ")
    assert f"tiny · run {run.run_id} · stopped" in text
    assert_vector_chart(text)
