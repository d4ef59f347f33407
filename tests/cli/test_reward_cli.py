"""`slavik-tui reward NAME`: the reward lab's table and JSON on a tiny trained model, and its
bad inputs in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import make_text
from slavik_tui.cli import main
from slavik_tui.engine.reward import DEFAULT_SPEC
from slavik_tui.engine.reward_lab import KINDS, run_lab

KEYS = list(KINDS)  # real, model, shuffled, repeated, random

# `new` flags of a tiny model (tests/conftest.py's TINY; a conftest import is ambiguous when
# another tests/ folder has its own conftest)
TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A models folder with 'tiny' (trained 60 steps) and 'fresh' (never trained)."""
    root = tmp_path_factory.mktemp("reward_cli")
    corpus = root / "corpus.txt"
    corpus.write_text(make_text(30_000), encoding="utf-8")
    models = root / "models"
    models.mkdir()
    for name in ("tiny", "fresh"):
        assert main(["--models-dir", str(models), "new", name, "--data", str(corpus),
                     *TINY]) == 0
    assert main(["--models-dir", str(models), "train", "tiny", "--iters", "60", "--lr", "3e-3",
                 "--batch-size", "8", "--eval-every", "60", "--dtype", "fp32"]) == 0
    return models


def lab(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--models-dir", str(root), "reward", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_exactly_the_lab_result(capsys, root) -> None:
    code, out, err = lab(capsys, root, "tiny", "--samples", "8", "--seed", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert list(result) == ["reward", "scores", "functions"]
    assert result["reward"] == DEFAULT_SPEC
    assert list(result["scores"]) == KEYS
    assert list(result["functions"]) == ["chrf", "ngram", "bigrams", "repetition"]
    assert all(list(v) == KEYS for v in result["functions"].values())
    direct = run_lab(root / "tiny", DEFAULT_SPEC, samples=8, seed=3)
    assert result["scores"] == pytest.approx(direct["scores"], abs=1e-12)
    assert result["functions"]["chrf"] == pytest.approx(direct["functions"]["chrf"], abs=1e-12)
    # the combined score is the weighted sum of the functions' means, kind by kind
    for kind in KEYS:
        f = result["functions"]
        assert result["scores"][kind] == pytest.approx(
            f["chrf"][kind] + f["ngram"][kind] + f["bigrams"][kind]
            + 0.5 * f["repetition"][kind], abs=1e-12)
    scores = result["scores"]
    assert f["chrf"]["real"] == pytest.approx(1.0)  # chrF of a text with itself
    assert 2.4 < scores["real"] <= 3.0
    assert scores["real"] > max(scores["shuffled"], scores["repeated"], scores["random"]) + 0.3


def test_table_has_a_row_per_function_and_the_combined_one(capsys, root) -> None:
    code, out, err = lab(capsys, root, "tiny", "--samples", "4", "--reward",
                         "chrf:1,prefix:0.5,length")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "reward chrf:1,prefix:0.5,length:1 on 4 held-out prompts"
    assert lines[1].split() == KEYS
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[2:6]}
    assert list(rows) == ["reward", "chrf", "prefix", "length"]
    assert all(len(v) == 5 for v in rows.values())
    assert rows["prefix"][0] == 1.0 and rows["length"][0] == 0.0  # real: its own reference
    assert lines[-1].startswith("margin: real")


def test_the_same_seed_gives_the_same_table(capsys, root) -> None:
    first = lab(capsys, root, "tiny", "--samples", "4", "--json")
    assert first[0] == 0 and lab(capsys, root, "tiny", "--samples", "4", "--json") == first


@pytest.mark.parametrize("args, needle", [
    (["nobody"], "nobody"),
    (["tiny", "--reward", "chrff"], "unknown reward 'chrff'; did you mean 'chrf'"),
    (["tiny", "--reward", "chrf:0"], "weight '0'"),
    (["tiny", "--reward", "corpus_words"], "now called 'vocab'"),
    (["tiny", "--samples", "0"], "--samples must be a whole number of at least 1"),
    (["tiny", "--samples", "many"], "--samples"),
    (["fresh"], "no trained weights"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, root, args, needle) -> None:
    code, out, err = lab(capsys, root, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slavik-tui: error: "), err
    assert needle.lower() in lines[0].lower() and "Traceback" not in err
