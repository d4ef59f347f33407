"""`slavik-tui generate … --stats`: counts and speed on stderr, the text alone on stdout."""

from __future__ import annotations

import re

from conftest import TINY
from corpus import make_text

from slavik_tui.cli import main


def test_generate_stats_go_to_stderr(models_dir, tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text(make_text(20_000), encoding="utf-8")
    assert main(["new", "tiny", "--data", str(text), *TINY]) == 0
    assert main(["train", "tiny", "--iters", "2", "--batch-size", "2", "--dtype", "fp32"]) == 0
    capsys.readouterr()
    assert main(["generate", "tiny", "Жили", "--max-tokens", "12", "--seed", "1",
                 "--stats"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Жили") and "tok/s" not in out
    found = re.fullmatch(r"prompt (\d+) tokens, (\d+) new tokens, first token after (\d+) ms, "
                         r"([\d,.]+) tok/s( \(int8 weights\))?\n", err)
    assert found, err
    assert int(found.group(1)) >= 1 and 1 <= int(found.group(2)) <= 12
    assert float(found.group(4).replace(",", "")) > 0
    assert found.group(5)  # a float32 model on the CPU decodes with int8 weights by default
    assert main(["generate", "tiny", "Жили", "--max-tokens", "3", "--seed", "1", "--stats",
                 "--quantize", "none"]) == 0
    assert "int8" not in capsys.readouterr().err
    assert main(["generate", "tiny", "Жили", "--max-tokens", "4", "--seed", "1"]) == 0
    assert capsys.readouterr().err == ""  # without --stats, nothing on stderr
