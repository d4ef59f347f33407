"""`slavik-tui report`: a run's Markdown report with the history's own numbers, three seeded
samples, and with --out its chart beside it as SVG; the output rules of `runs --csv`/`export`
(never in the models folder, never over a link or a device, over a file only with --force);
a bad run or model is one line, exit 2."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from corpus import make_text

from slavik_tui.cli import main
from slavik_tui.errors import UserError
from slavik_tui.runs.report import (
    cell, fenced, free_report_path, gather, markdown, write_model_report, write_report,
)
from slavik_tui.store.history import History

TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]
NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A models folder with 'tiny' trained twice (run 1: steps 0→6, run 2: 6→9) and 'empty'
    (never trained)."""
    root = tmp_path_factory.mktemp("report") / "models"
    text = root.parent / "corpus.txt"
    text.write_text(make_text(30_000), encoding="utf-8")
    for name in ("tiny", "empty"):
        assert main(["--models-dir", str(root), "new", name, "--data", str(text), *TINY]) == 0
    train = ["--models-dir", str(root), "train", "tiny", "--batch-size", "2", "--eval-every",
             "3", "--save-every", "3", "--dtype", "fp32"]
    assert main([*train, "--iters", "6"]) == 0
    assert main([*train, "--iters", "3"]) == 0  # 3 more
    return root


def report(capsys, root: Path, *argv) -> tuple[int, str, str]:
    code = main(["--models-dir", str(root), "report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, root: Path, *argv) -> str:
    code, out, err = report(capsys, root, *argv)
    assert code == 2 and not out, err
    (line,) = err.strip().splitlines()
    assert line.startswith("slavik-tui: error: ") and "Traceback" not in err
    return line


def row(md: str, name: str) -> list[str]:
    """The cells after the first of the table row named `name`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name!r} in\n{md}")


def test_report_has_every_section_with_the_historys_numbers(capsys, root):
    code, md, err = report(capsys, root, "tiny")
    assert code == 0 and "sampling" in err
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections == ["Results", "Chart", "Samples", "Hardware", "Settings"]
    assert md.startswith("# Run report: tiny · run 2\n")  # the latest run by default
    with History(root / "tiny" / "history.sqlite", readonly=True) as history:
        run = history.run(2)
        evals = history.evals_arrays(2, include_superseded=True)
    assert row(md, "run") == ["2 (pretrain, finished)"]
    assert row(md, "steps") == ["6 → 9 (target 9)"]
    per_step = run.config["batch_size"] * run.config["grad_accum"] * 32
    assert row(md, "tokens seen") == [f"{3 * per_step:,} ({per_step:,} per step)"]
    wall = row(md, "wall time")[0]
    assert wall.endswith(" s") and float(wall[:-2]) == pytest.approx(
        run.ended_at - run.started_at, abs=0.06)
    assert row(md, "train loss") == [f"{run.final_loss:.4f}", "—"]
    best = int(evals["val_loss"].argmin())
    assert row(md, "val loss (nats/token)") == [
        f"{run.final_val_loss:.4f}", f"{run.best_val_loss:.4f} (step {evals['step'][best]})"]
    bpb = evals["val_bpb"]
    assert row(md, "val bits/byte")[0] == f"{bpb[-1]:.4f}"
    assert row(md, "val bits/byte")[1].startswith(f"{bpb.min():.4f} (step ")
    assert row(md, "reward")[1].startswith(f"{run.best_reward:.4f} (step ")
    assert row(md, "checkpoint size (MB)")[0] == f"{evals['size_mb'][-1]:.2f}"
    assert row(md, "device") == ["cpu"] and row(md, "threads") == [str(run.config["threads"])]
    import torch
    from slavik_tui.engine.device import hardware

    hw = hardware(torch.device("cpu"))  # the trainer records the machine it ran on
    assert row(md, "torch") == [torch.__version__] and row(md, "CPU") == [hw["cpu"]]
    assert row(md, "CPU flags") == [hw["cpu_flags"]] and row(md, "GPU") == ["not recorded"]
    assert row(md, "batch_size") == ["2"] and row(md, "model.d_model") == ["32"]
    # three seeded samples of the current weights, said to be so; the same on a second call
    assert md.count("**Sample ") == 3
    assert "generated for this report by the model's current weights (checkpoint step 9)" in md
    assert "seed 0" in md
    assert report(capsys, root, "tiny")[1] == md
    # no --out: no chart file, and the report says how to get one
    assert "--out FILE.md" in md and "![" not in md


def test_run_picks_an_older_run(capsys, root):
    code, md, _ = report(capsys, root, "tiny", "--run", "1")
    assert code == 0 and md.startswith("# Run report: tiny · run 1\n")
    assert row(md, "steps") == ["0 → 6 (target 6)"]
    with History(root / "tiny" / "history.sqlite", readonly=True) as history:
        assert row(md, "train loss")[0] == f"{history.run(1).final_loss:.4f}"


def test_out_writes_the_markdown_and_its_chart_beside_it(capsys, root, tmp_path):
    out = tmp_path / "my report.md"
    code, stdout, _ = report(capsys, root, "tiny", "--out", out)
    assert code == 0 and str(out) in stdout
    svg = tmp_path / "my report.svg"
    md = out.read_text(encoding="utf-8")
    assert "![loss, reward and size of tiny · run 2](my%20report.svg)" in md
    tree = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert [t.text for t in tree.iter(f"{NS}text") if t.get("class") == "title"] == [
        "tiny · run 2"]
    series = {g.get("data-key"): g for g in tree.iter(f"{NS}g") if g.get("class") == "series"}
    assert set(series) == {"loss", "val_loss", "reward", "size_mb"}
    points = series["loss"].find(f"{NS}polyline").get("points").split()
    assert len(points) == 3  # steps 7, 8, 9 of run 2


def test_existing_files_need_force_and_links_are_never_replaced(capsys, root, tmp_path):
    out = tmp_path / "r.md"
    assert report(capsys, root, "tiny", "--out", out)[0] == 0
    before = out.read_text(encoding="utf-8")
    line = one_line_error(capsys, root, "tiny", "--out", out)
    assert "already exists; add --force" in line
    (tmp_path / "r.svg").unlink()  # the report alone is there: still refused
    assert "already exists" in one_line_error(capsys, root, "tiny", "--out", out, "--run", "1")
    assert out.read_text(encoding="utf-8") == before and not (tmp_path / "r.svg").exists()
    assert report(capsys, root, "tiny", "--out", out, "--run", "1", "--force")[0] == 0
    assert "run 1" in out.read_text(encoding="utf-8") and (tmp_path / "r.svg").is_file()
    # a link where the chart goes: refused even with --force, nothing written
    (tmp_path / "r.svg").unlink()
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep", encoding="utf-8")
    os.symlink(target, tmp_path / "r.svg")
    line = one_line_error(capsys, root, "tiny", "--out", out, "--force")
    assert "symbolic link" in line and target.read_text(encoding="utf-8") == "keep"
    assert "run 1" in out.read_text(encoding="utf-8")


def test_targets_inside_the_models_folder_or_devices_are_refused(capsys, root):
    line = one_line_error(capsys, root, "tiny", "--out", root / "tiny" / "report.md")
    assert "inside the models folder" in line
    assert not (root / "tiny" / "report.md").exists()
    assert "device" in one_line_error(capsys, root, "tiny", "--out", "/dev/null")


def test_bad_runs_and_models_are_one_line(capsys, root):
    assert "no run 7 in model 'tiny'" in one_line_error(capsys, root, "tiny", "--run", "7")
    assert "whole number" in one_line_error(capsys, root, "tiny", "--run", "x")
    assert "unknown model 'nope'" in one_line_error(capsys, root, "nope")
    line = one_line_error(capsys, root, "empty")
    assert "no runs yet" in line and "`slavik-tui train empty`" in line


def test_markdown_keeps_odd_text_in_its_place(root, tmp_path):
    """A sample with backticks stays inside its code block; a setting with | in one cell;
    without a sampler or a chart the report says so (no torch needed for this)."""
    assert cell("a|b\nc") == "a\\|b c"
    block = fenced("x ``` y ```` z\x1b\x00\tok")
    assert block == ["`````text", "x ``` y ```` z\\x1b\\x00\tok", "`````"]

    class Fake:
        texts = [("say `hi`", "```\nrm -rf\n```")]
        step = 9
        how = "fake"

    rep = gather(root / "tiny", 2)
    rep.run.config = {**rep.run.config, "note": "a | b"}
    md = markdown(rep, Fake())
    assert row(md, "note") == ["a \\| b"]
    assert "````text\n```\nrm -rf\n```\n````" in md
    md_path, svg = write_report(root / "tiny", tmp_path / "plain.md", root, 1)
    assert svg is None and not (tmp_path / "plain.svg").exists()
    assert "No samples" in md_path.read_text(encoding="utf-8")


def test_a_model_that_cannot_sample_still_gets_its_report(capsys, root, tmp_path):
    """Weights gone (a damaged folder): the report is written and says why it has no samples."""
    broken = tmp_path / "models"
    shutil.copytree(root / "tiny", broken / "tiny")
    (broken / "tiny" / "model.safetensors").unlink()
    code, md, err = report(capsys, broken, "tiny")
    assert code == 0, err
    assert "No samples: the history keeps none, and the model could not write any now (" in md
    assert row(md, "train loss")[0] != "—"


def test_free_report_path_never_names_an_existing_file(tmp_path):
    assert free_report_path(tmp_path, "tiny", 3) == tmp_path / "tiny-run-3.md"
    (tmp_path / "tiny-run-3.svg").write_text("x")
    assert free_report_path(tmp_path, "tiny", 3) == tmp_path / "tiny-run-3-2.md"
    os.symlink(tmp_path / "missing", tmp_path / "tiny-run-3-2.md")  # a dangling link counts
    assert free_report_path(tmp_path, "tiny", 3) == tmp_path / "tiny-run-3-3.md"


def test_the_report_module_loads_no_torch_and_draws_nothing():
    """runs.report sits beside charts, above the engine: the layers contract forbids torch, rich
    and plotext there; at run time importing it loads none of them either."""
    probe = ("import sys, slavik_tui.runs.report\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                text=True).stdout.split())
    assert "slavik_tui" in loaded
    assert not loaded & {"torch", "tokenizers", "safetensors", "rich", "plotext", "textual"}


def test_the_history_screens_report_goes_to_the_models_charts_folder(root, tmp_path):
    from slavik_tui.charts.svg import run_chart_svg

    model = tmp_path / "models" / "tiny"
    shutil.copytree(root / "tiny", model)

    class Fake:
        texts, step, how = [("a", "b")], 9, "fake"

    md, svg = write_model_report(model, 1, chart=run_chart_svg, sampler=lambda _d: Fake())
    assert md == model / "charts" / "run-1-report.md" and svg == md.with_suffix(".svg")
    assert "](run-1-report.svg)" in md.read_text(encoding="utf-8")
    assert ET.fromstring(svg.read_text(encoding="utf-8")).tag == f"{NS}svg"
    md2, _ = write_model_report(model, None, chart=run_chart_svg)  # the latest; replaced
    assert md2.name == "run-2-report.md"
    shutil.rmtree(model / "charts")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, model / "charts")
    with pytest.raises(UserError, match="symbolic link"):
        write_model_report(model, 1, chart=run_chart_svg)
    assert list(outside.iterdir()) == []
