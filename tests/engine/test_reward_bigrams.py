"""The `bigrams` reward (engine/reward/word_pairs.py): known values, the prompt's last word,
calibration against held-out text, and one-line errors."""

from __future__ import annotations

import random

import pytest

from corpus import make_text

from slavik_tui.cli import main
from slavik_tui.engine.reward import BUILTIN, RewardSpec, WordPairs, corpus_context
from slavik_tui.errors import UserError


TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]


@pytest.fixture
def model_dir(models_dir, corpus_file):
    assert main(["new", "tiny", "--data", str(corpus_file), *TINY]) == 0
    assert main(["train", "tiny", "--iters", "2", "--batch-size", "2", "--dtype", "fp32"]) == 0
    return models_dir / "tiny"

TRAIN = "Кошка видит дом. Собака видит лес. Кошка любит дом."
HELD = "Кошка видит лес. Птица видит море."  # pairs: кошка-видит ✓, видит-лес ✓, лес-птица ✗,
# птица-видит ✗, видит-море ✗ → 2 of 5 held-out pairs are in the training text


def test_the_reference_share_is_the_held_out_texts():
    wp = WordPairs.fit([TRAIN], [HELD])
    assert wp.reference_share == pytest.approx(2 / 5)
    # кошка-видит видит-дом дом-собака собака-видит видит-лес лес-кошка кошка-любит любит-дом
    assert len(wp.keys) == 8
    assert repr(wp) == "WordPairs(8 pairs, reference_share=0.400)"


def test_known_scores():
    wp = WordPairs.fit([TRAIN], [HELD])  # reference share 0.4
    # "собака видит дом": собака-видит ✓, видит-дом ✓ → share 1 → min(1, 1 / 0.4) = 1
    # "дом видит собака": дом-видит ✗, видит-собака ✗ → 0
    # "кошка видит море": ✓ ✗ → 0.5 / 0.4 → clipped to 1; "птица море кошка видит": ✗ ✗ ✓ →
    # (1/3) / 0.4 = 0.8333
    got = wp.scores(["собака видит дом", "дом видит собака", "кошка видит море",
                     "птица море кошка видит", "", "Кошка"])
    assert got[:4] == pytest.approx([1.0, 0.0, 1.0, (1 / 3) / 0.4])
    assert got[4:] == [0.0, 0.0]  # no pair of words: nothing to judge, scores 0


def test_the_prompts_last_word_pairs_with_the_completions_first():
    wp = WordPairs.fit([TRAIN], [HELD])
    # after "Собака" the completion " видит" makes the pair собака-видит (seen)
    assert wp.scores([" видит"], ["Собака"]) == [1.0]
    assert wp.scores([" видит"], ["Птица"]) == [0.0]
    # a word cut between prompt and completion is one word: "Соба" + "ка видит" = собака видит
    assert wp.share("ка видит", "Соба") == 1.0
    # pairs wholly inside the prompt are not the completion's
    assert wp.share(" лес", "дом видит собака видит") == 1.0


def test_word_order_is_what_it_sees():
    wp = WordPairs.from_text(make_text(30_000, seed=0))
    ordered = make_text(3_000, seed=5)  # the same grammar, text it never saw
    words = ordered.split()
    shuffled = " ".join(random.Random(0).sample(words, len(words)))
    real, mixed = wp.scores([ordered, shuffled])
    assert real == 1.0 and mixed < 0.5, (real, mixed)


def test_too_little_text_is_a_value_error_and_the_function_asks_for_its_context():
    with pytest.raises(ValueError, match="no pair of words in the training text"):
        WordPairs.fit(["один"], [HELD])
    with pytest.raises(ValueError, match="held-out"):
        WordPairs.fit([TRAIN], ["—"])
    with pytest.raises(ValueError, match="no held-out word pair occurs"):
        WordPairs.fit([TRAIN], ["Зелёный слон летит"])
    with pytest.raises(UserError, match="corpus_pairs=..."):
        BUILTIN["bigrams"](["a b"], [""])
    spec = RewardSpec.parse("bigrams")
    wp = WordPairs.fit([TRAIN], [HELD])
    assert spec.score(["собака видит дом"], [""], ["x"], corpus_pairs=wp).total == [1.0]


def test_corpus_context_builds_the_pairs_of_a_models_data(model_dir):
    ctx = corpus_context(model_dir, spec=RewardSpec.parse("bigrams,ngram"))
    assert set(ctx) == {"corpus_pairs", "corpus_ngram"}
    assert 0 < ctx["corpus_pairs"].reference_share <= 1
    assert "corpus_pairs" not in corpus_context(model_dir, spec=RewardSpec.parse("ngram"))


def test_the_cli_lab_reports_bigrams(model_dir, capsys):
    import json

    capsys.readouterr()
    assert main(["reward", model_dir.name, "--reward", "bigrams", "--samples", "4",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["functions"]) == {"bigrams"}
    assert result["scores"]["real"] > result["scores"]["random"]
