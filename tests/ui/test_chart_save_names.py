"""The names of saved charts: the title's words, cut where a part or a word ends (the name
was the title cut at 60 characters, mid-word: "…-each-run-s"), then the time; never one
that exists."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from slavik_tui.ui.chart.save import STEM_MAX, file_stem, free_stem
from slavik_tui.ui.chart.widget import MetricsChart

COMPARE = "compare alpha/2 vs beta/1 vs gamma/3 · x: steps since each run's start"
STAMP = re.compile(r"-\d{8}-\d{6}(-\d+)?$")


def test_a_long_title_keeps_whole_parts_and_words():
    assert file_stem("tiny · run 3 · finished · steps 0→200 · 2025-03-01 12:00") == \
        "tiny-run-3-finished-steps-0-200-2025-03-01-12-00"
    stem = file_stem(COMPARE)
    assert stem == "compare-alpha-2-vs-beta-1-vs-gamma-3"  # the axis part did not fit
    fits = file_stem("compare alpha/2 vs beta/1 · x: steps since each run's start")
    assert fits == "compare-alpha-2-vs-beta-1-x-steps-since-each-runs-start"
    long = "compare " + " vs ".join(f"model-number-{i}/1" for i in range(6))
    # whole run labels, no dangling "vs" (the 60th character fell inside model-number-2/1)
    assert file_stem(long) == "compare-model-number-0-1-vs-model-number-1-1"
    assert file_stem("x" * 80) == "x" * STEM_MAX
    assert file_stem("a-b-" + "c" * 70) == "a-b"  # cut where the word has a "-"
    assert file_stem("славик · run 2") == "славик-run-2"
    assert file_stem(" · ·· ") == "chart"


def test_free_stem_never_names_a_file_that_exists(tmp_path: Path):
    when = datetime(2026, 12, 3, 11, 0, 5)
    first = free_stem(tmp_path, "run/7", when)
    assert first == "run-7-20261203-110005"
    (tmp_path / f"{first}.csv").write_text("")
    second = free_stem(tmp_path, "run/7", when)
    assert second == f"{first}-2"
    (tmp_path / f"{second}.svg").write_text("")
    assert free_stem(tmp_path, "run/7", when) == f"{first}-3"


def test_saving_a_comparison_names_its_files_by_whole_words(tmp_path: Path):
    chart = MetricsChart.for_run(title=COMPARE)
    chart.append("loss", [1, 2, 3], [0.0, 1.0, 2.0], [3.0, 2.5, 2.0])
    paths = [chart.save(tmp_path), chart.save(tmp_path)]
    stems = [svg.stem for svg, _ in paths]
    assert len(set(stems)) == 2  # two saves in one second: two names
    for (svg, csv_path), stem in zip(paths, stems):
        assert svg.exists() and csv_path.stem == stem
        title_part = STAMP.sub("", stem)
        assert title_part == "compare-alpha-2-vs-beta-1-vs-gamma-3", stem
