"""The `ngram` reward: Witten–Bell probabilities worked out by hand, the score's mapping, what it
tells apart on generated text, and the context built from a model folder."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from corpus import make_text
from slavik_tui.engine.create import create_model
from slavik_tui.engine.reward import CharNgram, RewardSpec, corpus_context, span_text
from slavik_tui.engine.reward.context import needed, sample_text
from slavik_tui.engine.reward.functions import ngram
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.workspace import Workspace


# ---- the model's probabilities ----------------------------------------------------------------
def test_witten_bell_probabilities_of_a_tiny_corpus() -> None:
    """Counted on "abab", order 2, V − 1 = 3 predictable ids (a, b, unknown): P0 = 1/3;
    unigrams a:2 b:2, T = 2: P1(a) = (2 + 2/3)/6 = 4/9, P1(unknown) = (2/3)/6 = 1/9;
    after a: C = 2, T = 1: P2(b|a) = (2 + 4/9)/3 = 22/27; at the start (PAD): P2(a) = 13/18."""
    lm = CharNgram.fit(["abab"], ["ab"], order=2)
    assert lm.cross_entropy(["ab"]) == pytest.approx(
        [-(math.log(13 / 18) + math.log(22 / 27)) / 2], rel=1e-12)
    # after "a": b as above, a = (0 + 1·4/9)/3, an unseen letter = (0 + 1·1/9)/3; they sum to 1
    nats = lm.cross_entropy(["b", "a", "z"], prompts=["a"] * 3)
    assert nats == pytest.approx([-math.log(22 / 27), -math.log(4 / 27), -math.log(1 / 27)])
    assert sum(math.exp(-h) for h in nats) == pytest.approx(1.0, abs=1e-12)
    # a history never seen ("z") backs off to the unigram unchanged
    assert lm.cross_entropy(["a"], prompts=["z"]) == pytest.approx([-math.log(4 / 9)])
    # fewer than PIECE held-out characters: the level is their cross-entropy, no spread
    assert lm.reference_nats == pytest.approx(lm.cross_entropy(["ab"])[0])
    assert lm.tolerance == 0.0


def test_probabilities_sum_to_one_after_any_history() -> None:
    text = make_text(5_000, seed=3)
    lm = CharNgram.from_text(text, order=4)
    alphabet = sorted(set(text)) + ["ж" if "ж" not in text else "Ω"]
    for history in ("", "Кош", "the c", "zzzz", text[100:104]):
        nats = lm.cross_entropy(alphabet, prompts=[history] * len(alphabet))
        assert sum(math.exp(-h) for h in nats) == pytest.approx(1.0, abs=1e-9), history


def test_the_prompt_is_the_history_of_the_first_characters() -> None:
    lm = CharNgram.from_text(make_text(20_000, seed=0))
    # "ошка" after "К" is a word of the corpus; after "Дом " it starts mid-nowhere
    good, bad = lm.cross_entropy(["ошка тихо"] * 2, prompts=["К", "Дом "])
    assert good < bad


def test_rare_characters_beyond_the_alphabet_are_unknown() -> None:
    lm = CharNgram.fit(["aaaa bbb cc d"], ["ab"], order=2, max_alphabet=3)
    assert [chr(c) for c in lm.chars] == [" ", "a", "b"]
    assert lm.cross_entropy(["c"]) == lm.cross_entropy(["d"]) == lm.cross_entropy(["漢"])


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no training text"):
        CharNgram.fit(["", ""], ["a"])
    with pytest.raises(ValueError, match="no held-out text"):
        CharNgram.fit(["abc"], [""])
    with pytest.raises(ValueError, match="order"):
        CharNgram.fit(["abc"], ["a"], order=0)
    with pytest.raises(ValueError, match="scale"):
        CharNgram.fit(["abc"], ["a"], scale=0)


# ---- the score --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm() -> CharNgram:
    return CharNgram.from_text(make_text(60_000, seed=0))


def test_score_is_exp_of_the_excess_beyond_the_tolerance_above_the_corpus_level(lm) -> None:
    texts = ["Кошка тихо видит дом.", "тихо дом. видит Кошка", "Кошка Кошка Кошка",
             "qjxz vbwq", "a"]
    got = lm.scores(texts)
    for h, s in zip(lm.cross_entropy(texts), got):
        excess = max(0.0, h - lm.reference_nats - lm.tolerance)
        assert s == pytest.approx(math.exp(-excess / lm.scale), rel=1e-12)
    assert 0 < lm.tolerance < 1 and lm.scale == 0.5
    # more predictable than the corpus's own text is not punished (GRPO at temperature 1 made
    # the evals' samples at 0.8 "too" predictable under a two-sided score); less is
    h = lm.cross_entropy(["Кошка тихо видит дом."])[0]
    above = CharNgram(lm.chars, lm.tables, h + lm.tolerance + 1.0, lm.tolerance)
    assert above.scores(["Кошка тихо видит дом."]) == [1.0]
    below = CharNgram(lm.chars, lm.tables, h - lm.tolerance - 1.0, lm.tolerance)
    assert below.scores(["Кошка тихо видит дом."]) == pytest.approx([math.exp(-2.0)])
    assert lm.scores([""]) == [0.0] and math.isnan(lm.cross_entropy([""])[0])


def test_real_text_beats_its_shuffle_and_random_characters_score_zero(lm) -> None:
    rng = random.Random(0)
    held = make_text(20_000, seed=9)  # never counted
    lines = [line for line in held.splitlines() if len(line) > 60][:40]
    shuffled = []
    for line in lines:
        words = line.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    letters = sorted(set(held) - {"\n"})
    noise = ["".join(rng.choice(letters) for _ in range(len(line))) for line in lines]
    real, mixed, random_ = (np.mean(lm.scores(t)) for t in (lines, shuffled, noise))
    assert real > 0.9
    assert real - mixed > 0.3, (real, mixed)
    assert random_ < 0.02
    pairwise = np.array(lm.scores(lines)) > np.array(lm.scores(shuffled))
    assert pairwise.mean() > 0.8


def test_building_and_scoring_are_deterministic() -> None:
    text = make_text(30_000, seed=4)
    a, b = CharNgram.from_text(text), CharNgram.from_text(text)
    assert (a.reference_nats, a.tolerance) == (b.reference_nats, b.tolerance)
    probe = [make_text(300, seed=s) for s in range(5)]
    assert a.scores(probe) == b.scores(probe)


def test_ngram_function_has_trls_signature_and_needs_its_model(lm) -> None:
    completions, prompts = ["тихо видит дом.", "zzq"], ["Кошка ", "Кошка "]
    assert ngram(completions, prompts, corpus_ngram=lm) == lm.scores(completions, prompts)
    with pytest.raises(UserError, match="corpus_ngram=") as info:
        ngram(completions, prompts, references=["a", "b"])
    assert info.value.field == "reward"
    spec = RewardSpec.parse("ngram:2")
    total = spec.score(completions, prompts, ["", ""], corpus_ngram=lm).total
    assert total == pytest.approx([2 * s for s in lm.scores(completions, prompts)])
    assert spec.check().functions["ngram"][1] == 0.0  # the empty completion of the check


# ---- the context of a model folder ------------------------------------------------------------
def test_span_text_drops_the_halves_of_characters_at_its_ends() -> None:
    tok = Tokenizer.train([make_text(5_000)], vocab_size=300)
    ids = tok.encode("дом") + [tok.eot_id] + tok.encode("сад")
    assert span_text(ids, tok) == ["дом", "сад"]
    d0, be = (next(i for i in range(tok.vocab_size) if tok.token_bytes(i) == b)
              for b in (b"\xd0", b"\xbe"))  # "о" is d0 be: a span may start or end inside it
    assert span_text([be] + tok.encode("м"), tok) == ["м"]
    assert span_text(tok.encode("д") + [d0], tok) == ["д"]
    assert span_text([tok.eot_id, tok.eot_id], tok) == []


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ngram")
    corpus = root / "corpus.txt"
    corpus.write_text(make_text(60_000, seed=2), encoding="utf-8")
    (root / "models").mkdir()
    return create_model(Workspace(root / "models"), "tiny", [str(corpus)],
                        ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1,
                                    n_heads=2), report=lambda line: None)


def test_corpus_context_builds_what_the_spec_needs(model_dir) -> None:
    assert needed(RewardSpec.parse("chrf,repetition")) == set()
    assert needed(RewardSpec.parse("ngram,vocab")) == {"corpus_ngram", "corpus_words"}
    assert corpus_context(model_dir, spec=RewardSpec.parse("chrf")) == {}
    ctx = corpus_context(model_dir, spec=RewardSpec.parse("ngram"))
    assert set(ctx) == {"corpus_ngram"}
    lm = ctx["corpus_ngram"]
    assert {"к", "о", "ш", "a", " "} <= {chr(c) for c in lm.chars}
    fresh = make_text(3_000, seed=11).splitlines()
    assert np.mean(lm.scores(fresh)) > 0.85
    both = corpus_context(model_dir)
    assert set(both) == {"corpus_words", "corpus_ngram", "corpus_pairs"}
    assert "кошка" in both["corpus_words"]


def test_sample_text_keeps_to_its_budget_with_evenly_spaced_spans() -> None:
    tok = Tokenizer.train([make_text(20_000)], vocab_size=300)
    ids = np.asarray(tok.encode(make_text(200_000, seed=5)), dtype=np.uint16)
    everything = sample_text([ids], tok, 10_000_000)
    assert "".join(everything) == tok.decode(ids.tolist()).replace("<|endoftext|>", "")
    some = sample_text([ids, ids[:5000]], tok, 40_000)
    chars = sum(len(t) for t in some)
    assert 25_000 < chars < 60_000
    assert sample_text([ids[:0]], tok, 1000) == []
